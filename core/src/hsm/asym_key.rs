//! Private and secret material of asymmetric and HMAC keys ([`AsymKey`]):
//! generation, the stored form, signing, decryption, ECDH and MAC. Only the
//! HSM holds an `AsymKey`; public-key operations (Verify with a public key,
//! signature formats) stay in `asym.rs`.

use std::fmt;

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::signature::{RandomizedSigner, Signer};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::sha2::{Sha256 as Sha256_11, Sha384 as Sha384_11, Sha512 as Sha512_11};
use rsa::traits::PublicKeyParts;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::asym::{check_digest, internal, rsa_verify, verify_p256_vk, verify_p384_vk, RngAdapter};
use crate::env::Rng;
use crate::error::{Error, ErrorCode, Result};
use crate::model::{KeySpec, MacAlgorithm, MessageType, SigningAlgorithm};

/// Private or secret material of a non-symmetric key. No Clone, no
/// PartialEq, redacted Debug; the wrapped types zeroize on drop.
pub(crate) enum AsymKey {
    /// Holds the ECDSA signing key (it caches the public key); ECDH uses
    /// its scalar.
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<rsa::PrivateKey>),
    Hmac(KeySpec, Zeroizing<Vec<u8>>),
}

impl fmt::Debug for AsymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            AsymKey::P256(_) => "P256",
            AsymKey::P384(_) => "P384",
            AsymKey::Rsa(_) => "RSA",
            AsymKey::Hmac(..) => "HMAC",
        };
        write!(f, "AsymKey::{kind}(<redacted>)")
    }
}

const TAG_P256: u8 = 0x03;
const TAG_P384: u8 = 0x04;
const TAG_RSA: u8 = 0x05;
const TAG_HMAC: u8 = 0x06;

/// The HMAC spec byte of sealed HMAC material (`TAG_HMAC ‖ code ‖ key`): a
/// fixed table, independent of the order of [`KeySpec`]'s variants. The
/// codes are the values the first format wrote (the `KeySpec` indexes of
/// the time), frozen, so material sealed before the table existed reads
/// back as the same spec with the same material id.
const HMAC_SPEC_CODES: [(KeySpec, u8); 4] = [
    (KeySpec::Hmac224, 0x09),
    (KeySpec::Hmac256, 0x0a),
    (KeySpec::Hmac384, 0x0b),
    (KeySpec::Hmac512, 0x0c),
];

fn hmac_spec_code(spec: KeySpec) -> Result<u8> {
    HMAC_SPEC_CODES
        .iter()
        .find(|(s, _)| *s == spec)
        .map(|(_, c)| *c)
        .ok_or_else(|| internal("HMAC spec code"))
}

fn hmac_spec_from_code(code: u8) -> Option<KeySpec> {
    HMAC_SPEC_CODES
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(s, _)| *s)
}

fn random_scalar_bytes(rng: &dyn Rng, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut b = Zeroizing::new(vec![0u8; len]);
    rng.fill(&mut b)?;
    Ok(b)
}

/// The key length of an HMAC spec (28/32/48/64 bytes).
fn hmac_key_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Hmac224 => 28,
        KeySpec::Hmac256 => 32,
        KeySpec::Hmac384 => 48,
        _ => 64,
    }
}

