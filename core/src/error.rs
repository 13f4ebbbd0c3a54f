//! One error type for every operation, with a stable code string.
//!
//! The code is the AWS exception name wherever AWS has one (`NotFoundException`,
//! `KMSInvalidStateException`, ...), so code written against AWS KMS can match
//! on the same strings. Codes that AWS lacks (store problems) follow the same
//! pattern. Messages name key ARNs and limits but never contain plaintext,
//! key bytes or other secrets: every constructor takes only non-secret text.

use std::fmt;

/// THE error-code table: one row per code, the only place codes are
/// written down. Each row: the variant, the stable code string (AWS's
/// exception name wherever AWS has one), the HTTP status AWS answers with,
/// whether the code is AWS's (`aws`) or Strongroom's own (`strongroom`:
/// store problems AWS cannot have), and when it is raised (the "when"
/// column of `docs/errors.md`, which `tools/codegen` writes from this table).
///
/// Bindings expand it with `$callback!` to declare their exception classes
/// and code unions.
#[macro_export]
macro_rules! for_each_error_code {
    ($callback:path) => {
        $callback! {
            NotFound = "NotFoundException", 400, aws, "the key, alias or ARN does not exist (or belongs to another account/region); a blob whose key was deleted";
            Disabled = "DisabledException", 409, aws, "the key is Disabled";
            KmsInvalidState = "KMSInvalidStateException", 409, aws, "the operation is not allowed in the key's state (pending deletion, ...)";
            InvalidCiphertext = "InvalidCiphertextException", 400, aws, "any malformed or tampered blob, or a wrong/missing/extra encryption context pair — deliberately indistinguishable";
            IncorrectKey = "IncorrectKeyException", 400, aws, "Decrypt/ReEncrypt named a key that did not encrypt the blob";
            InvalidKeyUsage = "InvalidKeyUsageException", 400, aws, "wrong key usage or algorithm for the operation";
            Validation = "ValidationException", 400, aws, "a request parameter breaks a documented constraint";
            LimitExceeded = "LimitExceededException", 400, aws, "per-key or per-region quotas (aliases, tags, 25 on-demand rotations, 100 000 keys)";
            AlreadyExists = "AlreadyExistsException", 400, aws, "alias name in use";
            InvalidAliasName = "InvalidAliasNameException", 400, aws, "alias without `alias/`, or the reserved `alias/aws/` prefix";
            InvalidArn = "InvalidArnException", 400, aws, "reserved (AWS's code for a malformed ARN); Strongroom reports a key ARN it cannot resolve — malformed, or for another account or region — as `NotFoundException`";
            InvalidMarker = "InvalidMarkerException", 400, aws, "a pagination marker this KMS did not issue";
            UnsupportedOperation = "UnsupportedOperationException", 400, aws, "a key kind or origin this build does not support; changing an AWS managed key";
            DryRunOperation = "DryRunOperationException", 412, aws, "`DryRun` was set and the call would have succeeded";
            Conflict = "ConflictException", 409, aws, "on-demand rotation while an automatic one is due within 20 minutes; a replication package that is not newer than the last applied (a replay)";
            Tag = "TagException", 400, aws, "invalid or reserved (`aws:`) tag keys, duplicate tag keys";
            AccessDenied = "AccessDeniedException", 400, aws, "the key policy, identity policies and grants do not allow the call (the message names principal, action, key and reason; see `authorization.md`), or store policy refuses it (disabling rotation while \"rotation required\" is on)";
            MalformedPolicyDocument = "MalformedPolicyDocumentException", 400, aws, "a policy document that does not parse or validate (with the reason), or fails the lockout safety check";
            InvalidGrantToken = "InvalidGrantTokenException", 400, aws, "a grant token this store did not issue";
            InvalidGrantId = "InvalidGrantIdException", 400, aws, "a grant id that is not well-formed";
            KmsInvalidSignature = "KMSInvalidSignatureException", 400, aws, "Verify: the signature does not verify (never a `false` result)";
            KmsInvalidMac = "KMSInvalidMacException", 400, aws, "VerifyMac: the MAC does not match (compared in constant time)";
            ExpiredImportToken = "ExpiredImportTokenException", 400, aws, "ImportKeyMaterial with a token older than 24 hours";
            InvalidImportToken = "InvalidImportTokenException", 400, aws, "an import token not issued for this key by this store";
            IncorrectKeyMaterial = "IncorrectKeyMaterialException", 400, aws, "re-imported material that is not byte-identical to the first import, or material of the wrong size";
            Throttling = "ThrottlingException", 400, aws, "a request over one of AWS's per-second request quotas, when the request-quota simulation (`strongroom::quota`) is on: message \"Rate exceeded\"";
            KmsInternal = "KMSInternalException", 500, aws, "RNG failure or another internal fault";
            InvalidRootKey = "InvalidRootKeyException", 500, strongroom, "the root key or passphrase does not open this store (nothing is written)";
            StoreCorrupted = "StoreCorruptedException", 500, strongroom, "store bytes fail checksums or authentication; a broken audit chain";
            UnsupportedStoreVersion = "UnsupportedStoreVersionException", 500, strongroom, "the store was written by a newer format";
            StoreIo = "StoreIOException", 500, strongroom, "the store could not be read or written, or is locked by another process";
        }
    };
}

macro_rules! error_code_enum {
    ($($variant:ident = $code:literal, $status:literal, $origin:ident, $when:literal;)*) => {
        /// The stable, language-neutral error code. `as_str()` is what every
        /// binding exposes; it never changes once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(#[doc = $when] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The stable code string.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            /// The HTTP status AWS answers this code with (the endpoint's):
            /// 400 for client errors, except the state conflicts
            /// (`DisabledException`, `KMSInvalidStateException`,
            /// `ConflictException`: 409) and `DryRunOperationException`
            /// (412), as the AWS KMS API reference gives them; 500 for
            /// internal and store faults (store faults cannot come from one
            /// request's input: a wrong root key is refused when the store
            /// opens, never per request).
            pub const fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),* }
            }

            /// Whether AWS KMS has this code (the others are Strongroom's
            /// store errors).
            pub const fn is_aws(self) -> bool {
                match self { $(ErrorCode::$variant => error_code_enum!(@aws $origin)),* }
            }

            /// When the code is raised (one line, as in `docs/errors.md`).
            pub const fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $when),* }
            }

            /// Parse a code string (used by the vector runner and bindings).
            pub fn from_code(s: &str) -> Option<ErrorCode> {
                match s { $($code => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
    (@aws aws) => { true };
    (@aws strongroom) => { false };
}

for_each_error_code!(error_code_enum);

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
    /// this crate only pass ARNs, names, limits and fixed text. Public so
    /// bindings and front ends can report their own failures (a malformed
    /// request) with the same codes.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The statuses AWS's KMS API reference gives: 409 for the state
    /// conflicts, 412 for a dry run, 500 for internal faults, 400 for the
    /// rest of AWS's codes.
    #[test]
    fn http_statuses_are_aws_s() {
        for c in ErrorCode::ALL {
            let want = match c {
                ErrorCode::Disabled | ErrorCode::KmsInvalidState | ErrorCode::Conflict => 409,
                ErrorCode::DryRunOperation => 412,
                ErrorCode::KmsInternal => 500,
                c if !c.is_aws() => 500,
                _ => 400,
            };
            assert_eq!(c.http_status(), want, "{c}");
        }
    }
}
