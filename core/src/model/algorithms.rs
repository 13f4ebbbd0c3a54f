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
    #[serde(rename = "ECDSA_SHA_512")]
    EcdsaSha512,
    /// SM2 keys (recognised; this build does not create SM2 keys).
    #[serde(rename = "SM2DSA")]
    Sm2dsa,
    /// FIPS 204 ML-DSA (pure, empty context), hedged.
    #[serde(rename = "ML_DSA_SHAKE_256")]
    MlDsaShake256,
    /// RFC 8032 Ed25519 (PureEdDSA): MessageType RAW only.
    #[serde(rename = "ED25519_SHA_512")]
    Ed25519Sha512,
    /// RFC 8032 Ed25519ph over a SHA-512 digest: MessageType DIGEST only.
    #[serde(rename = "ED25519_PH_SHA_512")]
    Ed25519PhSha512,
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
            EcdsaSha512 => "ECDSA_SHA_512",
            Sm2dsa => "SM2DSA",
            MlDsaShake256 => "ML_DSA_SHAKE_256",
            Ed25519Sha512 => "ED25519_SHA_512",
            Ed25519PhSha512 => "ED25519_PH_SHA_512",
        }
    }
    /// The length a DIGEST message must have, or `None` where the
    /// algorithm takes no DIGEST message (ED25519_SHA_512, ML_DSA_SHAKE_256).
    pub fn digest_len(self) -> Option<usize> {
        use SigningAlgorithm::*;
        match self {
            EcdsaSha256 | RsassaPssSha256 | RsassaPkcs1V15Sha256 | Sm2dsa => Some(32),
            EcdsaSha384 | RsassaPssSha384 | RsassaPkcs1V15Sha384 => Some(48),
            RsassaPssSha512 | RsassaPkcs1V15Sha512 | EcdsaSha512 | Ed25519PhSha512 => Some(64),
            MlDsaShake256 | Ed25519Sha512 => None,
        }
    }
    /// The message types the algorithm signs (AWS: Ed25519 pure is RAW
    /// only and Ed25519ph DIGEST only; ML-DSA is RAW or EXTERNAL_MU; the
    /// rest RAW or DIGEST).
    pub fn message_types(self) -> &'static [MessageType] {
        use SigningAlgorithm::*;
        match self {
            Ed25519Sha512 => &[MessageType::Raw],
            Ed25519PhSha512 => &[MessageType::Digest],
            MlDsaShake256 => &[MessageType::Raw, MessageType::ExternalMu],
            _ => &[MessageType::Raw, MessageType::Digest],
        }
    }
    pub fn for_spec(spec: KeySpec) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm::*;
        match spec {
            KeySpec::EccNistP256 => &[EcdsaSha256],
            KeySpec::EccNistP384 => &[EcdsaSha384],
            KeySpec::EccNistP521 => &[EcdsaSha512],
            KeySpec::EccSecgP256k1 => &[EcdsaSha256],
            KeySpec::EccNistEdwards25519 => &[Ed25519Sha512, Ed25519PhSha512],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[MlDsaShake256],
            KeySpec::Sm2 => &[Sm2dsa],
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
    /// ML-DSA only: the 64-byte FIPS 204 μ, computed by the caller.
    #[serde(rename = "EXTERNAL_MU")]
    ExternalMu,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Raw => "RAW",
            MessageType::Digest => "DIGEST",
            MessageType::ExternalMu => "EXTERNAL_MU",
        }
    }
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