impl AsymKey {
    pub fn generate(spec: KeySpec, rng: &dyn Rng) -> Result<AsymKey> {
        Ok(match spec {
            KeySpec::EccNistP256 => loop {
                // Rejection sampling: a uniformly random valid scalar.
                let b = random_scalar_bytes(rng, 32)?;
                if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&b) {
                    break AsymKey::P256(k);
                }
            },
            KeySpec::EccNistP384 => loop {
                let b = random_scalar_bytes(rng, 48)?;
                if let Ok(k) = p384::ecdsa::SigningKey::from_slice(&b) {
                    break AsymKey::P384(k);
                }
            },
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let bits = match spec {
                    KeySpec::Rsa2048 => 2048,
                    KeySpec::Rsa3072 => 3072,
                    _ => 4096,
                };
                let k = rsa::PrivateKey::new(&mut RngAdapter(rng), bits)
                    .map_err(|_| internal("RSA key generation"))?;
                AsymKey::Rsa(Box::new(k))
            }
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                AsymKey::Hmac(spec, random_scalar_bytes(rng, hmac_key_len(spec))?)
            }
            other => {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!("KeySpec {other} is not supported"),
                ))
            }
        })
    }

    /// Caller-chosen material for a key of `spec` (seed files, INSECURE:
    /// for tests only): the PKCS#8 DER private key of an RSA or ECC key
    /// (its size or curve must be the spec's), or the raw secret of an
    /// HMAC key (28/32/48/64 bytes for HMAC_224/256/384/512). The error
    /// names the spec and what is wrong, never the bytes.
    pub fn from_chosen(spec: KeySpec, material: &[u8]) -> Result<AsymKey> {
        let bad = |what: &str| {
            Error::validation(format!(
                "the chosen key material is not {what} for a {spec} key"
            ))
        };
        Ok(match spec {
            KeySpec::EccNistP256 => AsymKey::P256(
                p256::ecdsa::SigningKey::from_pkcs8_der(material)
                    .map_err(|_| bad("a PKCS#8 P-256 private key"))?,
            ),
            KeySpec::EccNistP384 => AsymKey::P384(
                p384::ecdsa::SigningKey::from_pkcs8_der(material)
                    .map_err(|_| bad("a PKCS#8 P-384 private key"))?,
            ),
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let bytes = match spec {
                    KeySpec::Rsa2048 => 256,
                    KeySpec::Rsa3072 => 384,
                    _ => 512,
                };
                let k = rsa::PrivateKey::from_pkcs8_der(material)
                    .map_err(|_| bad("a PKCS#8 RSA private key"))?;
                if k.size() != bytes {
                    return Err(bad("an RSA private key of the spec's size"));
                }
                AsymKey::Rsa(Box::new(k))
            }
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                if material.len() != hmac_key_len(spec) {
                    return Err(bad(&format!("{} bytes", hmac_key_len(spec))));
                }
                AsymKey::Hmac(spec, Zeroizing::new(material.to_vec()))
            }
            other => {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!("KeySpec {other} is not supported"),
                ))
            }
        })
    }

    /// The sealed-at-rest form: a kind tag and PKCS#8 DER (raw for HMAC).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let (tag, der): (u8, Zeroizing<Vec<u8>>) = match self {
            AsymKey::P256(k) => (
                TAG_P256,
                Zeroizing::new(
                    k.to_pkcs8_der()
                        .map_err(|_| internal("PKCS#8 encoding"))?
                        .as_bytes()
                        .to_vec(),
                ),
            ),
            AsymKey::P384(k) => (
                TAG_P384,
                Zeroizing::new(
                    k.to_pkcs8_der()
                        .map_err(|_| internal("PKCS#8 encoding"))?
                        .as_bytes()
                        .to_vec(),
                ),
            ),
            AsymKey::Rsa(k) => (
                TAG_RSA,
                Zeroizing::new(
                    k.to_pkcs8_der()
                        .map_err(|_| internal("PKCS#8 encoding"))?
                        .as_bytes()
                        .to_vec(),
                ),
            ),
            AsymKey::Hmac(spec, b) => {
                let mut v = Zeroizing::new(vec![hmac_spec_code(*spec)?]);
                v.extend_from_slice(b);
                (TAG_HMAC, v)
            }
        };
        let mut out = Zeroizing::new(Vec::with_capacity(der.len() + 1));
        out.push(tag);
        out.extend_from_slice(&der);
        Ok(out)
    }

    pub fn from_bytes(b: &[u8]) -> Option<AsymKey> {
        let (tag, rest) = b.split_first()?;
        Some(match *tag {
            TAG_P256 => AsymKey::P256(p256::ecdsa::SigningKey::from_pkcs8_der(rest).ok()?),
            TAG_P384 => AsymKey::P384(p384::ecdsa::SigningKey::from_pkcs8_der(rest).ok()?),
            TAG_RSA => AsymKey::Rsa(Box::new(rsa::PrivateKey::from_pkcs8_der(rest).ok()?)),
            TAG_HMAC => {
                let (s, key) = rest.split_first()?;
                let spec = hmac_spec_from_code(*s)?;
                if key.len() != hmac_key_len(spec) {
                    return None;
                }
                AsymKey::Hmac(spec, Zeroizing::new(key.to_vec()))
            }
            _ => return None,
        })
    }

    /// PKCS#8 DER of the private key (GenerateDataKeyPair's plaintext).
    pub fn private_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        let b = self.to_bytes()?;
        Ok(Zeroizing::new(b[1..].to_vec()))
    }

    /// DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        let r = match self {
            AsymKey::P256(k) => k.verifying_key().to_public_key_der(),
            AsymKey::P384(k) => k.verifying_key().to_public_key_der(),
            AsymKey::Rsa(k) => rsa::PublicKey::from(k.as_ref()).to_public_key_der(),
            AsymKey::Hmac(..) => {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    "HMAC keys have no public key",
                ))
            }
        };
        r.map(|d| d.as_bytes().to_vec())
            .map_err(|_| internal("SPKI encoding"))
    }

    pub fn sign(
        &self,
        alg: SigningAlgorithm,
        mt: MessageType,
        msg: &[u8],
        rng: &dyn Rng,
    ) -> Result<Vec<u8>> {
        use SigningAlgorithm::*;
        check_digest(alg, mt, msg)?;
        let fail = || internal("signing");
        match (self, alg) {
            (AsymKey::P256(sk), EcdsaSha256) => {
                let sig: p256::ecdsa::Signature = match mt {
                    MessageType::Raw => sk.try_sign(msg).map_err(|_| fail())?,
                    MessageType::Digest => sk.sign_prehash(msg).map_err(|_| fail())?,
                };
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (AsymKey::P384(sk), EcdsaSha384) => {
                let sig: p384::ecdsa::Signature = match mt {
                    MessageType::Raw => sk.try_sign(msg).map_err(|_| fail())?,
                    MessageType::Digest => sk.sign_prehash(msg).map_err(|_| fail())?,
                };
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (AsymKey::Rsa(k), alg) => rsa_sign(k, alg, mt, msg, rng),
            _ => Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                format!("signing algorithm {} does not match the key", alg.as_str()),
            )),
        }
    }

    pub fn verify(
        &self,
        alg: SigningAlgorithm,
        mt: MessageType,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<bool> {
        match self {
            AsymKey::P256(k) => verify_p256_vk(k.verifying_key(), alg, mt, msg, sig),
            AsymKey::P384(k) => verify_p384_vk(k.verifying_key(), alg, mt, msg, sig),
            AsymKey::Rsa(k) => rsa_verify(&rsa::PublicKey::from(k.as_ref()), alg, mt, msg, sig),
            AsymKey::Hmac(..) => Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                "HMAC keys do not sign",
            )),
        }
    }

    /// ECDH: the raw shared x-coordinate with the peer's DER SPKI key.
    pub fn derive_shared_secret(&self, peer_spki: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            AsymKey::P256(k) => ecdh_p256(k.as_nonzero_scalar(), peer_spki),
            AsymKey::P384(k) => ecdh_p384(k.as_nonzero_scalar(), peer_spki),
            _ => Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                "key agreement needs an ECC_NIST_P256 or ECC_NIST_P384 KEY_AGREEMENT key",
            )),
        }
    }

    pub fn rsa_encrypt(&self, pt: &[u8], rng: &dyn Rng) -> Result<Vec<u8>> {
        let AsymKey::Rsa(k) = self else {
            return Err(Error::new(ErrorCode::InvalidKeyUsage, "not an RSA key"));
        };
        let max = k.size() - 2 * 32 - 2;
        if pt.is_empty() || pt.len() > max {
            return Err(Error::validation(format!(
                "Plaintext must be 1 to {max} bytes for this key with RSAES_OAEP_SHA_256"
            )));
        }
        rsa::PublicKey::from(k.as_ref())
            .encrypt(&mut RngAdapter(rng), rsa::Oaep::<Sha256_11>::new(), pt)
            .map_err(|_| internal("RSA encryption"))
    }

    /// RSA-OAEP decryption, always blinded (the crate's recommended,
    /// constant-time-aware path). Failures are the opaque ciphertext error.
    pub fn rsa_decrypt(&self, ct: &[u8], rng: &dyn Rng) -> Result<Zeroizing<Vec<u8>>> {
        let AsymKey::Rsa(k) = self else {
            return Err(Error::new(ErrorCode::InvalidKeyUsage, "not an RSA key"));
        };
        k.decrypt_blinded(&mut RngAdapter(rng), rsa::Oaep::<Sha256_11>::new(), ct)
            .map(Zeroizing::new)
            .map_err(|_| Error::invalid_ciphertext())
    }

    /// Modulus length in bytes of an RSA key.
    pub fn rsa_modulus_len(&self) -> Result<usize> {
        match self {
            AsymKey::Rsa(k) => Ok(k.size()),
            _ => Err(Error::new(ErrorCode::InvalidKeyUsage, "not an RSA key")),
        }
    }

    pub fn mac(&self, alg: MacAlgorithm, msg: &[u8]) -> Result<Vec<u8>> {
        let AsymKey::Hmac(spec, key) = self else {
            return Err(Error::new(ErrorCode::InvalidKeyUsage, "not an HMAC key"));
        };
        if MacAlgorithm::for_spec(*spec) != Some(alg) {
            return Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                format!(
                    "MAC algorithm {} does not match key spec {spec}",
                    alg.as_str()
                ),
            ));
        }
        Ok(hmac_raw(alg, key, msg))
    }

    /// Constant-time MAC check.
    pub fn verify_mac(&self, alg: MacAlgorithm, msg: &[u8], tag: &[u8]) -> Result<bool> {
        let want = self.mac(alg, msg)?;
        Ok(want.len() == tag.len() && bool::from(want.as_slice().ct_eq(tag)))
    }
}

