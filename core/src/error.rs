//! One error type for every operation, with a stable code string.
//!
//! The code is the AWS exception name wherever AWS has one (`NotFoundException`,
//! `KMSInvalidStateException`, ...), so code written against AWS KMS can match
//! on the same strings. Codes that AWS lacks (store problems) follow the same
//! pattern. Messages name key ARNs and limits but never contain plaintext,
//! key bytes or other secrets: every constructor takes only non-secret text.

use std::fmt;

/// The stable, language-neutral error code. `as_str()` is what every binding
/// exposes; it never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    NotFound,
    Disabled,
    KmsInvalidState,
    InvalidCiphertext,
    IncorrectKey,
    InvalidKeyUsage,
    Validation,
    LimitExceeded,
    AlreadyExists,
    InvalidAliasName,
    InvalidArn,
    InvalidMarker,
    UnsupportedOperation,
    DryRunOperation,
    Conflict,
    Tag,
    AccessDenied,
    MalformedPolicyDocument,
    InvalidGrantToken,
    InvalidGrantId,
    KmsInvalidSignature,
    KmsInvalidMac,
    ExpiredImportToken,
    InvalidImportToken,
    IncorrectKeyMaterial,
    KmsInternal,
    /// The root key (raw or passphrase) does not open this store.
    InvalidRootKey,
    /// The store's bytes fail their checksums or authentication.
    StoreCorrupted,
    /// The store was written by a format version this build cannot read.
    UnsupportedStoreVersion,
    /// The store could not be read or written (I/O).
    StoreIo,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::NotFound,
        ErrorCode::Disabled,
        ErrorCode::KmsInvalidState,
        ErrorCode::InvalidCiphertext,
        ErrorCode::IncorrectKey,
        ErrorCode::InvalidKeyUsage,
        ErrorCode::Validation,
        ErrorCode::LimitExceeded,
        ErrorCode::AlreadyExists,
        ErrorCode::InvalidAliasName,
        ErrorCode::InvalidArn,
        ErrorCode::InvalidMarker,
        ErrorCode::UnsupportedOperation,
        ErrorCode::DryRunOperation,
        ErrorCode::Conflict,
        ErrorCode::Tag,
        ErrorCode::AccessDenied,
        ErrorCode::MalformedPolicyDocument,
        ErrorCode::InvalidGrantToken,
        ErrorCode::InvalidGrantId,
        ErrorCode::KmsInvalidSignature,
        ErrorCode::KmsInvalidMac,
        ErrorCode::ExpiredImportToken,
        ErrorCode::InvalidImportToken,
        ErrorCode::IncorrectKeyMaterial,
        ErrorCode::KmsInternal,
        ErrorCode::InvalidRootKey,
        ErrorCode::StoreCorrupted,
        ErrorCode::UnsupportedStoreVersion,
        ErrorCode::StoreIo,
    ];

    /// The stable code string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NotFoundException",
            ErrorCode::Disabled => "DisabledException",
            ErrorCode::KmsInvalidState => "KMSInvalidStateException",
            ErrorCode::InvalidCiphertext => "InvalidCiphertextException",
            ErrorCode::IncorrectKey => "IncorrectKeyException",
            ErrorCode::InvalidKeyUsage => "InvalidKeyUsageException",
            ErrorCode::Validation => "ValidationException",
            ErrorCode::LimitExceeded => "LimitExceededException",
            ErrorCode::AlreadyExists => "AlreadyExistsException",
            ErrorCode::InvalidAliasName => "InvalidAliasNameException",
            ErrorCode::InvalidArn => "InvalidArnException",
            ErrorCode::InvalidMarker => "InvalidMarkerException",
            ErrorCode::UnsupportedOperation => "UnsupportedOperationException",
            ErrorCode::DryRunOperation => "DryRunOperationException",
            ErrorCode::Conflict => "ConflictException",
            ErrorCode::Tag => "TagException",
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            ErrorCode::InvalidGrantToken => "InvalidGrantTokenException",
            ErrorCode::InvalidGrantId => "InvalidGrantIdException",
            ErrorCode::KmsInvalidSignature => "KMSInvalidSignatureException",
            ErrorCode::KmsInvalidMac => "KMSInvalidMacException",
            ErrorCode::ExpiredImportToken => "ExpiredImportTokenException",
            ErrorCode::InvalidImportToken => "InvalidImportTokenException",
            ErrorCode::IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            ErrorCode::KmsInternal => "KMSInternalException",
            ErrorCode::InvalidRootKey => "InvalidRootKeyException",
            ErrorCode::StoreCorrupted => "StoreCorruptedException",
            ErrorCode::UnsupportedStoreVersion => "UnsupportedStoreVersionException",
            ErrorCode::StoreIo => "StoreIOException",
        }
    }

    /// Parse a code string (used by the vector runner and bindings).
    pub fn from_code(s: &str) -> Option<ErrorCode> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error every public operation returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    /// Build an error. `message` must never contain secret bytes; callers in
    /// this crate only pass ARNs, names, limits and fixed text.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    pub fn code(&self) -> ErrorCode {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn validation(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, msg)
    }
    pub(crate) fn not_found_arn(arn: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("Key '{arn}' does not exist"))
    }
    /// The one opaque decryption failure: never says which check failed.
    pub fn invalid_ciphertext() -> Self {
        Self::new(
            ErrorCode::InvalidCiphertext,
            "The ciphertext is invalid, or the encryption context does not match",
        )
    }
    pub(crate) fn internal(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::KmsInternal, msg)
    }
    pub(crate) fn corrupted(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::StoreCorrupted, msg)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
