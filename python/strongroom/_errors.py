"""Exceptions: one class per stable error code, named as the code.

Every error the core raises arrives as the subclass of :class:`KmsError`
named by its code (the AWS exception name where AWS has one), carrying
``.code`` and a message that never contains key bytes or plaintext.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, Type

from strongroom import _native


class KmsError(Exception):
    """Base class of every Strongroom error. ``code`` is the stable code."""

    code: str = "KmsError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class NotFoundException(KmsError):
    code = "NotFoundException"


class DisabledException(KmsError):
    code = "DisabledException"


class KMSInvalidStateException(KmsError):
    code = "KMSInvalidStateException"


class InvalidCiphertextException(KmsError):
    code = "InvalidCiphertextException"


class IncorrectKeyException(KmsError):
    code = "IncorrectKeyException"


class InvalidKeyUsageException(KmsError):
    code = "InvalidKeyUsageException"


class ValidationException(KmsError):
    code = "ValidationException"


class LimitExceededException(KmsError):
    code = "LimitExceededException"


class AlreadyExistsException(KmsError):
    code = "AlreadyExistsException"


class InvalidAliasNameException(KmsError):
    code = "InvalidAliasNameException"


class InvalidArnException(KmsError):
    code = "InvalidArnException"


class InvalidMarkerException(KmsError):
    code = "InvalidMarkerException"


class UnsupportedOperationException(KmsError):
    code = "UnsupportedOperationException"


class DryRunOperationException(KmsError):
    code = "DryRunOperationException"


class ConflictException(KmsError):
    code = "ConflictException"


class TagException(KmsError):
    code = "TagException"


class AccessDeniedException(KmsError):
    code = "AccessDeniedException"


class MalformedPolicyDocumentException(KmsError):
    code = "MalformedPolicyDocumentException"


class InvalidGrantTokenException(KmsError):
    code = "InvalidGrantTokenException"


class InvalidGrantIdException(KmsError):
    code = "InvalidGrantIdException"


class KMSInvalidSignatureException(KmsError):
    code = "KMSInvalidSignatureException"


class KMSInvalidMacException(KmsError):
    code = "KMSInvalidMacException"


class ExpiredImportTokenException(KmsError):
    code = "ExpiredImportTokenException"


class InvalidImportTokenException(KmsError):
    code = "InvalidImportTokenException"


class IncorrectKeyMaterialException(KmsError):
    code = "IncorrectKeyMaterialException"


class KMSInternalException(KmsError):
    code = "KMSInternalException"


class InvalidRootKeyException(KmsError):
    code = "InvalidRootKeyException"


class StoreCorruptedException(KmsError):
    code = "StoreCorruptedException"


class UnsupportedStoreVersionException(KmsError):
    code = "UnsupportedStoreVersionException"


class StoreIOException(KmsError):
    code = "StoreIOException"


ERRORS: Dict[str, Type[KmsError]] = {
    cls.code: cls for cls in KmsError.__subclasses__()
}


def translate(e: _native.NativeError) -> KmsError:
    """The typed exception for a native error (code, message)."""
    code, message = e.args[0], e.args[1]
    cls = ERRORS.get(code)
    if cls is None:  # a code newer than this Python layer
        err = KmsError(message)
        err.code = code
        return err
    return cls(message)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Run native calls, raising the typed :class:`KmsError` subclass for
    any native error (the one place the translation happens)."""
    try:
        yield
    except _native.NativeError as e:
        raise translate(e) from None
