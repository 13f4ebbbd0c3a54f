//! Keyrings described as data: the one table every binding builds
//! keyrings from.
//!
//! A [`KeyringSpec`] is a tagged record (`{"type": "RawAes", ...}`) whose
//! variants and member names follow the AWS Material Providers Library's
//! `Create…KeyringInput` shapes (camelCase members). Python (pythonize) and
//! JavaScript (serde-wasm-bindgen) hand their native dicts / objects to
//! serde; Kotlin and Swift get the same enum through uniffi. Adding a
//! keyring is a variant here and its arm in [`KeyringSpec::build`]; no
//! binding changes. Composition (multi-keyrings, the caching and the
//! required-encryption-context materials managers) is done on built
//! keyrings ([`multi`]).
//!
//! Secret members (wrapping keys, private keys) are [`SecretBytes`]:
//! zeroized on drop, redacted in `Debug`.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use super::ecdh::{EcdhCurve, KmsEcdhKeyring, RawEcdhKeyring};
use super::keyring::{DiscoveryFilter, Keyring, KmsKeyring, MultiKeyring, RawAesKeyring};
use super::raw_rsa::{RawRsaKeyring, RsaPadding};
use crate::error::{Error, Result};
use crate::kms::Kms;
use crate::secret::SecretBytes;

/// One keyring, described as data. See the module docs.
#[derive(Clone, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum KeyringSpec {
    /// A raw AES-128, -192 or -256 wrapping key (the key's length picks the
    /// size), wire-identical to the official SDKs' raw AES keyring.
    #[serde(rename_all = "camelCase")]
    RawAes {
        key_namespace: String,
        key_name: String,
        wrapping_key: SecretBytes,
    },
    /// A raw RSA key pair (PEM text or DER bytes of either or both keys):
    /// the public key encrypts, the private key decrypts.
    #[serde(rename_all = "camelCase")]
    RawRsa {
        key_namespace: String,
        key_name: String,
        padding_scheme: RsaPadding,
        #[serde(default, with = "crate::shape::opt_blob")]
        public_key: Option<Vec<u8>>,
        #[serde(default)]
        private_key: Option<SecretBytes>,
    },
    /// Strongroom KMS keys through this KMS handle's public API: the first
    /// generates each data key, every one wraps it and can open it.
    #[serde(rename_all = "camelCase")]
    AwsKms {
        key_ids: Vec<String>,
        #[serde(default)]
        grant_tokens: Vec<String>,
    },
    /// The raw ECDH keyring (`ECC_NIST_P256` or `ECC_NIST_P384`).
    #[serde(rename_all = "camelCase")]
    RawEcdh {
        curve_spec: EcdhCurve,
        key_agreement_scheme: RawEcdhScheme,
    },
    /// The KMS ECDH keyring, through this KMS handle's `DeriveSharedSecret`.
    #[serde(rename_all = "camelCase")]
    AwsKmsEcdh {
        curve_spec: EcdhCurve,
        key_agreement_scheme: KmsEcdhScheme,
        #[serde(default)]
        grant_tokens: Vec<String>,
    },
    /// Decrypt-only: any KMS key the caller may use, or only keys of the
    /// filter's partition and accounts. Multi-Region keys open in this
    /// handle's Region whichever Region wrapped them.
    #[serde(rename_all = "camelCase")]
    AwsKmsDiscovery {
        #[serde(default)]
        grant_tokens: Vec<String>,
        #[serde(default)]
        discovery_filter: Option<DiscoveryFilter>,
    },
}

/// The raw ECDH keyring's key agreement schema (the MPL's
/// `RawEcdhStaticConfigurations` union: one member naming the schema).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum RawEcdhScheme {
    /// The sender's static private key (PKCS#8, PEM or DER) and the
    /// recipient's public key (SPKI DER or PEM): encrypt and decrypt.
    #[serde(rename_all = "camelCase")]
    RawPrivateKeyToStaticPublicKey {
        sender_static_private_key: SecretBytes,
        #[serde(with = "crate::shape::blob")]
        recipient_public_key: Vec<u8>,
    },
    /// A fresh sender key per message: encrypt only.
    #[serde(rename_all = "camelCase")]
    EphemeralPrivateKeyToStaticPublicKey {
        #[serde(with = "crate::shape::blob")]
        recipient_public_key: Vec<u8>,
    },
    /// The recipient's private key opens messages for its public key from
    /// any sender: decrypt only.
    #[serde(rename_all = "camelCase")]
    PublicKeyDiscovery {
        recipient_static_private_key: SecretBytes,
    },
}