pub(crate) fn hmac_raw(alg: MacAlgorithm, key: &[u8], msg: &[u8]) -> Vec<u8> {
    macro_rules! run {
        ($h:ty) => {{
            let mut m = <Hmac<$h> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }};
    }
    match alg {
        MacAlgorithm::HmacSha224 => run!(sha2::Sha224),
        MacAlgorithm::HmacSha256 => run!(sha2::Sha256),
        MacAlgorithm::HmacSha384 => run!(sha2::Sha384),
        MacAlgorithm::HmacSha512 => run!(sha2::Sha512),
    }
}

/// ECDH on P-256 with a peer DER SPKI public key (the path
/// DeriveSharedSecret uses; Wycheproof runs through it).
pub(crate) fn ecdh_p256(k: &p256::NonZeroScalar, peer_spki: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let peer = p256::PublicKey::from_public_key_der(peer_spki).map_err(|_| {
        Error::validation(
            "PublicKey must be a DER SubjectPublicKeyInfo for a point on the ECC_NIST_P256 curve",
        )
    })?;
    let shared = p256::ecdh::diffie_hellman(k, peer.as_affine());
    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
}

pub(crate) fn ecdh_p384(k: &p384::NonZeroScalar, peer_spki: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let peer = p384::PublicKey::from_public_key_der(peer_spki).map_err(|_| {
        Error::validation(
            "PublicKey must be a DER SubjectPublicKeyInfo for a point on the ECC_NIST_P384 curve",
        )
    })?;
    let shared = p384::ecdh::diffie_hellman(k, peer.as_affine());
    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
}

