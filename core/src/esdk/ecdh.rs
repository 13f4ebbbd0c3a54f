//! The ECDH keyrings of the AWS Material Providers Library
//! (`framework/raw-ecdh-keyring.md`, `framework/aws-kms/aws-kms-ecdh-keyring.md`,
//! `framework/key-agreement-schemas.md`): a data key wrapped under a key
//! derived from an ECDH shared secret between a sender and a recipient.
//!
//! * [`RawEcdhKeyring`]: local keys — static sender key to static
//!   recipient public key (encrypt and decrypt), an ephemeral sender key
//!   per message (encrypt only), or public-key discovery with the
//!   recipient's private key (decrypt only).
//! * [`KmsEcdhKeyring`]: the sender's (or recipient's) private key is a
//!   Strongroom KMS `KEY_AGREEMENT` key, used through `DeriveSharedSecret`.
//!
//! Wire format (provider id `raw-ecdh` or `aws-kms-ecdh`): provider info =
//! `01 ‖ u32 len ‖ recipient public key ‖ u32 len ‖ sender public key`
//! (compressed SEC1 points); ciphertext = `salt (32) ‖ commitment key (32)
//! ‖ AES-256-GCM(wrapping key, IV 0¹², AAD = FixedInfo, data key) ‖ tag`,
//! where `commitment key ‖ wrapping key` = the first 64 bytes of
//! HMAC-SHA384(Z, [i]₃₂ ‖ FixedInfo ‖ 00 ‖ salt ‖ 00000200) for i = 1, 2
//! (NIST SP 800-108 counter mode), Z is the ECDH shared secret (the
//! x-coordinate), and FixedInfo = `"ecdh-key-derivation" ‖ 00 ‖ curve
//! ("p256", "p384") ‖ 00 ‖ "HMAC_SHA384" ‖ 00 ‖ sender key ‖ recipient key
//! ‖ 00 ‖ 01 ‖ 00 ‖ serialized encryption context`. Curves: P-256 and
//! P-384 (the MPL's P-521 and SM2 are refused with a typed error).

use std::fmt;

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring, OpenedBy};
use super::{serialize_context, Edk};
use crate::api::{DeriveSharedSecretRequest, GetPublicKeyRequest};
use crate::crypto;
use crate::env::Rng;
use crate::error::{Error, ErrorCode, Result};
use crate::kms::Kms;
use crate::model::{KeySpec, KeyUsage};

pub const RAW_ECDH_PROVIDER_ID: &str = "raw-ecdh";
pub const KMS_ECDH_PROVIDER_ID: &str = "aws-kms-ecdh";
const SALT_LEN: usize = 32;
const VERSION: u8 = 1;

/// An ECDH curve (the MPL's `ECDHCurveSpec` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum EcdhCurve {
    #[serde(rename = "ECC_NIST_P256")]
    EccNistP256,
    #[serde(rename = "ECC_NIST_P384")]
    EccNistP384,
}

impl EcdhCurve {
    fn fixed_name(self) -> &'static str {
        match self {
            EcdhCurve::EccNistP256 => "p256",
            EcdhCurve::EccNistP384 => "p384",
        }
    }
    fn key_spec(self) -> KeySpec {
        match self {
            EcdhCurve::EccNistP256 => KeySpec::EccNistP256,
            EcdhCurve::EccNistP384 => KeySpec::EccNistP384,
        }
    }
}

#[derive(Clone)]
enum Priv {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
}

#[derive(Clone, PartialEq, Eq)]
enum Pub {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
}

fn bad_key(what: &str) -> Error {
    Error::validation(format!("{what} is not a valid key of this keyring's curve"))
}

fn pem_text(bytes: &[u8]) -> Option<Zeroizing<String>> {
    let s = std::str::from_utf8(bytes).ok()?;
    s.contains("-----BEGIN")
        .then(|| Zeroizing::new(s.to_string()))
}

