"""Envelope encryption of any size, in the AWS Encryption SDK message format."""

from __future__ import annotations

import dataclasses
import enum
from typing import IO, TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from strongroom import _native
from strongroom._errors import translated


class Suite(enum.IntEnum):
    """Envelope message algorithm suites (the AWS Encryption SDK's). The
    committing ones (``0x0478``, ``0x0578``) encrypt by default; the
    others, for readers that predate key commitment, only under
    ``CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT``."""

    AES_128_GCM_IV12_TAG16_NO_KDF = 0x0014
    AES_192_GCM_IV12_TAG16_NO_KDF = 0x0046
    AES_256_GCM_IV12_TAG16_NO_KDF = 0x0078
    AES_128_GCM_IV12_TAG16_HKDF_SHA256 = 0x0114
    AES_192_GCM_IV12_TAG16_HKDF_SHA256 = 0x0146
    AES_256_GCM_IV12_TAG16_HKDF_SHA256 = 0x0178
    AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 = 0x0214
    AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0346
    AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0378
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY = 0x0478
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 = 0x0578


class CommitmentPolicy(str, enum.Enum):
    """Which suites encrypt (the AWS Encryption SDK's commitment policies).
    Decryption of legacy messages is chosen per call
    (``allow_legacy_suites``)."""

    REQUIRE_ENCRYPT_REQUIRE_DECRYPT = "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
    REQUIRE_ENCRYPT_ALLOW_DECRYPT = "REQUIRE_ENCRYPT_ALLOW_DECRYPT"
    FORBID_ENCRYPT_ALLOW_DECRYPT = "FORBID_ENCRYPT_ALLOW_DECRYPT"


if TYPE_CHECKING:
    from strongroom._kms import Kms, ManualClock

CHUNK = 1 << 20
DEFAULT_FRAME_LENGTH = 4096


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """A data key cache in front of the KMS (see docs/formats/message.md):
    an LRU of ``capacity`` entries, each used for at most ``max_age``
    seconds, ``max_messages_encrypted`` messages and ``max_bytes_encrypted``
    bytes. Entries die the moment their KMS key is disabled, rotated or
    scheduled for deletion."""

    capacity: int = 100
    max_age: float = 60.0
    max_messages_encrypted: int = 1 << 32
    max_bytes_encrypted: int = (1 << 63) - 1
    partition: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    invalidations: int
    bypasses: int
    entries: int


@dataclasses.dataclass(frozen=True)
class MessageInfo:
    """What a decrypted message was, and which key opened it."""

    suite: int
    frame_length: int
    encryption_context: Dict[str, str]
    provider_id: str
    key_name: str


@dataclasses.dataclass(frozen=True, repr=False)
class DecryptedMessage:
    plaintext: bytes
    info: MessageInfo

    @property
    def encryption_context(self) -> Dict[str, str]:
        return self.info.encryption_context

    def __repr__(self) -> str:
        return f"DecryptedMessage(<{len(self.plaintext)} bytes redacted>, info={self.info!r})"


def _info(t: Tuple[int, int, Dict[str, str], str, str]) -> MessageInfo:
    return MessageInfo(suite=t[0], frame_length=t[1], encryption_context=dict(t[2]), provider_id=t[3], key_name=t[4])


class BranchKeyStore:
    """Branch keys for :meth:`Envelope.hierarchical` (the AWS Material
    Providers Library's key store, kept in a Strongroom store instead of
    DynamoDB): each version a 32-byte key wrapped by ``kms_key_id``, bound
    to its id, version and ``logical_name``. ``path``: a directory for a
    file store; in memory without one."""

    def __init__(self, kms: "Kms", kms_key_id: str, logical_name: str, *, path: Optional[str] = None) -> None:
        with translated():
            self._native = _native.NativeBranchKeyStore(kms._native, kms_key_id, logical_name, path)

    def create_branch_key(self, branch_key_id: Optional[str] = None) -> str:
        """A new branch key (``branch_key_id``, or a random UUID) with its
        first version active; returns its id."""
        with translated():
            return self._native.create_branch_key(branch_key_id)

    def version_branch_key(self, branch_key_id: str) -> str:
        """Rotate: a new version becomes active; old messages still open."""
        with translated():
            return self._native.version_branch_key(branch_key_id)

    def versions(self, branch_key_id: str) -> List[str]:
        with translated():
            return self._native.versions(branch_key_id)

    @property
    def kms_key_arn(self) -> str:
        return self._native.kms_key_arn()