/// The KMS ECDH keyring's key agreement schema (the MPL's
/// `KmsEcdhStaticConfigurations`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum KmsEcdhScheme {
    /// The sender's KMS `KEY_AGREEMENT` key and the recipient's public key.
    #[serde(rename_all = "camelCase")]
    KmsPrivateKeyToStaticPublicKey {
        sender_kms_identifier: String,
        #[serde(with = "crate::shape::blob")]
        recipient_public_key: Vec<u8>,
    },
    /// The recipient's KMS key opens messages for its public key: decrypt only.
    #[serde(rename_all = "camelCase")]
    KmsPublicKeyDiscovery { recipient_kms_identifier: String },
}

impl fmt::Debug for KeyringSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Variant names only: secret members are redacted by their own
        // Debug, but there is no reason to print the rest either.
        f.write_str(self.kind())
    }
}

impl KeyringSpec {
    /// The variant's name, as the `type` member spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyringSpec::RawAes { .. } => "RawAes",
            KeyringSpec::RawRsa { .. } => "RawRsa",
            KeyringSpec::AwsKms { .. } => "AwsKms",
            KeyringSpec::AwsKmsDiscovery { .. } => "AwsKmsDiscovery",
            KeyringSpec::RawEcdh { .. } => "RawEcdh",
            KeyringSpec::AwsKmsEcdh { .. } => "AwsKmsEcdh",
        }
    }

    /// Build the keyring. KMS-backed keyrings need `kms`, the handle whose
    /// caller, policies and audit they act under.
    pub fn build(&self, kms: Option<&Kms>) -> Result<Arc<dyn Keyring>> {
        let need_kms = || {
            kms.ok_or_else(|| {
                Error::validation(format!("a {} keyring needs a KMS handle", self.kind()))
            })
        };
        Ok(match self {
            KeyringSpec::RawAes {
                key_namespace,
                key_name,
                wrapping_key,
            } => Arc::new(RawAesKeyring::new(
                key_namespace.clone(),
                key_name.clone(),
                wrapping_key.as_bytes(),
            )?),
            KeyringSpec::RawRsa {
                key_namespace,
                key_name,
                padding_scheme,
                public_key,
                private_key,
            } => Arc::new(RawRsaKeyring::new(
                key_namespace.clone(),
                key_name.clone(),
                *padding_scheme,
                public_key.as_deref(),
                private_key.as_ref().map(|k| k.as_bytes()),
            )?),
            KeyringSpec::AwsKms {
                key_ids,
                grant_tokens,
            } => {
                let (g, rest) = key_ids.split_first().ok_or_else(|| {
                    Error::validation("an AwsKms keyring needs at least one key id")
                })?;
                Arc::new(
                    KmsKeyring::with_keys(need_kms()?, Some(g.clone()), rest.to_vec())
                        .with_grant_tokens(grant_tokens.clone()),
                )
            }
            KeyringSpec::RawEcdh {
                curve_spec,
                key_agreement_scheme,
            } => Arc::new(match key_agreement_scheme {
                RawEcdhScheme::RawPrivateKeyToStaticPublicKey {
                    sender_static_private_key,
                    recipient_public_key,
                } => RawEcdhKeyring::static_keys(
                    *curve_spec,
                    sender_static_private_key.as_bytes(),
                    recipient_public_key,
                )?,
                RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey {
                    recipient_public_key,
                } => RawEcdhKeyring::ephemeral(*curve_spec, recipient_public_key)?,
                RawEcdhScheme::PublicKeyDiscovery {
                    recipient_static_private_key,
                } => {
                    RawEcdhKeyring::discovery(*curve_spec, recipient_static_private_key.as_bytes())?
                }
            }),
            KeyringSpec::AwsKmsEcdh {
                curve_spec,
                key_agreement_scheme,
                grant_tokens,
            } => Arc::new(
                match key_agreement_scheme {
                    KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
                        sender_kms_identifier,
                        recipient_public_key,
                    } => KmsEcdhKeyring::static_keys(
                        need_kms()?,
                        *curve_spec,
                        sender_kms_identifier,
                        recipient_public_key,
                    )?,
                    KmsEcdhScheme::KmsPublicKeyDiscovery {
                        recipient_kms_identifier,
                    } => KmsEcdhKeyring::discovery(
                        need_kms()?,
                        *curve_spec,
                        recipient_kms_identifier,
                    )?,
                }
                .with_grant_tokens(grant_tokens.clone()),
            ),
            KeyringSpec::AwsKmsDiscovery {
                grant_tokens,
                discovery_filter,
            } => {
                let k = KmsKeyring::discovery(need_kms()?).with_grant_tokens(grant_tokens.clone());
                Arc::new(match discovery_filter {
                    Some(f) => k.with_discovery_filter(f.clone())?,
                    None => k,
                })
            }
        })
    }
}

/// A generator keyring plus children (see [`MultiKeyring`]).
pub fn multi(
    generator: Option<Arc<dyn Keyring>>,
    children: Vec<Arc<dyn Keyring>>,
) -> Result<Arc<dyn Keyring>> {
    Ok(Arc::new(MultiKeyring::new(generator, children)?))
}
