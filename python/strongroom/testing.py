"""Helpers for tests: a deterministic KMS that replays Strongroom's
language-neutral test vectors.

.. warning:: :class:`DeterministicKms` draws every key from a seeded RNG:
   anyone who knows the seed knows every key. It exists in memory only and
   can never open a store. Use it to reproduce vectors, never for data.
"""

from __future__ import annotations

from strongroom import _native
from strongroom._errors import translated
from strongroom._kms import DEFAULT_ACCOUNT, DEFAULT_REGION, Kms, ManualClock

__all__ = ["DeterministicKms", "ManualClock", "canonical_encryption_context"]


def DeterministicKms(
    *, seed: bytes, clock: ManualClock, account: str = DEFAULT_ACCOUNT, region: str = DEFAULT_REGION
) -> Kms:
    """An in-memory KMS whose keys all come from ``seed`` (32 bytes).

    Only the test build of the native module has it (cargo feature
    ``dangerous-test-rng``, built by ``scripts/py-test.sh``); packages never
    do, and there this raises :class:`RuntimeError`."""
    make = getattr(_native.NativeKms, "deterministic", None)
    if make is None:
        raise RuntimeError(
            "this strongroom build has no deterministic test RNG (no package has one); "
            "it exists only in the test build that scripts/py-test.sh makes"
        )
    with translated():
        return Kms(make(account, region, seed, clock._native))


def canonical_encryption_context(context: "dict[str, str]") -> bytes:
    """The canonical encoding Strongroom binds as AAD (see
    docs/formats/encryption-context.md)."""
    with translated():
        return _native.canonical_encryption_context(dict(context))