/// A PKCS#8 private key, PEM (the MPL's form) or DER.
fn parse_private(curve: EcdhCurve, key: &[u8]) -> Result<Priv> {
    use p256::pkcs8::DecodePrivateKey;
    let err = || bad_key("the private key");
    Ok(match (curve, pem_text(key)) {
        (EcdhCurve::EccNistP256, Some(p)) => {
            Priv::P256(p256::SecretKey::from_pkcs8_pem(&p).map_err(|_| err())?)
        }
        (EcdhCurve::EccNistP256, None) => {
            Priv::P256(p256::SecretKey::from_pkcs8_der(key).map_err(|_| err())?)
        }
        (EcdhCurve::EccNistP384, Some(p)) => {
            Priv::P384(p384::SecretKey::from_pkcs8_pem(&p).map_err(|_| err())?)
        }
        (EcdhCurve::EccNistP384, None) => {
            Priv::P384(p384::SecretKey::from_pkcs8_der(key).map_err(|_| err())?)
        }
    })
}

/// A DER SubjectPublicKeyInfo (the MPL's form; PEM accepted too).
fn parse_public(curve: EcdhCurve, key: &[u8]) -> Result<Pub> {
    use p256::pkcs8::DecodePublicKey;
    let err = || bad_key("the public key");
    Ok(match (curve, pem_text(key)) {
        (EcdhCurve::EccNistP256, Some(p)) => {
            Pub::P256(p256::PublicKey::from_public_key_pem(&p).map_err(|_| err())?)
        }
        (EcdhCurve::EccNistP256, None) => {
            Pub::P256(p256::PublicKey::from_public_key_der(key).map_err(|_| err())?)
        }
        (EcdhCurve::EccNistP384, Some(p)) => {
            Pub::P384(p384::PublicKey::from_public_key_pem(&p).map_err(|_| err())?)
        }
        (EcdhCurve::EccNistP384, None) => {
            Pub::P384(p384::PublicKey::from_public_key_der(key).map_err(|_| err())?)
        }
    })
}

