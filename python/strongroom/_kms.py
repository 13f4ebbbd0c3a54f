"""The KMS: operations named as AWS names them, in snake_case."""

from __future__ import annotations

import os
from datetime import datetime
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, Union

from strongroom import _native
from strongroom._envelope import CacheConfig, Envelope
from strongroom._errors import translated
from strongroom._operations import Operations
from strongroom._types import Tag, _s

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


class Kms(Operations):
    """A key management service in this process.

    Open a durable store with :meth:`open` (a context manager) or make an
    ephemeral one with :meth:`in_memory`. Methods mirror boto3's KMS client:
    AWS operation names and request parameters in snake_case, ``bytes`` in
    and out, encryption context as ``dict[str, str]``, typed results.
    Errors are :class:`strongroom.KmsError` subclasses named by their code.
    A ``Kms`` may be shared between threads; crypto runs without the GIL.
    """

    __slots__ = ("_native",)

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
        caller = {"PrincipalArn": principal_arn, "Account": acct}
        if via_service is not None:
            caller["ViaService"] = via_service
        if source_account is not None:
            caller["SourceAccount"] = source_account
        return Kms(self._wrap(self._native.as_caller, caller))

    def as_user(self, name: str) -> "Kms":
        return self.as_caller(f"arn:aws:iam::{self.account}:user/{name}")

    def as_role(self, name: str) -> "Kms":
        return self.as_caller(f"arn:aws:iam::{self.account}:role/{name}")

    # ----------------------------------------------------------- plumbing

    @staticmethod
    def _wrap(fn: Any, *args: Any, **kwargs: Any) -> Any:
        with translated():
            return fn(*args, **kwargs)

    def call(self, operation: str, request: Optional[Mapping[str, Any]] = None) -> Any:
        """Any operation by its AWS name with an AWS-shaped request
        (PascalCase members, ``bytes`` for blobs, epoch seconds for dates):
        the AWS-shaped answer as a dict (``None`` for an empty answer). The
        same native path as the typed methods."""
        return self._native.call(operation, request)

    def recover_key_policy(self, *, key_id: str, root_key: Optional[bytes] = None, passphrase: Optional[str] = None) -> None:
        """Reset a locked-out key's policy to the default, proving control of
        the store with its root key (audited)."""
        self._wrap(self._native.recover_key_policy, key_id, root_key=root_key, passphrase=passphrase)

    # ----------------------------------------------------------- regions

    def replicate_key(
        self,
        *,
        key_id: str,
        replica: "Kms",
        description: Optional[str] = None,
        policy: Optional[str] = None,
        bypass_policy_lockout_safety_check: Optional[bool] = None,
        tags: Optional[Sequence[Tag]] = None,
    ) -> Dict[str, Any]:
        """Replicate a multi-Region key into ``replica`` (another region's
        KMS, open in this process); returns the AWS-shaped answer."""
        req: Dict[str, Any] = {"KeyId": key_id, "ReplicaRegion": replica.region}
        if description is not None:
            req["Description"] = description
        if policy is not None:
            req["Policy"] = policy
        if bypass_policy_lockout_safety_check is not None:
            req["BypassPolicyLockoutSafetyCheck"] = bypass_policy_lockout_safety_check
        if tags is not None:
            req["Tags"] = [_s(t) for t in tags]
        out: Dict[str, Any] = self._native.replicate_key(req, replica._native)
        return out

    def update_primary_region(self, *, key_id: str, new_primary: "Kms") -> None:
        self._native.update_primary_region(key_id, new_primary._native)

    def audit_log(self) -> List[Dict[str, Any]]:
        """Every audited call, oldest first."""
        return self._native.audit_log()