fn rsa_sign(
    k: &rsa::PrivateKey,
    alg: SigningAlgorithm,
    mt: MessageType,
    msg: &[u8],
    rng: &dyn Rng,
) -> Result<Vec<u8>> {
    use SigningAlgorithm::*;
    check_digest(alg, mt, msg)?;
    let fail = |_| internal("RSA signing");
    macro_rules! pss {
        ($d:ty) => {{
            let sk = rsa::pss::SigningKey::<$d>::new(k.clone());
            match mt {
                MessageType::Raw => sk
                    .try_sign_with_rng(&mut RngAdapter(rng), msg)
                    .map_err(fail)?,
                MessageType::Digest => {
                    use p256::ecdsa::signature::hazmat::RandomizedPrehashSigner;
                    sk.sign_prehash_with_rng(&mut RngAdapter(rng), msg)
                        .map_err(fail)?
                }
            }
            .into()
        }};
    }
    macro_rules! pkcs1 {
        ($d:ty) => {{
            let sk = rsa::pkcs1v15::SigningKey::<$d>::new(k.clone());
            match mt {
                MessageType::Raw => sk.try_sign(msg).map_err(fail)?,
                MessageType::Digest => sk.sign_prehash(msg).map_err(fail)?,
            }
            .into()
        }};
    }
    let sig: Box<[u8]> = match alg {
        RsassaPssSha256 => pss!(Sha256_11),
        RsassaPssSha384 => pss!(Sha384_11),
        RsassaPssSha512 => pss!(Sha512_11),
        RsassaPkcs1V15Sha256 => pkcs1!(Sha256_11),
        RsassaPkcs1V15Sha384 => pkcs1!(Sha384_11),
        RsassaPkcs1V15Sha512 => pkcs1!(Sha512_11),
        _ => {
            return Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                format!("RSA keys do not sign with {}", alg.as_str()),
            ))
        }
    };
    Ok(sig.into_vec())
}