impl Priv {
    fn public(&self) -> Pub {
        match self {
            Priv::P256(k) => Pub::P256(k.public_key()),
            Priv::P384(k) => Pub::P384(k.public_key()),
        }
    }
    fn random(curve: EcdhCurve, rng: &dyn Rng) -> Result<Priv> {
        let mut b = Zeroizing::new([0u8; 48]);
        loop {
            match curve {
                EcdhCurve::EccNistP256 => {
                    rng.fill(&mut b[..32])?;
                    if let Ok(k) = p256::SecretKey::from_slice(&b[..32]) {
                        return Ok(Priv::P256(k));
                    }
                }
                EcdhCurve::EccNistP384 => {
                    rng.fill(&mut b[..])?;
                    if let Ok(k) = p384::SecretKey::from_slice(&b[..]) {
                        return Ok(Priv::P384(k));
                    }
                }
            }
        }
    }
    /// Z: the shared point's x-coordinate.
    fn agree(&self, peer: &Pub) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(match (self, peer) {
            (Priv::P256(k), Pub::P256(p)) => {
                p256::ecdh::diffie_hellman(k.to_nonzero_scalar(), p.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            (Priv::P384(k), Pub::P384(p)) => {
                p384::ecdh::diffie_hellman(k.to_nonzero_scalar(), p.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            _ => return Err(Error::validation("the keys are on different curves")),
        }))
    }
}

impl Pub {
    fn compressed(&self) -> Vec<u8> {
        use p256::elliptic_curve::sec1::ToSec1Point;
        match self {
            Pub::P256(p) => p.to_sec1_point(true).as_bytes().to_vec(),
            Pub::P384(p) => p.to_sec1_point(true).as_bytes().to_vec(),
        }
    }
    fn from_compressed(curve: EcdhCurve, b: &[u8]) -> Option<Pub> {
        match curve {
            EcdhCurve::EccNistP256 => p256::PublicKey::from_sec1_bytes(b).ok().map(Pub::P256),
            EcdhCurve::EccNistP384 => p384::PublicKey::from_sec1_bytes(b).ok().map(Pub::P384),
        }
    }
    fn spki_der(&self) -> Result<Vec<u8>> {
        use p256::pkcs8::EncodePublicKey;
        match self {
            Pub::P256(p) => p.to_public_key_der(),
            Pub::P384(p) => p.to_public_key_der(),
        }
        .map(|d| d.as_bytes().to_vec())
        .map_err(|_| Error::internal("encoding a public key"))
    }
}

fn curve_of(p: &Pub) -> EcdhCurve {
    match p {
        Pub::P256(_) => EcdhCurve::EccNistP256,
        Pub::P384(_) => EcdhCurve::EccNistP384,
    }
}

// ------------------------------------------------------------ the format

fn fixed_info(curve: EcdhCurve, sender: &[u8], recipient: &[u8], ctx: &[u8]) -> Vec<u8> {
    let mut f = b"ecdh-key-derivation\0".to_vec();
    f.extend_from_slice(curve.fixed_name().as_bytes());
    f.push(0);
    f.extend_from_slice(b"HMAC_SHA384\0");
    f.extend_from_slice(sender);
    f.extend_from_slice(recipient);
    f.extend_from_slice(&[0, VERSION, 0]);
    f.extend_from_slice(ctx);
    f
}

/// NIST SP 800-108 KDF in counter mode with HMAC-SHA384, 64 bytes:
/// `HMAC(Z, [i]₃₂ ‖ label ‖ 00 ‖ salt ‖ [512]₃₂)` for i = 1, 2, truncated.
/// (The PRF is the `hmac` crate's; RustCrypto's `kbkdf` 0.0.1 does not
/// build against the released `digest` 0.11.)
fn derive(z: &[u8], label: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 64]>> {
    let mut out = Zeroizing::new([0u8; 64]);
    let mut block = Zeroizing::new([0u8; 96]);
    for i in 1u32..=2 {
        let mut h = <Hmac<sha2::Sha384> as Mac>::new_from_slice(z)
            .map_err(|_| Error::internal("HMAC key"))?;
        h.update(&i.to_be_bytes());
        h.update(label);
        h.update(&[0]);
        h.update(salt);
        h.update(&512u32.to_be_bytes());
        let at = (i as usize - 1) * 48;
        block[at..at + 48].copy_from_slice(&h.finalize().into_bytes());
    }
    out.copy_from_slice(&block[..64]);
    Ok(out)
}

fn provider_info(sender: &[u8], recipient: &[u8]) -> Vec<u8> {
    let mut v = vec![VERSION];
    v.extend_from_slice(&(recipient.len() as u32).to_be_bytes());
    v.extend_from_slice(recipient);
    v.extend_from_slice(&(sender.len() as u32).to_be_bytes());
    v.extend_from_slice(sender);
    v
}

/// (sender, recipient) compressed keys from the provider info.
fn parse_provider_info(info: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&version, rest) = info.split_first()?;
    if version != VERSION || rest.len() < 4 {
        return None;
    }
    let rl = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
    let rest = &rest[4..];
    let recipient = rest.get(..rl)?;
    let rest = &rest[rl..];
    let sl = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let sender = rest.get(4..4 + sl)?;
    (rest.len() == 4 + sl).then_some((sender, recipient))
}

fn wrap(z: &[u8], fi: &[u8], salt: &[u8; SALT_LEN], data_key: &[u8]) -> Result<Vec<u8>> {
    let k = derive(z, fi, salt)?;
    let gcm = crypto::Gcm::new_wiped(&k[32..]).ok_or_else(|| Error::internal("AES-256 key"))?;
    let mut ct = Zeroizing::new(data_key.to_vec());
    let tag = gcm.seal(&[0u8; 12], fi, &mut ct);
    let mut out = Vec::with_capacity(64 + ct.len() + 16);
    out.extend_from_slice(salt);
    out.extend_from_slice(&k[..32]);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    Ok(out)
}

fn unwrap(z: &[u8], fi: &[u8], c: &[u8], key_len: usize) -> Option<Zeroizing<Vec<u8>>> {
    if c.len() != 64 + key_len + 16 {
        return None;
    }
    let k = derive(z, fi, &c[..32]).ok()?;
    if !bool::from(k[..32].ct_eq(&c[32..64])) {
        return None;
    }
    let gcm = crypto::Gcm::new_wiped(&k[32..])?;
    let mut key = Zeroizing::new(c[64..64 + key_len].to_vec());
    gcm.open(&[0u8; 12], fi, &mut key, &c[64 + key_len..])
        .then_some(key)
}

fn random_salt(rng: &dyn Rng) -> Result<[u8; SALT_LEN]> {
    let mut s = [0u8; SALT_LEN];
    rng.fill(&mut s)?;
    Ok(s)
}

fn ensure_data_key(m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()> {
    if m.data_key.is_none() {
        let mut k = Zeroizing::new(vec![0u8; m.suite.key_len]);
        rng.fill(&mut k)?;
        m.set_data_key(k)?;
    }
    Ok(())
}

// ------------------------------------------------------------ raw keyring

enum RawScheme {
    Static { sender: Priv, recipient: Pub },
    Ephemeral { recipient: Pub },
    Discovery { recipient: Priv },
}

/// The raw ECDH keyring (see the module docs). Private keys are zeroized
/// on drop and never printed.
pub struct RawEcdhKeyring {
    curve: EcdhCurve,
    scheme: RawScheme,
}

impl fmt::Debug for RawEcdhKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            RawScheme::Static { .. } => "RawPrivateKeyToStaticPublicKey",
            RawScheme::Ephemeral { .. } => "EphemeralPrivateKeyToStaticPublicKey",
            RawScheme::Discovery { .. } => "PublicKeyDiscovery",
        };
        f.debug_struct("RawEcdhKeyring")
            .field("curve", &self.curve)
            .field("scheme", &scheme)
            .finish_non_exhaustive()
    }
}

