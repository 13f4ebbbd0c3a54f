"""The KMS: operations named as AWS names them, in snake_case."""

from __future__ import annotations

import json
import os
from datetime import datetime
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, TypeVar, Union

from strongroom import _native
from strongroom._envelope import CacheConfig, Envelope
from strongroom._errors import translated
from strongroom._types import (
    CreateGrantResponse,
    CreateKeyResponse,
    DecryptResponse,
    DescribeKeyResponse,
    EncryptResponse,
    GenerateDataKeyResponse,
    GenerateDataKeyWithoutPlaintextResponse,
    GenerateMacResponse,
    GetKeyPolicyResponse,
    GetKeyRotationStatusResponse,
    GetPublicKeyResponse,
    DeriveSharedSecretResponse,
    GenerateDataKeyPairResponse,
    GetIdentityPolicyResponse,
    GetParametersForImportResponse,
    ListKeyPoliciesResponse,
    ListKeyRotationsResponse,
    GrantConstraints,
    KeyIdResponse,
    KeySpec,
    KeyUsage,
    ListAliasesResponse,
    ListGrantsResponse,
    ListKeysResponse,
    ListResourceTagsResponse,
    Origin,
    ReEncryptResponse,
    ScheduleKeyDeletionResponse,
    SignResponse,
    Tag,
    VerifyMacResponse,
    VerifyResponse,
    aws_name,
    from_aws,
    to_aws,
)

T = TypeVar("T")
EncryptionContext = Mapping[str, str]
PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_ACCOUNT = "111122223333"
DEFAULT_REGION = "us-east-1"


class ManualClock:
    """A clock that only moves when told to (milliseconds since the Unix
    epoch): test deletion windows and rotation schedules offline."""

    def __init__(self, start: Union[datetime, int]) -> None:
        ms = int(start.timestamp() * 1000) if isinstance(start, datetime) else int(start)
        self._native = _native.NativeClock(ms)

    def advance(self, *, days: float = 0, seconds: float = 0, ms: int = 0) -> None:
        self._native.advance_ms(int(days * 86_400_000 + seconds * 1000 + ms))

    def set(self, when: Union[datetime, int]) -> None:
        ms = int(when.timestamp() * 1000) if isinstance(when, datetime) else int(when)
        self._native.set_ms(ms)

    def now_ms(self) -> int:
        return self._native.now_ms()