class Envelope:
    """Encrypts and decrypts messages of any size with one keyring.

    Build one with :meth:`Kms.envelope` (KMS keys, optional cache) or
    :meth:`Envelope.raw_aes` (a raw AES-256 wrapping key, wire-identical to
    the official SDKs' raw AES keyring). Thread-safe.
    """

    def __init__(self, native: _native.NativeEnvelope) -> None:
        self._native = native

    @classmethod
    def for_kms(
        cls,
        kms: "Kms",
        key_ids: Union[str, Sequence[str], None],
        *,
        grant_tokens: Optional[Sequence[str]] = None,
        cache: Optional[CacheConfig] = None,
        clock: Optional["ManualClock"] = None,
    ) -> "Envelope":
        ids = [key_ids] if isinstance(key_ids, str) else list(key_ids or [])
        c = None
        if cache is not None:
            c = (cache.capacity, int(cache.max_age * 1000), cache.max_messages_encrypted, cache.max_bytes_encrypted, cache.partition)
        with translated():
            return cls(
                _native.NativeEnvelope.kms(
                    kms._native, ids, list(grant_tokens or []), cache=c, clock=clock._native if clock else None
                )
            )

    @classmethod
    def hierarchical(
        cls,
        store: BranchKeyStore,
        *,
        branch_key_id: Optional[str] = None,
        branch_key_id_supplier: Optional[Callable[[Dict[str, str]], str]] = None,
        ttl_seconds: float,
        clock: Optional["ManualClock"] = None,
    ) -> "Envelope":
        """The hierarchical keyring (``aws-kms-hierarchy`` EDKs): data keys
        wrapped under keys derived from a branch key, which is opened (one
        KMS call) once per ``ttl_seconds`` and dropped at once if its KMS
        key changes. Either a fixed ``branch_key_id`` or a
        ``branch_key_id_supplier`` that picks it from the encryption
        context (many tenants, one keyring)."""
        with translated():
            return cls(
                _native.NativeEnvelope.hierarchical(
                    store._native,
                    branch_key_id,
                    branch_key_id_supplier,
                    int(ttl_seconds * 1000),
                    clock._native if clock else None,
                )
            )

    def with_required_encryption_context_keys(self, keys: Sequence[str]) -> "Envelope":
        """The required encryption context CMM in front of this envelope:
        each of ``keys`` must be in every encryption context; those pairs
        are authenticated but not stored in the message, and must be given
        again to decrypt (``decrypt(..., encryption_context=...)``)."""
        with translated():
            return Envelope(self._native.with_required_encryption_context_keys(list(keys)))

    def with_cache(self, cache: "CacheConfig", *, clock: Optional["ManualClock"] = None) -> "Envelope":
        """A data key cache in front of this envelope's keyrings (any of them)."""
        c = (cache.capacity, int(cache.max_age * 1000), cache.max_messages_encrypted, cache.max_bytes_encrypted, cache.partition)
        with translated():
            return Envelope(self._native.with_cache(c, clock._native if clock else None))

    @classmethod
    def raw_aes(cls, *, key_namespace: str, key_name: str, wrapping_key: bytes) -> "Envelope":
        """A raw AES-128, -192 or -256 wrapping key (its length says which)."""
        with translated():
            return cls(_native.NativeEnvelope.raw_aes(key_namespace, key_name, wrapping_key))

    @classmethod
    def from_keyrings(
        cls,
        specs: Union[Mapping[str, object], Sequence[Mapping[str, object]]],
        *,
        kms: Optional["Kms"] = None,
    ) -> "Envelope":
        """Keyrings described as data, as the core's ``KeyringSpec`` defines
        them (member names of the AWS Material Providers Library), e.g.
        ``{"type": "RawRsa", "keyNamespace": "ns", "keyName": "k",
        "paddingScheme": "OAEP_SHA256_MGF1", "privateKey": pem_bytes}``;
        ``RawAes``, ``RawRsa``, ``AwsKms`` (``keyIds``, ``grantTokens``) and
        ``AwsKmsDiscovery`` (``discoveryFilter``) today. A list is a
        multi-keyring: the first generates the data key, every one wraps
        it, any one opens the message. KMS keyrings act through ``kms``."""
        items = [specs] if isinstance(specs, Mapping) else list(specs)
        with translated():
            return cls(
                _native.NativeEnvelope.from_specs([dict(s) for s in items], kms._native if kms is not None else None)
            )

    def encrypt(
        self,
        plaintext: bytes,
        *,
        encryption_context: Optional[Mapping[str, str]] = None,
        suite: Suite = Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        frame_length: int = DEFAULT_FRAME_LENGTH,
        commitment_policy: CommitmentPolicy = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    ) -> bytes:
        """Encrypt a whole message. ``frame_length=0`` writes a non-framed
        body; a legacy ``suite`` needs ``FORBID_ENCRYPT_ALLOW_DECRYPT``."""
        with translated():
            return self._native.encrypt(
                bytes(plaintext),
                dict(encryption_context or {}),
                int(suite),
                frame_length,
                CommitmentPolicy(commitment_policy).value,
            )

    def decrypt(
        self,
        message: bytes,
        *,
        allow_legacy_suites: bool = False,
        max_encrypted_data_keys: int = 10,
        encryption_context: Optional[Mapping[str, str]] = None,
    ) -> DecryptedMessage:
        """Decrypt a whole message; nothing is returned unless every frame
        and any signature verified. ``encryption_context``: the context the
        caller expects (pairs the message stores must be equal; the others
        are the authenticated-only pairs of a message made with
        :meth:`with_required_encryption_context_keys`)."""
        with translated():
            pt, info = self._native.decrypt(
                bytes(message),
                allow_legacy_suites,
                max_encrypted_data_keys,
                None if encryption_context is None else dict(encryption_context),
            )
        return DecryptedMessage(plaintext=pt, info=_info(info))

    # ----------------------------------------------------------- streaming

    def encrypt_stream(
        self,
        source: IO[bytes],
        destination: IO[bytes],
        *,
        encryption_context: Optional[Mapping[str, str]] = None,
        suite: Suite = Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        frame_length: int = DEFAULT_FRAME_LENGTH,
        plaintext_length: Optional[int] = None,
        chunk_size: int = CHUNK,
        commitment_policy: CommitmentPolicy = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    ) -> int:
        """Encrypt everything ``source`` yields into ``destination`` in
        constant memory (a non-framed body, ``frame_length=0``, is buffered
        whole); returns the plaintext length."""
        with translated():
            enc = self._native.encryptor(
                dict(encryption_context or {}),
                int(suite),
                frame_length,
                CommitmentPolicy(commitment_policy).value,
                plaintext_length,
            )
            total = 0
            while True:
                chunk = source.read(chunk_size)
                if not chunk:
                    break
                total += len(chunk)
                destination.write(enc.update(chunk))
            destination.write(enc.finish())
            return total

    def decrypt_stream(
        self,
        source: IO[bytes],
        destination: IO[bytes],
        *,
        allow_legacy_suites: bool = False,
        max_encrypted_data_keys: int = 10,
        chunk_size: int = CHUNK,
    ) -> MessageInfo:
        """Decrypt the message ``source`` yields into ``destination`` in
        constant memory. Plaintext is written as each frame verifies (a
        signed message's final frame only after its signature verifies):
        if this raises, discard what was written."""
        with translated():
            dec = self._native.decryptor(allow_legacy_suites, max_encrypted_data_keys)
            while True:
                chunk = source.read(chunk_size)
                if not chunk:
                    break
                destination.write(dec.update(chunk))
            last, info = dec.finish()
            destination.write(last)
            return _info(info)

    def encrypt_chunks(
        self,
        chunks: Iterable[bytes],
        *,
        encryption_context: Optional[Mapping[str, str]] = None,
        suite: Suite = Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        frame_length: int = DEFAULT_FRAME_LENGTH,
        commitment_policy: CommitmentPolicy = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    ) -> Iterator[bytes]:
        """Encrypt an iterable of plaintext chunks, yielding message bytes."""
        with translated():
            enc = self._native.encryptor(
                dict(encryption_context or {}), int(suite), frame_length, CommitmentPolicy(commitment_policy).value, None
            )
            for c in chunks:
                out = enc.update(c)
                if out:
                    yield out
            yield enc.finish()

    def cache_stats(self) -> Optional[CacheStats]:
        s = self._native.cache_stats()
        return None if s is None else CacheStats(*s)