#[cfg(test)]
mod stored_form {
    use super::*;
    use crate::env::DangerousSeededRng;

    /// HMAC material is stored with a code from a fixed table (the values
    /// the first format wrote), not with whatever index the spec has in
    /// `KeySpec` today.
    #[test]
    fn hmac_spec_codes_are_a_fixed_table() {
        let rng = DangerousSeededRng::new([4; 32]);
        for (spec, code, len) in [
            (KeySpec::Hmac224, 0x09u8, 28usize),
            (KeySpec::Hmac256, 0x0a, 32),
            (KeySpec::Hmac384, 0x0b, 48),
            (KeySpec::Hmac512, 0x0c, 64),
        ] {
            let k = AsymKey::generate(spec, &rng).unwrap();
            let b = k.to_bytes().unwrap();
            assert_eq!(b[0], TAG_HMAC);
            assert_eq!(b[1], code, "{spec}");
            assert_eq!(b.len(), 2 + len);
            // Material written by the first format (same bytes) reads back
            // as the same spec and the same key.
            let mut old = vec![0x06, code];
            old.extend_from_slice(&b[2..]);
            match AsymKey::from_bytes(&old) {
                Some(AsymKey::Hmac(s, key)) => {
                    assert_eq!(s, spec);
                    assert_eq!(&key[..], &b[2..]);
                }
                other => panic!("{spec}: {other:?}"),
            }
        }
    }

    /// A code that is not an HMAC spec (say the index of RSA_2048 or of
    /// SYMMETRIC_DEFAULT), or a key of the wrong length for its spec, is
    /// unreadable material, not an "HMAC key" of a non-HMAC spec.
    #[test]
    fn hmac_material_with_a_foreign_spec_code_is_refused() {
        for code in [0x00u8, 0x01, 0x04, 0x08, 0x0d, 0x10, 0xff] {
            let mut b = vec![TAG_HMAC, code];
            b.extend_from_slice(&[7u8; 32]);
            assert!(AsymKey::from_bytes(&b).is_none(), "code {code:#04x}");
        }
        let mut short = vec![TAG_HMAC, 0x0a];
        short.extend_from_slice(&[7u8; 31]);
        assert!(AsymKey::from_bytes(&short).is_none());
        assert!(AsymKey::from_bytes(&[TAG_HMAC, 0x0c]).is_none());
    }
}