impl RawEcdhKeyring {
    /// `RawPrivateKeyToStaticPublicKey`: the sender's private key (PKCS#8,
    /// PEM or DER) and the recipient's public key (SPKI, DER or PEM).
    pub fn static_keys(
        curve: EcdhCurve,
        sender_private_key: &[u8],
        recipient_public_key: &[u8],
    ) -> Result<Self> {
        Ok(RawEcdhKeyring {
            curve,
            scheme: RawScheme::Static {
                sender: parse_private(curve, sender_private_key)?,
                recipient: parse_public(curve, recipient_public_key)?,
            },
        })
    }

    /// `EphemeralPrivateKeyToStaticPublicKey`: a fresh sender key per
    /// message; encrypt only.
    pub fn ephemeral(curve: EcdhCurve, recipient_public_key: &[u8]) -> Result<Self> {
        Ok(RawEcdhKeyring {
            curve,
            scheme: RawScheme::Ephemeral {
                recipient: parse_public(curve, recipient_public_key)?,
            },
        })
    }

    /// `PublicKeyDiscovery`: the recipient's private key opens any message
    /// wrapped for its public key, whoever sent it; decrypt only.
    pub fn discovery(curve: EcdhCurve, recipient_private_key: &[u8]) -> Result<Self> {
        Ok(RawEcdhKeyring {
            curve,
            scheme: RawScheme::Discovery {
                recipient: parse_private(curve, recipient_private_key)?,
            },
        })
    }
}

