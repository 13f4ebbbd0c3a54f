//! The signing and MAC algorithms and message types of asymmetric and HMAC
//! keys (AWS names). Plain values: the primitives that use them live in
//! `asym.rs` (public keys) and `hsm/` (private keys).

use super::KeySpec;

/// Signing algorithms (AWS names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum SigningAlgorithm {
    #[serde(rename = "ECDSA_SHA_256")]
    EcdsaSha256,
    #[serde(rename = "ECDSA_SHA_384")]
    EcdsaSha384,
    #[serde(rename = "RSASSA_PSS_SHA_256")]
    RsassaPssSha256,
    #[serde(rename = "RSASSA_PSS_SHA_384")]
    RsassaPssSha384,
    #[serde(rename = "RSASSA_PSS_SHA_512")]
    RsassaPssSha512,
    #[serde(rename = "RSASSA_PKCS1_V1_5_SHA_256")]
    RsassaPkcs1V15Sha256,
    #[serde(rename = "RSASSA_PKCS1_V1_5_SHA_384")]
    RsassaPkcs1V15Sha384,
    #[serde(rename = "RSASSA_PKCS1_V1_5_SHA_512")]
    RsassaPkcs1V15Sha512,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        use SigningAlgorithm::*;
        match self {
            EcdsaSha256 => "ECDSA_SHA_256",
            EcdsaSha384 => "ECDSA_SHA_384",
            RsassaPssSha256 => "RSASSA_PSS_SHA_256",
            RsassaPssSha384 => "RSASSA_PSS_SHA_384",
            RsassaPssSha512 => "RSASSA_PSS_SHA_512",
            RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
        }
    }
    /// The digest length a DIGEST message must have.
    pub fn digest_len(self) -> usize {
        use SigningAlgorithm::*;
        match self {
            EcdsaSha256 | RsassaPssSha256 | RsassaPkcs1V15Sha256 => 32,
            EcdsaSha384 | RsassaPssSha384 | RsassaPkcs1V15Sha384 => 48,
            RsassaPssSha512 | RsassaPkcs1V15Sha512 => 64,
        }
    }
    pub fn for_spec(spec: KeySpec) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm::*;
        match spec {
            KeySpec::EccNistP256 => &[EcdsaSha256],
            KeySpec::EccNistP384 => &[EcdsaSha384],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
                RsassaPssSha256,
                RsassaPssSha384,
                RsassaPssSha512,
                RsassaPkcs1V15Sha256,
                RsassaPkcs1V15Sha384,
                RsassaPkcs1V15Sha512,
            ],
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum MessageType {
    #[serde(rename = "RAW")]
    Raw,
    #[serde(rename = "DIGEST")]
    Digest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum MacAlgorithm {
    #[serde(rename = "HMAC_SHA_224")]
    HmacSha224,
    #[serde(rename = "HMAC_SHA_256")]
    HmacSha256,
    #[serde(rename = "HMAC_SHA_384")]
    HmacSha384,
    #[serde(rename = "HMAC_SHA_512")]
    HmacSha512,
}

impl MacAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            MacAlgorithm::HmacSha224 => "HMAC_SHA_224",
            MacAlgorithm::HmacSha256 => "HMAC_SHA_256",
            MacAlgorithm::HmacSha384 => "HMAC_SHA_384",
            MacAlgorithm::HmacSha512 => "HMAC_SHA_512",
        }
    }
    pub fn for_spec(spec: KeySpec) -> Option<MacAlgorithm> {
        Some(match spec {
            KeySpec::Hmac224 => MacAlgorithm::HmacSha224,
            KeySpec::Hmac256 => MacAlgorithm::HmacSha256,
            KeySpec::Hmac384 => MacAlgorithm::HmacSha384,
            KeySpec::Hmac512 => MacAlgorithm::HmacSha512,
            _ => return None,
        })
    }
}
