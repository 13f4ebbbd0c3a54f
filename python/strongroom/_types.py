"""Typed results: frozen dataclasses with AWS's response fields in
snake_case, ``bytes`` for binary fields, ``datetime`` (UTC) for dates and
enums for key states and specs, built from the core's JSON answers."""

from __future__ import annotations

import base64
import dataclasses
import enum
import re
import sys
import typing
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Type, TypeVar

T = TypeVar("T")


class KeyState(enum.Enum):
    CREATING = "Creating"
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"
    UNAVAILABLE = "Unavailable"
    UPDATING = "Updating"


class KeySpec(enum.Enum):
    SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_NIST_P256 = "ECC_NIST_P256"
    ECC_NIST_P384 = "ECC_NIST_P384"
    ECC_NIST_P521 = "ECC_NIST_P521"
    ECC_SECG_P256K1 = "ECC_SECG_P256K1"
    HMAC_224 = "HMAC_224"
    HMAC_256 = "HMAC_256"
    HMAC_384 = "HMAC_384"
    HMAC_512 = "HMAC_512"
    SM2 = "SM2"


class KeyUsage(enum.Enum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"


class Origin(enum.Enum):
    AWS_KMS = "AWS_KMS"
    EXTERNAL = "EXTERNAL"
    AWS_CLOUDHSM = "AWS_CLOUDHSM"
    EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"


class KeyManager(enum.Enum):
    CUSTOMER = "CUSTOMER"
    AWS = "AWS"


class Suite(enum.IntEnum):
    """Envelope message algorithm suites this package encrypts with."""

    AES_256_GCM_HKDF_SHA512_COMMIT_KEY = 0x0478
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 = 0x0578


# -------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class KeyMetadata:
    aws_account_id: str
    key_id: str
    arn: str
    creation_date: datetime
    enabled: bool
    description: str
    key_usage: KeyUsage
    key_state: KeyState
    origin: Origin
    key_manager: KeyManager
    key_spec: KeySpec
    encryption_algorithms: List[str]
    signing_algorithms: List[str]
    mac_algorithms: List[str]
    key_agreement_algorithms: List[str]
    multi_region: bool
    deletion_date: Optional[datetime] = None
    pending_deletion_window_in_days: Optional[int] = None
    current_key_material_id: Optional[str] = None
    valid_to: Optional[datetime] = None
    expiration_model: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class CreateKeyResponse:
    key_metadata: KeyMetadata


@dataclasses.dataclass(frozen=True)
class DescribeKeyResponse:
    key_metadata: KeyMetadata


@dataclasses.dataclass(frozen=True)
class KeyListEntry:
    key_id: str
    key_arn: str


@dataclasses.dataclass(frozen=True)
class ListKeysResponse:
    keys: List[KeyListEntry]
    truncated: bool
    next_marker: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class AliasListEntry:
    alias_name: str
    alias_arn: str
    target_key_id: str
    creation_date: datetime
    last_updated_date: datetime


@dataclasses.dataclass(frozen=True)
class ListAliasesResponse:
    aliases: List[AliasListEntry]
    truncated: bool
    next_marker: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class EncryptResponse:
    ciphertext_blob: bytes
    key_id: str
    encryption_algorithm: str
    key_material_id: str


@dataclasses.dataclass(frozen=True, repr=False)
class DecryptResponse:
    key_id: str
    plaintext: bytes
    encryption_algorithm: str
    key_material_id: str

    def __repr__(self) -> str:
        return f"DecryptResponse(key_id={self.key_id!r}, plaintext=<{len(self.plaintext)} bytes redacted>)"


@dataclasses.dataclass(frozen=True)
class ReEncryptResponse:
    ciphertext_blob: bytes
    key_id: str
    source_key_id: str
    source_encryption_algorithm: str
    destination_encryption_algorithm: str
    source_key_material_id: str
    destination_key_material_id: str


@dataclasses.dataclass(frozen=True, repr=False)
class GenerateDataKeyResponse:
    ciphertext_blob: bytes
    plaintext: bytes
    key_id: str
    key_material_id: str

    def __repr__(self) -> str:
        return f"GenerateDataKeyResponse(key_id={self.key_id!r}, plaintext=<redacted>)"


@dataclasses.dataclass(frozen=True)
class GenerateDataKeyWithoutPlaintextResponse:
    ciphertext_blob: bytes
    key_id: str
    key_material_id: str


@dataclasses.dataclass(frozen=True)
class ScheduleKeyDeletionResponse:
    key_id: str
    key_state: KeyState
    pending_window_in_days: int
    deletion_date: Optional[datetime] = None


@dataclasses.dataclass(frozen=True)
class KeyIdResponse:
    key_id: str


@dataclasses.dataclass(frozen=True)
class GetKeyRotationStatusResponse:
    key_id: str
    key_rotation_enabled: bool
    rotation_period_in_days: Optional[int] = None
    next_rotation_date: Optional[datetime] = None
    on_demand_rotation_start_date: Optional[datetime] = None


@dataclasses.dataclass(frozen=True)
class GetKeyPolicyResponse:
    policy: str


@dataclasses.dataclass(frozen=True)
class GrantConstraints:
    encryption_context_subset: Optional[Dict[str, str]] = None
    encryption_context_equals: Optional[Dict[str, str]] = None


@dataclasses.dataclass(frozen=True)
class CreateGrantResponse:
    grant_id: str
    grant_token: str


@dataclasses.dataclass(frozen=True)
class GrantListEntry:
    key_id: str
    grant_id: str
    grantee_principal: str
    issuing_account: str
    operations: List[str]
    creation_date: datetime
    name: Optional[str] = None
    retiring_principal: Optional[str] = None
    constraints: Optional[GrantConstraints] = None


@dataclasses.dataclass(frozen=True)
class ListGrantsResponse:
    grants: List[GrantListEntry]
    truncated: bool
    next_marker: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class SignResponse:
    key_id: str
    signature: bytes
    signing_algorithm: str


@dataclasses.dataclass(frozen=True)
class VerifyResponse:
    key_id: str
    signature_valid: bool
    signing_algorithm: str


@dataclasses.dataclass(frozen=True)
class GetPublicKeyResponse:
    key_id: str
    public_key: bytes
    key_spec: KeySpec
    key_usage: KeyUsage
    encryption_algorithms: List[str]
    signing_algorithms: List[str]
    key_agreement_algorithms: List[str]


@dataclasses.dataclass(frozen=True)
class GenerateMacResponse:
    key_id: str
    mac: bytes
    mac_algorithm: str


@dataclasses.dataclass(frozen=True)
class VerifyMacResponse:
    key_id: str
    mac_valid: bool
    mac_algorithm: str


@dataclasses.dataclass(frozen=True)
class Tag:
    tag_key: str
    tag_value: str


@dataclasses.dataclass(frozen=True)
class ListResourceTagsResponse:
    tags: List[Tag]
    truncated: bool
    next_marker: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class RotationsListEntry:
    key_id: str
    key_material_id: Optional[str] = None
    key_material_state: Optional[str] = None
    rotation_date: Optional[datetime] = None
    rotation_type: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ListKeyRotationsResponse:
    rotations: List[RotationsListEntry]
    truncated: bool
    next_marker: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ListKeyPoliciesResponse:
    policy_names: List[str]
    truncated: bool
    next_marker: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class GetIdentityPolicyResponse:
    principal_arn: str
    policy_name: str
    policy_document: str


@dataclasses.dataclass(frozen=True, repr=False)
class DeriveSharedSecretResponse:
    key_id: str
    shared_secret: bytes
    key_agreement_algorithm: str
    key_origin: str

    def __repr__(self) -> str:
        return f"DeriveSharedSecretResponse(key_id={self.key_id!r}, shared_secret=<redacted>)"


@dataclasses.dataclass(frozen=True, repr=False)
class GenerateDataKeyPairResponse:
    key_id: str
    key_pair_spec: KeySpec
    public_key: bytes
    private_key_ciphertext_blob: bytes
    key_material_id: str
    private_key_plaintext: Optional[bytes] = None

    def __repr__(self) -> str:
        return f"GenerateDataKeyPairResponse(key_id={self.key_id!r}, key_pair_spec={self.key_pair_spec}, private_key_plaintext=<redacted>)"


@dataclasses.dataclass(frozen=True)
class GetParametersForImportResponse:
    key_id: str
    import_token: str
    public_key: bytes
    parameters_valid_to: datetime


# -------------------------------------------------------------- conversion

_SPECIAL_TO_AWS = {"aws_account_id": "AWSAccountId"}
_SPECIAL_FROM_AWS = {v: k for k, v in _SPECIAL_TO_AWS.items()}


def aws_name(snake: str) -> str:
    """``key_id`` → ``KeyId``."""
    return _SPECIAL_TO_AWS.get(snake) or "".join(p[:1].upper() + p[1:] for p in snake.split("_"))


def snake_name(pascal: str) -> str:
    """``KeyId`` → ``key_id``."""
    if pascal in _SPECIAL_FROM_AWS:
        return _SPECIAL_FROM_AWS[pascal]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", pascal).lower()


def _from_seconds(seconds: float) -> datetime:
    """An AWS timestamp (epoch seconds, fractional for milliseconds)."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _to_seconds(value: datetime) -> Any:
    """Epoch seconds as AWS writes them: whole seconds an integer."""
    ms = round(value.timestamp() * 1000)
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner[0], value)
    if origin in (list, List):
        (item,) = typing.get_args(tp)
        return [_convert(item, v) for v in value]
    if origin in (dict, Dict):
        return dict(value)
    if tp is bytes:
        # Secrets arrive as bytes from the native entry points; the rest as
        # AWS blobs (base64).
        return value if isinstance(value, bytes) else base64.b64decode(value, validate=True)
    if tp is datetime:
        return _from_seconds(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_aws(tp, value)
    return value


def from_aws(cls: Type[T], data: Mapping[str, Any]) -> T:
    """Build the dataclass ``cls`` from an AWS-shaped JSON object."""
    hints = typing.get_type_hints(cls, vars(sys.modules[__name__]))
    kwargs: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp = hints[f.name]
        key = aws_name(f.name)
        if key in data:
            kwargs[f.name] = _convert(tp, data[key])
    return cls(**kwargs)


def to_aws(value: Any) -> Any:
    """A request value in AWS's JSON shape: bytes as base64, enums by
    value, dataclasses with AWS field names, datetimes as epoch seconds.
    Plain dicts (encryption contexts) keep their keys."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return _to_seconds(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            aws_name(f.name): to_aws(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, (list, tuple)):
        return [to_aws(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_aws(v) for k, v in value.items()}
    return value