class Kms:
    """A key management service in this process.

    Open a durable store with :meth:`open` (a context manager) or make an
    ephemeral one with :meth:`in_memory`. Methods mirror boto3's KMS client:
    AWS operation names and request parameters in snake_case, ``bytes`` in
    and out, encryption context as ``dict[str, str]``, typed results.
    Errors are :class:`strongroom.KmsError` subclasses named by their code.
    A ``Kms`` may be shared between threads; crypto runs without the GIL.
    """

    def __init__(self, native: _native.NativeKms) -> None:
        self._native = native

    # ----------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: PathLike,
        *,
        root_key: Optional[bytes] = None,
        passphrase: Optional[str] = None,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        clock: Optional[ManualClock] = None,
    ) -> "Kms":
        """Open (or create) the sealed file store in directory ``path``,
        with a 32-byte ``root_key`` or a ``passphrase`` (Argon2id)."""
        with translated():
            return cls(
                _native.NativeKms.open(
                    os.fspath(path),
                    account,
                    region,
                    root_key=root_key,
                    passphrase=passphrase,
                    clock=clock._native if clock else None,
                )
            )

    @classmethod
    def in_memory(
        cls,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        clock: Optional[ManualClock] = None,
    ) -> "Kms":
        """An ephemeral KMS (nothing is written anywhere)."""
        with translated():
            return cls(
                _native.NativeKms.in_memory(account, region, clock=clock._native if clock else None)
            )

    def __enter__(self) -> "Kms":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        """Flush and drop this handle; the store is closed (and its lock
        released) once no other handle, caller view or envelope on it is
        alive. Later calls on this handle raise ValidationException."""
        self._wrap(self._native.close)

    def __repr__(self) -> str:
        return f"Kms(account={self.account!r}, region={self.region!r})"

    @property
    def account(self) -> str:
        return self._native.account()

    @property
    def region(self) -> str:
        return self._native.region()

    def flush(self) -> None:
        """Make buffered audit events durable."""
        self._wrap(self._native.flush)

    # ----------------------------------------------------------- envelope

    def envelope(
        self,
        key_ids: Union[str, Sequence[str], None],
        *,
        grant_tokens: Optional[Sequence[str]] = None,
        cache: Optional[CacheConfig] = None,
        clock: Optional[ManualClock] = None,
    ) -> Envelope:
        """Envelope encryption with this KMS's keys: the first generates each
        message's data key and every one can decrypt it; ``None`` decrypts
        with any key the caller may use. ``cache`` puts a data key cache in
        front (``clock`` times it; default the system clock)."""
        return Envelope.for_kms(self, key_ids, grant_tokens=grant_tokens, cache=cache, clock=clock)

    # ----------------------------------------------------------- callers

    def as_caller(
        self,
        principal_arn: str,
        *,
        account: Optional[str] = None,
        via_service: Optional[str] = None,
        source_account: Optional[str] = None,
    ) -> "Kms":
        """A handle on the same KMS acting as another principal (policies,
        grants and the audit log see it)."""
        acct = account or (principal_arn.split(":")[4] if principal_arn.count(":") >= 5 else self.account)
        caller = {
            "PrincipalArn": principal_arn,
            "Account": acct,
            "ViaService": via_service,
            "SourceAccount": source_account,
        }
        return Kms(self._wrap(self._native.as_caller, json.dumps(caller)))

    def as_user(self, name: str) -> "Kms":
        return self.as_caller(f"arn:aws:iam::{self.account}:user/{name}")

    def as_role(self, name: str) -> "Kms":
        return self.as_caller(f"arn:aws:iam::{self.account}:role/{name}")

    # ----------------------------------------------------------- plumbing

    @staticmethod
    def _wrap(fn: Any, *args: Any, **kwargs: Any) -> Any:
        with translated():
            return fn(*args, **kwargs)

    def call(self, operation: str, request: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Any operation by its AWS name with an AWS-shaped request
        (AWS's JSON shape: PascalCase, blobs as base64 or ``bytes``,
        timestamps as epoch seconds); the raw JSON answer."""
        body = json.dumps(to_aws(dict(request or {})))
        out: Dict[str, Any] = json.loads(self._wrap(self._native.call, operation, body))
        return out

    def _request(self, params: Mapping[str, Any]) -> Dict[str, Any]:
        req: Dict[str, Any] = {}
        for k, v in params.items():
            if v is None:
                continue
            req[aws_name(k)] = to_aws(v)
        return req

    def _op(self, operation: str, result: Type[T], params: Mapping[str, Any]) -> T:
        """Call `operation` with snake_case parameters; the typed answer."""
        return from_aws(result, self.call(operation, self._request(params)))

    def _secret_op(self, native: Any, result: Type[T], field: str, params: Mapping[str, Any]) -> T:
        """Call a native entry point that returns (JSON without the secret,
        the secret as bytes): the secret never travels as hex in JSON text."""
        meta, secret = self._wrap(native, json.dumps(self._request(params)))
        out: Dict[str, Any] = json.loads(meta)
        out[field] = secret
        return from_aws(result, out)

    def _op_none(self, operation: str, params: Mapping[str, Any]) -> None:
        """Call an operation whose answer is empty."""
        self.call(operation, self._request(params))

    # ----------------------------------------------------------- keys

    def create_key(
        self,
        *,
        description: Optional[str] = None,
        key_usage: Union[KeyUsage, str, None] = None,
        key_spec: Union[KeySpec, str, None] = None,
        origin: Union[Origin, str, None] = None,
        tags: Optional[Sequence[Tag]] = None,
        multi_region: bool = False,
        policy: Optional[str] = None,
        bypass_policy_lockout_safety_check: bool = False,
    ) -> CreateKeyResponse:
        return self._op("CreateKey", CreateKeyResponse, locals_but_self(locals()))

    def describe_key(self, *, key_id: str, grant_tokens: Optional[Sequence[str]] = None) -> DescribeKeyResponse:
        return self._op("DescribeKey", DescribeKeyResponse, locals_but_self(locals()))

    def list_keys(self, *, limit: Optional[int] = None, marker: Optional[str] = None) -> ListKeysResponse:
        return self._op("ListKeys", ListKeysResponse, locals_but_self(locals()))

    def update_key_description(self, *, key_id: str, description: str) -> None:
        self._op_none("UpdateKeyDescription", locals_but_self(locals()))

    def tag_resource(self, *, key_id: str, tags: Sequence[Tag]) -> None:
        self._op_none("TagResource", locals_but_self(locals()))

    def untag_resource(self, *, key_id: str, tag_keys: Sequence[str]) -> None:
        self._op_none("UntagResource", locals_but_self(locals()))

    def list_resource_tags(self, *, key_id: str) -> ListResourceTagsResponse:
        return self._op("ListResourceTags", ListResourceTagsResponse, locals_but_self(locals()))

    def enable_key(self, *, key_id: str) -> None:
        self._op_none("EnableKey", locals_but_self(locals()))

    def disable_key(self, *, key_id: str) -> None:
        self._op_none("DisableKey", locals_but_self(locals()))

    def schedule_key_deletion(
        self, *, key_id: str, pending_window_in_days: Optional[int] = None
    ) -> ScheduleKeyDeletionResponse:
        return self._op("ScheduleKeyDeletion", ScheduleKeyDeletionResponse, locals_but_self(locals()))

    def cancel_key_deletion(self, *, key_id: str) -> KeyIdResponse:
        return self._op("CancelKeyDeletion", KeyIdResponse, locals_but_self(locals()))

    # ----------------------------------------------------------- aliases

    def create_alias(self, *, alias_name: str, target_key_id: str) -> None:
        self._op_none("CreateAlias", locals_but_self(locals()))

    def update_alias(self, *, alias_name: str, target_key_id: str) -> None:
        self._op_none("UpdateAlias", locals_but_self(locals()))

    def delete_alias(self, *, alias_name: str) -> None:
        self._op_none("DeleteAlias", locals_but_self(locals()))

    def list_aliases(
        self, *, key_id: Optional[str] = None, limit: Optional[int] = None, marker: Optional[str] = None
    ) -> ListAliasesResponse:
        return self._op("ListAliases", ListAliasesResponse, locals_but_self(locals()))

    # ----------------------------------------------------------- crypto

    def encrypt(
        self,
        *,
        key_id: str,
        plaintext: bytes,
        encryption_context: Optional[EncryptionContext] = None,
        encryption_algorithm: Optional[str] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> EncryptResponse:
        params = locals_but_self(locals())
        data = params.pop("plaintext")
        body = json.dumps(self._request(params))
        out = self._wrap(self._native.encrypt, body, data if type(data) is bytes else bytes(data))
        return from_aws(EncryptResponse, json.loads(out))

    def decrypt(
        self,
        *,
        ciphertext_blob: bytes,
        encryption_context: Optional[EncryptionContext] = None,
        key_id: Optional[str] = None,
        encryption_algorithm: Optional[str] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> DecryptResponse:
        return self._secret_op(self._native.decrypt, DecryptResponse, "Plaintext", locals_but_self(locals()))

    def re_encrypt(
        self,
        *,
        ciphertext_blob: bytes,
        destination_key_id: str,
        source_encryption_context: Optional[EncryptionContext] = None,
        source_key_id: Optional[str] = None,
        destination_encryption_context: Optional[EncryptionContext] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> ReEncryptResponse:
        return self._op("ReEncrypt", ReEncryptResponse, locals_but_self(locals()))

    def generate_data_key(
        self,
        *,
        key_id: str,
        encryption_context: Optional[EncryptionContext] = None,
        number_of_bytes: Optional[int] = None,
        key_spec: Optional[str] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> GenerateDataKeyResponse:
        if number_of_bytes is None and key_spec is None:
            key_spec = "AES_256"
        return self._secret_op(
            self._native.generate_data_key, GenerateDataKeyResponse, "Plaintext", locals_but_self(locals())
        )

    def generate_data_key_without_plaintext(
        self,
        *,
        key_id: str,
        encryption_context: Optional[EncryptionContext] = None,
        number_of_bytes: Optional[int] = None,
        key_spec: Optional[str] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> GenerateDataKeyWithoutPlaintextResponse:
        if number_of_bytes is None and key_spec is None:
            key_spec = "AES_256"
        return self._op("GenerateDataKeyWithoutPlaintext", GenerateDataKeyWithoutPlaintextResponse, locals_but_self(locals()))

    def generate_random(self, *, number_of_bytes: int) -> bytes:
        out: bytes = self._wrap(self._native.generate_random, number_of_bytes)
        return out

    # ----------------------------------------------------------- rotation

    def enable_key_rotation(self, *, key_id: str, rotation_period_in_days: Optional[int] = None) -> None:
        self._op_none("EnableKeyRotation", locals_but_self(locals()))

    def disable_key_rotation(self, *, key_id: str) -> None:
        self._op_none("DisableKeyRotation", locals_but_self(locals()))

    def get_key_rotation_status(self, *, key_id: str) -> GetKeyRotationStatusResponse:
        return self._op("GetKeyRotationStatus", GetKeyRotationStatusResponse, locals_but_self(locals()))

    def rotate_key_on_demand(self, *, key_id: str) -> KeyIdResponse:
        return self._op("RotateKeyOnDemand", KeyIdResponse, locals_but_self(locals()))

    def list_key_rotations(
        self,
        *,
        key_id: str,
        include_key_material: Optional[str] = None,
        limit: Optional[int] = None,
        marker: Optional[str] = None,
    ) -> ListKeyRotationsResponse:
        return self._op("ListKeyRotations", ListKeyRotationsResponse, locals_but_self(locals()))

    # ----------------------------------------------------------- imported key material

    def get_parameters_for_import(
        self, *, key_id: str, wrapping_algorithm: str, wrapping_key_spec: str
    ) -> GetParametersForImportResponse:
        return self._op("GetParametersForImport", GetParametersForImportResponse, locals_but_self(locals()))

    def import_key_material(
        self,
        *,
        key_id: str,
        import_token: str,
        encrypted_key_material: bytes,
        valid_to: Optional[datetime] = None,
        expiration_model: Optional[str] = None,
    ) -> None:
        self._op_none("ImportKeyMaterial", locals_but_self(locals()))

    def delete_imported_key_material(self, *, key_id: str) -> None:
        self._op_none("DeleteImportedKeyMaterial", locals_but_self(locals()))

    # ----------------------------------------------------------- policies and grants

    def list_key_policies(
        self, *, key_id: str, limit: Optional[int] = None, marker: Optional[str] = None
    ) -> ListKeyPoliciesResponse:
        return self._op("ListKeyPolicies", ListKeyPoliciesResponse, locals_but_self(locals()))

    def get_identity_policy(self, *, principal_arn: str, policy_name: str) -> GetIdentityPolicyResponse:
        return self._op("GetIdentityPolicy", GetIdentityPolicyResponse, locals_but_self(locals()))

    def delete_identity_policy(self, *, principal_arn: str, policy_name: str) -> None:
        self._op_none("DeleteIdentityPolicy", locals_but_self(locals()))

    def list_retirable_grants(
        self, *, retiring_principal: str, limit: Optional[int] = None, marker: Optional[str] = None
    ) -> ListGrantsResponse:
        return self._op("ListRetirableGrants", ListGrantsResponse, locals_but_self(locals()))

    def put_key_policy(
        self,
        *,
        key_id: str,
        policy: Union[str, Mapping[str, Any]],
        policy_name: Optional[str] = None,
        bypass_policy_lockout_safety_check: bool = False,
    ) -> None:
        if not isinstance(policy, str):
            policy = json.dumps(policy)
        self._op_none("PutKeyPolicy", locals_but_self(locals()))

    def get_key_policy(self, *, key_id: str, policy_name: Optional[str] = None) -> GetKeyPolicyResponse:
        return self._op("GetKeyPolicy", GetKeyPolicyResponse, locals_but_self(locals()))

    def recover_key_policy(self, *, key_id: str, root_key: Optional[bytes] = None, passphrase: Optional[str] = None) -> None:
        """Reset a locked-out key's policy to the default, proving control of
        the store with its root key (audited)."""
        self._wrap(self._native.recover_key_policy, key_id, root_key=root_key, passphrase=passphrase)

    def put_identity_policy(self, *, principal_arn: str, policy_name: str, policy_document: Union[str, Mapping[str, Any]]) -> None:
        if not isinstance(policy_document, str):
            policy_document = json.dumps(policy_document)
        self._op_none("PutIdentityPolicy", locals_but_self(locals()))

    def create_grant(
        self,
        *,
        key_id: str,
        grantee_principal: str,
        operations: Sequence[str],
        retiring_principal: Optional[str] = None,
        constraints: Optional[GrantConstraints] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        name: Optional[str] = None,
        dry_run: bool = False,
    ) -> CreateGrantResponse:
        return self._op("CreateGrant", CreateGrantResponse, locals_but_self(locals()))

    def list_grants(
        self,
        *,
        key_id: str,
        grant_id: Optional[str] = None,
        grantee_principal: Optional[str] = None,
        limit: Optional[int] = None,
        marker: Optional[str] = None,
    ) -> ListGrantsResponse:
        return self._op("ListGrants", ListGrantsResponse, locals_but_self(locals()))

    def retire_grant(
        self,
        *,
        grant_token: Optional[str] = None,
        key_id: Optional[str] = None,
        grant_id: Optional[str] = None,
        dry_run: bool = False,
    ) -> None:
        self._op_none("RetireGrant", locals_but_self(locals()))

    def revoke_grant(self, *, key_id: str, grant_id: str, dry_run: bool = False) -> None:
        self._op_none("RevokeGrant", locals_but_self(locals()))

    # ----------------------------------------------------------- asymmetric and HMAC

    def sign(
        self,
        *,
        key_id: str,
        message: bytes,
        signing_algorithm: str,
        message_type: Optional[str] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> SignResponse:
        return self._op("Sign", SignResponse, locals_but_self(locals()))

    def verify(
        self,
        *,
        key_id: str,
        message: bytes,
        signature: bytes,
        signing_algorithm: str,
        message_type: Optional[str] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> VerifyResponse:
        return self._op("Verify", VerifyResponse, locals_but_self(locals()))

    def get_public_key(self, *, key_id: str, grant_tokens: Optional[Sequence[str]] = None) -> GetPublicKeyResponse:
        return self._op("GetPublicKey", GetPublicKeyResponse, locals_but_self(locals()))

    def generate_mac(
        self,
        *,
        key_id: str,
        message: bytes,
        mac_algorithm: str,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> GenerateMacResponse:
        return self._op("GenerateMac", GenerateMacResponse, locals_but_self(locals()))

    def verify_mac(
        self,
        *,
        key_id: str,
        message: bytes,
        mac: bytes,
        mac_algorithm: str,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> VerifyMacResponse:
        return self._op("VerifyMac", VerifyMacResponse, locals_but_self(locals()))

    def derive_shared_secret(
        self,
        *,
        key_id: str,
        public_key: bytes,
        key_agreement_algorithm: str = "ECDH",
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> DeriveSharedSecretResponse:
        return self._secret_op(
            self._native.derive_shared_secret, DeriveSharedSecretResponse, "SharedSecret", locals_but_self(locals())
        )

    def generate_data_key_pair(
        self,
        *,
        key_id: str,
        key_pair_spec: Union[KeySpec, str],
        encryption_context: Optional[EncryptionContext] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> GenerateDataKeyPairResponse:
        return self._secret_op(
            self._native.generate_data_key_pair,
            GenerateDataKeyPairResponse,
            "PrivateKeyPlaintext",
            locals_but_self(locals()),
        )

    def generate_data_key_pair_without_plaintext(
        self,
        *,
        key_id: str,
        key_pair_spec: Union[KeySpec, str],
        encryption_context: Optional[EncryptionContext] = None,
        grant_tokens: Optional[Sequence[str]] = None,
        dry_run: bool = False,
    ) -> GenerateDataKeyPairResponse:
        return self._op("GenerateDataKeyPairWithoutPlaintext", GenerateDataKeyPairResponse, locals_but_self(locals()))

    # ----------------------------------------------------------- regions

    def replicate_key(
        self,
        *,
        key_id: str,
        replica: "Kms",
        description: Optional[str] = None,
        policy: Optional[str] = None,
        bypass_policy_lockout_safety_check: bool = False,
        tags: Optional[Sequence[Tag]] = None,
    ) -> Dict[str, Any]:
        """Replicate a multi-Region key into ``replica`` (another region's
        KMS, open in this process); returns the AWS-shaped answer."""
        params = locals_but_self(locals())
        del params["replica"]
        req = self._request(params)
        req["ReplicaRegion"] = replica.region
        out: Dict[str, Any] = json.loads(self._wrap(self._native.replicate_key, json.dumps(req), replica._native))
        return out

    def update_primary_region(self, *, key_id: str, new_primary: "Kms") -> None:
        self._wrap(self._native.update_primary_region, key_id, new_primary._native)

    def audit_log(self) -> List[Dict[str, Any]]:
        """Every audited call, oldest first."""
        out: List[Dict[str, Any]] = json.loads(self._wrap(self._native.audit_log_json))
        return out


def locals_but_self(params: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in params.items() if k != "self"}