impl Keyring for RawEcdhKeyring {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()> {
        let ephemeral;
        let (sender, recipient) = match &self.scheme {
            RawScheme::Static { sender, recipient } => (sender, recipient),
            RawScheme::Ephemeral { recipient } => {
                ephemeral = Priv::random(self.curve, rng)?;
                (&ephemeral, recipient)
            }
            RawScheme::Discovery { .. } => {
                return Err(Error::validation(
                    "a public-key-discovery ECDH keyring cannot encrypt",
                ))
            }
        };
        ensure_data_key(m, rng)?;
        let s = sender.public().compressed();
        let r = recipient.compressed();
        let fi = fixed_info(self.curve, &s, &r, &serialize_context(&m.context)?);
        let z = sender.agree(recipient)?;
        let ct = wrap(&z, &fi, &random_salt(rng)?, m.data_key().expect("set"))?;
        m.edks.push(Edk {
            provider_id: RAW_ECDH_PROVIDER_ID.into(),
            provider_info: provider_info(&s, &r),
            ciphertext: ct,
        });
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()> {
        if m.data_key.is_some() {
            return Ok(());
        }
        if let RawScheme::Ephemeral { .. } = self.scheme {
            return Err(Error::validation(
                "an ephemeral-key ECDH keyring cannot decrypt",
            ));
        }
        let ctx = serialize_context(&m.context)?;
        for edk in edks {
            if edk.provider_id != RAW_ECDH_PROVIDER_ID && edk.provider_id != KMS_ECDH_PROVIDER_ID {
                continue;
            }
            let Some((s, r)) = parse_provider_info(&edk.provider_info) else {
                continue;
            };
            let z = match &self.scheme {
                RawScheme::Static { sender, recipient } => {
                    if s != sender.public().compressed() || r != recipient.compressed() {
                        continue;
                    }
                    sender.agree(recipient)?
                }
                RawScheme::Discovery { recipient } => {
                    if r != recipient.public().compressed() {
                        continue;
                    }
                    let Some(peer) = Pub::from_compressed(self.curve, s) else {
                        m.failures.push(Error::invalid_ciphertext());
                        continue;
                    };
                    recipient.agree(&peer)?
                }
                RawScheme::Ephemeral { .. } => unreachable!("refused above"),
            };
            let fi = fixed_info(self.curve, s, r, &ctx);
            match unwrap(&z, &fi, &edk.ciphertext, m.suite.key_len) {
                Some(k) => {
                    return m.set_data_key(
                        k,
                        OpenedBy {
                            provider_id: edk.provider_id.clone(),
                            key_name: hex::encode(r),
                        },
                    )
                }
                None => m.failures.push(Error::invalid_ciphertext()),
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------ KMS keyring

enum KmsScheme {
    Static {
        sender_key: String,
        sender: Pub,
        recipient: Pub,
    },
    Discovery {
        recipient_key: String,
        recipient: Pub,
    },
}

/// The AWS KMS ECDH keyring over Strongroom's `DeriveSharedSecret`: the
/// private key never leaves the KMS, and its key policy, grants and state
/// govern every use.
pub struct KmsEcdhKeyring {
    kms: Kms,
    curve: EcdhCurve,
    scheme: KmsScheme,
    grant_tokens: Vec<String>,
}

impl fmt::Debug for KmsEcdhKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match &self.scheme {
            KmsScheme::Static { sender_key, .. } => sender_key,
            KmsScheme::Discovery { recipient_key, .. } => recipient_key,
        };
        f.debug_struct("KmsEcdhKeyring")
            .field("curve", &self.curve)
            .field("key", key)
            .finish_non_exhaustive()
    }
}

/// The KMS key's ARN and public key, checked to be a key agreement key of
/// the curve.
fn kms_public(
    kms: &Kms,
    key_id: &str,
    curve: EcdhCurve,
    grant_tokens: &[String],
) -> Result<(String, Pub)> {
    let r = kms.get_public_key(GetPublicKeyRequest {
        key_id: key_id.to_string(),
        grant_tokens: grant_tokens.to_vec(),
    })?;
    if r.key_usage != KeyUsage::KeyAgreement || r.key_spec != curve.key_spec() {
        return Err(Error::new(
            ErrorCode::InvalidKeyUsage,
            format!(
                "{} is not a KEY_AGREEMENT key of the keyring's curve",
                r.key_id
            ),
        ));
    }
    Ok((r.key_id, parse_public(curve, &r.public_key)?))
}

impl KmsEcdhKeyring {
    /// `KmsPrivateKeyToStaticPublicKey`: the sender's KMS key and the
    /// recipient's public key (SPKI DER or PEM); encrypt and decrypt.
    pub fn static_keys(
        kms: &Kms,
        curve: EcdhCurve,
        sender_kms_key_id: &str,
        recipient_public_key: &[u8],
    ) -> Result<Self> {
        let (sender_key, sender) = kms_public(kms, sender_kms_key_id, curve, &[])?;
        Ok(KmsEcdhKeyring {
            kms: kms.clone(),
            curve,
            scheme: KmsScheme::Static {
                sender_key,
                sender,
                recipient: parse_public(curve, recipient_public_key)?,
            },
            grant_tokens: Vec::new(),
        })
    }

    /// `KmsPublicKeyDiscovery`: the recipient's KMS key opens messages
    /// wrapped for its public key by any sender; decrypt only.
    pub fn discovery(kms: &Kms, curve: EcdhCurve, recipient_kms_key_id: &str) -> Result<Self> {
        let (recipient_key, recipient) = kms_public(kms, recipient_kms_key_id, curve, &[])?;
        Ok(KmsEcdhKeyring {
            kms: kms.clone(),
            curve,
            scheme: KmsScheme::Discovery {
                recipient_key,
                recipient,
            },
            grant_tokens: Vec::new(),
        })
    }

    pub fn with_grant_tokens(mut self, tokens: Vec<String>) -> Self {
        self.grant_tokens = tokens;
        self
    }

    fn derive_shared(&self, key: &str, peer: &Pub) -> Result<Zeroizing<Vec<u8>>> {
        let r = self.kms.derive_shared_secret(DeriveSharedSecretRequest {
            key_id: key.to_string(),
            key_agreement_algorithm: Some("ECDH".into()),
            public_key: peer.spki_der()?,
            grant_tokens: self.grant_tokens.clone(),
            dry_run: false,
        })?;
        Ok(Zeroizing::new(r.shared_secret.as_bytes().to_vec()))
    }
}

impl Keyring for KmsEcdhKeyring {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()> {
        let KmsScheme::Static {
            sender_key,
            sender,
            recipient,
        } = &self.scheme
        else {
            return Err(Error::validation(
                "a public-key-discovery KMS ECDH keyring cannot encrypt",
            ));
        };
        ensure_data_key(m, rng)?;
        let s = sender.compressed();
        let r = recipient.compressed();
        let fi = fixed_info(self.curve, &s, &r, &serialize_context(&m.context)?);
        let z = self.derive_shared(sender_key, recipient)?;
        let ct = wrap(&z, &fi, &random_salt(rng)?, m.data_key().expect("set"))?;
        m.edks.push(Edk {
            provider_id: KMS_ECDH_PROVIDER_ID.into(),
            provider_info: provider_info(&s, &r),
            ciphertext: ct,
        });
        m.kms_keys.push(sender_key.clone());
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()> {
        if m.data_key.is_some() {
            return Ok(());
        }
        let ctx = serialize_context(&m.context)?;
        for edk in edks {
            if edk.provider_id != KMS_ECDH_PROVIDER_ID && edk.provider_id != RAW_ECDH_PROVIDER_ID {
                continue;
            }
            let Some((s, r)) = parse_provider_info(&edk.provider_info) else {
                continue;
            };
            let (key, peer) = match &self.scheme {
                KmsScheme::Static {
                    sender_key,
                    sender,
                    recipient,
                } => {
                    if s != sender.compressed() || r != recipient.compressed() {
                        continue;
                    }
                    (sender_key, recipient.clone())
                }
                KmsScheme::Discovery {
                    recipient_key,
                    recipient,
                } => {
                    if r != recipient.compressed() {
                        continue;
                    }
                    let Some(peer) = Pub::from_compressed(self.curve, s) else {
                        m.failures.push(Error::invalid_ciphertext());
                        continue;
                    };
                    (recipient_key, peer)
                }
            };
            debug_assert_eq!(curve_of(&peer), self.curve);
            let z = match self.derive_shared(key, &peer) {
                Ok(z) => z,
                Err(e) => {
                    m.failures.push(e);
                    continue;
                }
            };
            let fi = fixed_info(self.curve, s, r, &ctx);
            match unwrap(&z, &fi, &edk.ciphertext, m.suite.key_len) {
                Some(k) => {
                    m.kms_keys.push(key.clone());
                    return m.set_data_key(
                        k,
                        OpenedBy {
                            provider_id: edk.provider_id.clone(),
                            key_name: key.clone(),
                        },
                    );
                }
                None => m.failures.push(Error::invalid_ciphertext()),
            }
        }
        Ok(())
    }

    fn kms_handles(&self) -> Vec<Kms> {
        vec![self.kms.clone()]
    }
}
