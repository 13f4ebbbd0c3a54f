//! Private and secret material of asymmetric and HMAC keys ([`AsymKey`]):
//! generation, the stored form, signing, decryption, ECDH and MAC. Only the
//! HSM holds an `AsymKey`; public-key operations (Verify with a public key,
//! signature formats) stay in `asym.rs`.

use std::fmt;

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::signature::{RandomizedSigner, Signer};
use p256::elliptic_curve;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::sha2::{Sha256 as Sha256_11, Sha384 as Sha384_11, Sha512 as Sha512_11};
use rsa::traits::PublicKeyParts;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::asym::{
    check_digest, internal, rsa_verify, verify_ed25519_vk, verify_k256_vk, verify_ml_dsa,
    verify_p256_vk, verify_p384_vk, verify_p521_vk, Prehashed, RngAdapter,
};
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
    P521(Box<p521::ecdsa::SigningKey>),
    K256(k256::ecdsa::SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
    MlDsa(MlDsaKey),
    MlKem(MlKemKey),
    Rsa(Box<rsa::PrivateKey>),
    Hmac(KeySpec, Zeroizing<Vec<u8>>),
}

/// An ML-DSA private key: the 32-byte FIPS 204 seed ξ (what is stored and
/// what PKCS#8 carries) and the expanded key signing uses. Both wipe
/// themselves on drop.
pub(crate) struct MlDsaKey {
    seed: Zeroizing<[u8; 32]>,
    expanded: MlDsaExpanded,
}

enum MlDsaExpanded {
    L44(Box<ml_dsa::ExpandedSigningKey<ml_dsa::MlDsa44>>),
    L65(Box<ml_dsa::ExpandedSigningKey<ml_dsa::MlDsa65>>),
    L87(Box<ml_dsa::ExpandedSigningKey<ml_dsa::MlDsa87>>),
}

/// Run `$body` with `$k` bound to the expanded key of whichever parameter
/// set `$m` holds (and `$p` to that parameter set's type).
macro_rules! with_ml_dsa {
    ($m:expr, $k:ident, $p:ident => $body:expr) => {
        match &$m.expanded {
            MlDsaExpanded::L44($k) => {
                #[allow(dead_code)]
                type $p = ml_dsa::MlDsa44;
                $body
            }
            MlDsaExpanded::L65($k) => {
                #[allow(dead_code)]
                type $p = ml_dsa::MlDsa65;
                $body
            }
            MlDsaExpanded::L87($k) => {
                #[allow(dead_code)]
                type $p = ml_dsa::MlDsa87;
                $body
            }
        }
    };
}

/// The parameter set byte of stored ML-DSA material (`TAG_ML_DSA ‖ code ‖ ξ`).
const ML_DSA_SPEC_CODES: [(KeySpec, u8); 3] = [
    (KeySpec::MlDsa44, 0x2c),
    (KeySpec::MlDsa65, 0x41),
    (KeySpec::MlDsa87, 0x57),
];

impl MlDsaKey {
    fn from_seed(spec: KeySpec, seed: &[u8]) -> Option<MlDsaKey> {
        let seed: [u8; 32] = seed.try_into().ok()?;
        let xi = ml_dsa::Seed::from(seed);
        let expanded = match spec {
            KeySpec::MlDsa44 => {
                MlDsaExpanded::L44(Box::new(ml_dsa::ExpandedSigningKey::from_seed(&xi)))
            }
            KeySpec::MlDsa65 => {
                MlDsaExpanded::L65(Box::new(ml_dsa::ExpandedSigningKey::from_seed(&xi)))
            }
            KeySpec::MlDsa87 => {
                MlDsaExpanded::L87(Box::new(ml_dsa::ExpandedSigningKey::from_seed(&xi)))
            }
            _ => return None,
        };
        Some(MlDsaKey {
            seed: Zeroizing::new(seed),
            expanded,
        })
    }

    fn spec(&self) -> KeySpec {
        match self.expanded {
            MlDsaExpanded::L44(_) => KeySpec::MlDsa44,
            MlDsaExpanded::L65(_) => KeySpec::MlDsa65,
            MlDsaExpanded::L87(_) => KeySpec::MlDsa87,
        }
    }

    /// PKCS#8 of the seed-only private key form (RFC 9881 `seed [0]`).
    fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        let xi = ml_dsa::Seed::from(*self.seed);
        let der = match self.spec() {
            KeySpec::MlDsa44 => {
                ml_dsa::SigningKey::<ml_dsa::MlDsa44>::from_seed(&xi).to_pkcs8_der()
            }
            KeySpec::MlDsa65 => {
                ml_dsa::SigningKey::<ml_dsa::MlDsa65>::from_seed(&xi).to_pkcs8_der()
            }
            _ => ml_dsa::SigningKey::<ml_dsa::MlDsa87>::from_seed(&xi).to_pkcs8_der(),
        }
        .map_err(|_| internal("PKCS#8 encoding"))?;
        Ok(Zeroizing::new(der.as_bytes().to_vec()))
    }

    fn from_pkcs8(spec: KeySpec, der: &[u8]) -> Option<MlDsaKey> {
        let seed = match spec {
            KeySpec::MlDsa44 => ml_dsa::SigningKey::<ml_dsa::MlDsa44>::from_pkcs8_der(der)
                .ok()?
                .to_seed(),
            KeySpec::MlDsa65 => ml_dsa::SigningKey::<ml_dsa::MlDsa65>::from_pkcs8_der(der)
                .ok()?
                .to_seed(),
            KeySpec::MlDsa87 => ml_dsa::SigningKey::<ml_dsa::MlDsa87>::from_pkcs8_der(der)
                .ok()?
                .to_seed(),
            _ => return None,
        };
        let seed = Zeroizing::new(<[u8; 32]>::from(seed));
        MlDsaKey::from_seed(spec, &seed[..])
    }

    fn public_key_der(&self) -> Result<Vec<u8>> {
        with_ml_dsa!(self, k, P => k
            .verifying_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| internal("SPKI encoding")))
    }

    /// Hedged ML-DSA.Sign (fresh 32-byte rnd from the HSM's RNG) with an
    /// empty context, or Sign over a caller's μ (EXTERNAL_MU).
    fn sign(&self, mt: MessageType, msg: &[u8], rng: &dyn Rng) -> Result<Vec<u8>> {
        use ml_dsa::signature::SignatureEncoding;
        let fail = |_| internal("signing");
        with_ml_dsa!(self, k, P => {
            let sig: ml_dsa::Signature<P> = match mt {
                MessageType::ExternalMu => {
                    let mu = crate::asym::MlDsaMu::try_from(msg).map_err(|_| internal("mu length"))?;
                    k.sign_mu_randomized(&mu, &mut RngAdapter(rng)).map_err(fail)?
                }
                _ => k.sign_randomized(msg, &[], &mut RngAdapter(rng)).map_err(fail)?,
            };
            Ok(sig.to_vec())
        })
    }

    fn verify(
        &self,
        alg: SigningAlgorithm,
        mt: MessageType,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<bool> {
        with_ml_dsa!(self, k, P => verify_ml_dsa::<P>(&k.verifying_key(), alg, mt, msg, sig))
    }
}

/// An ML-KEM decapsulation key: the 64-byte FIPS 203 seed d ‖ z (what is
/// stored and what PKCS#8 carries) and the expanded key. Both wipe
/// themselves on drop.
pub(crate) struct MlKemKey {
    seed: Zeroizing<[u8; 64]>,
    dk: MlKemDk,
}

enum MlKemDk {
    L512(Box<ml_kem::ml_kem_512::DecapsulationKey>),
    L768(Box<ml_kem::ml_kem_768::DecapsulationKey>),
    L1024(Box<ml_kem::ml_kem_1024::DecapsulationKey>),
}

/// Run `$body` with `$k` bound to the decapsulation key of whichever
/// parameter set `$m` holds.
macro_rules! with_ml_kem {
    ($m:expr, $k:ident => $body:expr) => {
        match &$m.dk {
            MlKemDk::L512($k) => $body,
            MlKemDk::L768($k) => $body,
            MlKemDk::L1024($k) => $body,
        }
    };
}

/// The parameter set byte of stored ML-KEM material (`TAG_ML_KEM ‖ code ‖
/// d ‖ z`): FIPS 203's k.
const ML_KEM_SPEC_CODES: [(KeySpec, u8); 3] = [
    (KeySpec::MlKem512, 0x02),
    (KeySpec::MlKem768, 0x03),
    (KeySpec::MlKem1024, 0x04),
];

/// The ciphertext length of each ML-KEM parameter set (FIPS 203 table 3).
pub(crate) fn ml_kem_ciphertext_len(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::MlKem512 => Some(768),
        KeySpec::MlKem768 => Some(1088),
        KeySpec::MlKem1024 => Some(1568),
        _ => None,
    }
}

impl MlKemKey {
    fn from_seed(spec: KeySpec, seed: &[u8]) -> Option<MlKemKey> {
        let seed: [u8; 64] = seed.try_into().ok()?;
        let seed = Zeroizing::new(seed);
        let s = Zeroizing::new(ml_kem::Seed::from(*seed));
        let dk = match spec {
            KeySpec::MlKem512 => MlKemDk::L512(Box::new(
                ml_kem::ml_kem_512::DecapsulationKey::from_seed(*s),
            )),
            KeySpec::MlKem768 => MlKemDk::L768(Box::new(
                ml_kem::ml_kem_768::DecapsulationKey::from_seed(*s),
            )),
            KeySpec::MlKem1024 => MlKemDk::L1024(Box::new(
                ml_kem::ml_kem_1024::DecapsulationKey::from_seed(*s),
            )),
            _ => return None,
        };
        Some(MlKemKey { seed, dk })
    }

    fn spec(&self) -> KeySpec {
        match self.dk {
            MlKemDk::L512(_) => KeySpec::MlKem512,
            MlKemDk::L768(_) => KeySpec::MlKem768,
            MlKemDk::L1024(_) => KeySpec::MlKem1024,
        }
    }

    /// PKCS#8 of the seed-only private key form (`seed [0]`, as
    /// draft-ietf-lamps-kyber-certificates and pyca/cryptography write it).
    fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        let der =
            with_ml_kem!(self, k => k.to_pkcs8_der()).map_err(|_| internal("PKCS#8 encoding"))?;
        Ok(Zeroizing::new(der.as_bytes().to_vec()))
    }

    fn from_pkcs8(spec: KeySpec, der: &[u8]) -> Option<MlKemKey> {
        let seed = match spec {
            KeySpec::MlKem512 => ml_kem::ml_kem_512::DecapsulationKey::from_pkcs8_der(der)
                .ok()?
                .to_seed()?,
            KeySpec::MlKem768 => ml_kem::ml_kem_768::DecapsulationKey::from_pkcs8_der(der)
                .ok()?
                .to_seed()?,
            KeySpec::MlKem1024 => ml_kem::ml_kem_1024::DecapsulationKey::from_pkcs8_der(der)
                .ok()?
                .to_seed()?,
            _ => return None,
        };
        let seed = Zeroizing::new(<[u8; 64]>::from(seed));
        MlKemKey::from_seed(spec, &seed[..])
    }

    fn public_key_der(&self) -> Result<Vec<u8>> {
        with_ml_kem!(self, k => k
            .encapsulation_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| internal("SPKI encoding")))
    }

    /// ML-KEM.Encaps with a fresh 32-byte m from the HSM's RNG (what the
    /// crate's `encapsulate_with_rng` does, with Strongroom's injected
    /// RNG): (ciphertext, shared secret).
    fn encapsulate(&self, rng: &dyn Rng) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let mut m = Zeroizing::new(ml_kem::B32::default());
        rng.fill(&mut m[..])?;
        with_ml_kem!(self, k => {
            let (ct, ss) = k.encapsulation_key().encapsulate_deterministic(&m);
            let ss = Zeroizing::new(ss);
            Ok((ct.to_vec(), Zeroizing::new(ss.to_vec())))
        })
    }

    /// ML-KEM.Decaps: a ciphertext of the wrong length is
    /// InvalidCiphertextException; any other gives 32 bytes (implicit
    /// rejection: a wrong ciphertext yields a pseudo-random secret).
    fn decapsulate(&self, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        use ml_kem::Decapsulate;
        if Some(ct.len()) != ml_kem_ciphertext_len(self.spec()) {
            return Err(Error::invalid_ciphertext());
        }
        with_ml_kem!(self, k => {
            let ss = Zeroizing::new(
                k.decapsulate_slice(ct)
                    .map_err(|_| Error::invalid_ciphertext())?,
            );
            Ok(Zeroizing::new(ss.to_vec()))
        })
    }
}

impl fmt::Debug for AsymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            AsymKey::P256(_) => "P256",
            AsymKey::P384(_) => "P384",
            AsymKey::P521(_) => "P521",
            AsymKey::K256(_) => "K256",
            AsymKey::Ed25519(_) => "Ed25519",
            AsymKey::MlDsa(_) => "MlDsa",
            AsymKey::MlKem(_) => "MlKem",
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
const TAG_P521: u8 = 0x07;
const TAG_K256: u8 = 0x08;
const TAG_ED25519: u8 = 0x09;
const TAG_ML_DSA: u8 = 0x0a;
const TAG_ML_KEM: u8 = 0x0b;

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

/// The key lengths AWS accepts for imported HMAC material of a spec
/// (HMAC_224 28–64 bytes, HMAC_256 32–64, HMAC_384 48–128, HMAC_512
/// 64–128: at least the digest, at most the hash block).
pub(crate) fn hmac_import_len(spec: KeySpec) -> (usize, usize) {
    match spec {
        KeySpec::Hmac224 => (28, 64),
        KeySpec::Hmac256 => (32, 64),
        KeySpec::Hmac384 => (48, 128),
        _ => (64, 128),
    }
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
            KeySpec::EccNistP521 => loop {
                let b = random_scalar_bytes(rng, 66)?;
                if let Ok(k) = p521::ecdsa::SigningKey::from_slice(&b) {
                    break AsymKey::P521(Box::new(k));
                }
            },
            KeySpec::EccSecgP256k1 => loop {
                let b = random_scalar_bytes(rng, 32)?;
                if let Ok(k) = k256::ecdsa::SigningKey::from_slice(&b) {
                    break AsymKey::K256(k);
                }
            },
            KeySpec::EccNistEdwards25519 => {
                let b = random_scalar_bytes(rng, 32)?;
                let seed: &[u8; 32] = b[..].try_into().map_err(|_| internal("Ed25519 seed"))?;
                AsymKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(seed)))
            }
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
                let b = random_scalar_bytes(rng, 32)?;
                AsymKey::MlDsa(
                    MlDsaKey::from_seed(spec, &b)
                        .ok_or_else(|| internal("ML-DSA key generation"))?,
                )
            }
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
                let b = random_scalar_bytes(rng, 64)?;
                AsymKey::MlKem(
                    MlKemKey::from_seed(spec, &b)
                        .ok_or_else(|| internal("ML-KEM key generation"))?,
                )
            }
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
            KeySpec::EccNistP521 => AsymKey::P521(Box::new(
                p521::ecdsa::SigningKey::from_pkcs8_der(material)
                    .map_err(|_| bad("a PKCS#8 P-521 private key"))?,
            )),
            KeySpec::EccSecgP256k1 => AsymKey::K256(
                k256::ecdsa::SigningKey::from_pkcs8_der(material)
                    .map_err(|_| bad("a PKCS#8 secp256k1 private key"))?,
            ),
            KeySpec::EccNistEdwards25519 => AsymKey::Ed25519(Box::new(
                ed25519_dalek::SigningKey::from_pkcs8_der(material)
                    .map_err(|_| bad("a PKCS#8 Ed25519 private key"))?,
            )),
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
                AsymKey::MlDsa(MlDsaKey::from_pkcs8(spec, material).ok_or_else(|| {
                    bad("a PKCS#8 ML-DSA private key (seed form) of the spec's parameter set")
                })?)
            }
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
                AsymKey::MlKem(MlKemKey::from_pkcs8(spec, material).ok_or_else(|| {
                    bad("a PKCS#8 ML-KEM private key (seed form) of the spec's parameter set")
                })?)
            }
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

    /// Imported material (ImportKeyMaterial) for a key of `spec`: the
    /// specs AWS imports (RSA, the NIST curves, secp256k1: a PKCS#8 DER
    /// private key of the spec; HMAC: a raw key in the spec's import
    /// range). Anything else is refused.
    pub fn from_imported(spec: KeySpec, material: &[u8]) -> Result<AsymKey> {
        if spec == KeySpec::SymmetricDefault || !crate::asym::importable(spec) {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                format!("importing {spec} key material is not supported"),
            ));
        }
        match spec {
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                let (lo, hi) = hmac_import_len(spec);
                if material.len() < lo || material.len() > hi {
                    return Err(Error::validation(format!(
                        "imported {spec} material must be {lo} to {hi} bytes"
                    )));
                }
                Ok(AsymKey::Hmac(spec, Zeroizing::new(material.to_vec())))
            }
            // RSA and ECC: a PKCS#8 DER private key of the spec.
            _ => AsymKey::from_chosen(spec, material),
        }
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
            AsymKey::P521(k) => (TAG_P521, pkcs8_of(k.as_ref())?),
            AsymKey::K256(k) => (TAG_K256, pkcs8_of(k)?),
            AsymKey::Ed25519(k) => (TAG_ED25519, ed25519_pkcs8(k)?),
            AsymKey::MlDsa(k) => {
                let mut v = Zeroizing::new(vec![ml_dsa_code(k.spec())?]);
                v.extend_from_slice(&k.seed[..]);
                (TAG_ML_DSA, v)
            }
            AsymKey::MlKem(k) => {
                let code = ML_KEM_SPEC_CODES
                    .iter()
                    .find(|(s, _)| *s == k.spec())
                    .map(|(_, c)| *c)
                    .ok_or_else(|| internal("ML-KEM spec code"))?;
                let mut v = Zeroizing::new(vec![code]);
                v.extend_from_slice(&k.seed[..]);
                (TAG_ML_KEM, v)
            }
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
            TAG_P521 => AsymKey::P521(Box::new(
                p521::ecdsa::SigningKey::from_pkcs8_der(rest).ok()?,
            )),
            TAG_K256 => AsymKey::K256(k256::ecdsa::SigningKey::from_pkcs8_der(rest).ok()?),
            TAG_ED25519 => AsymKey::Ed25519(Box::new(
                ed25519_dalek::SigningKey::from_pkcs8_der(rest).ok()?,
            )),
            TAG_ML_DSA => {
                let (code, seed) = rest.split_first()?;
                let spec = ML_DSA_SPEC_CODES.iter().find(|(_, c)| c == code)?.0;
                AsymKey::MlDsa(MlDsaKey::from_seed(spec, seed)?)
            }
            TAG_ML_KEM => {
                let (code, seed) = rest.split_first()?;
                let spec = ML_KEM_SPEC_CODES.iter().find(|(_, c)| c == code)?.0;
                AsymKey::MlKem(MlKemKey::from_seed(spec, seed)?)
            }
            TAG_HMAC => {
                let (s, key) = rest.split_first()?;
                let spec = hmac_spec_from_code(*s)?;
                // Generated keys have the spec's length; imported ones any
                // length of its import range.
                let (lo, hi) = hmac_import_len(spec);
                if key.len() < lo || key.len() > hi {
                    return None;
                }
                AsymKey::Hmac(spec, Zeroizing::new(key.to_vec()))
            }
            _ => return None,
        })
    }

    /// PKCS#8 DER of the private key (GenerateDataKeyPair's plaintext).
    pub fn private_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            AsymKey::MlDsa(k) => k.to_pkcs8(),
            AsymKey::MlKem(k) => k.to_pkcs8(),
            AsymKey::Hmac(..) => Err(internal("PKCS#8 of an HMAC key")),
            _ => {
                let b = self.to_bytes()?;
                Ok(Zeroizing::new(b[1..].to_vec()))
            }
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        let r = match self {
            AsymKey::P256(k) => k.verifying_key().to_public_key_der(),
            AsymKey::P384(k) => k.verifying_key().to_public_key_der(),
            AsymKey::P521(k) => k.verifying_key().to_public_key_der(),
            AsymKey::K256(k) => k.verifying_key().to_public_key_der(),
            AsymKey::Ed25519(k) => k.verifying_key().to_public_key_der(),
            AsymKey::MlDsa(k) => return k.public_key_der(),
            AsymKey::MlKem(k) => return k.public_key_der(),
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
        // ECDSA with the curve's hash over RAW, or over a DIGEST as given;
        // DER signature.
        macro_rules! ecdsa_sign {
            ($sk:expr, $curve:ident) => {{
                let sig: $curve::ecdsa::Signature = match mt {
                    MessageType::Raw => $sk.try_sign(msg).map_err(|_| fail())?,
                    _ => $sk.sign_prehash(msg).map_err(|_| fail())?,
                };
                Ok(sig.to_der().as_bytes().to_vec())
            }};
        }
        match (self, alg) {
            (AsymKey::P256(sk), EcdsaSha256) => ecdsa_sign!(sk, p256),
            (AsymKey::P384(sk), EcdsaSha384) => ecdsa_sign!(sk, p384),
            (AsymKey::P521(sk), EcdsaSha512) => ecdsa_sign!(sk, p521),
            (AsymKey::K256(sk), EcdsaSha256) => ecdsa_sign!(sk, k256),
            (AsymKey::Ed25519(sk), Ed25519Sha512) => {
                Ok(sk.try_sign(msg).map_err(|_| fail())?.to_vec())
            }
            (AsymKey::Ed25519(sk), Ed25519PhSha512) => Ok(sk
                .sign_prehashed(Prehashed::of(msg)?, None)
                .map_err(|_| fail())?
                .to_vec()),
            (AsymKey::MlDsa(k), MlDsaShake256) => k.sign(mt, msg, rng),
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
            AsymKey::P521(k) => verify_p521_vk(k.verifying_key(), alg, mt, msg, sig),
            AsymKey::K256(k) => verify_k256_vk(k.verifying_key(), alg, mt, msg, sig),
            AsymKey::Ed25519(k) => verify_ed25519_vk(&k.verifying_key(), alg, mt, msg, sig),
            AsymKey::MlDsa(k) => k.verify(alg, mt, msg, sig),
            AsymKey::Rsa(k) => rsa_verify(&rsa::PublicKey::from(k.as_ref()), alg, mt, msg, sig),
            AsymKey::Hmac(..) | AsymKey::MlKem(_) => Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                "this key does not sign",
            )),
        }
    }

    /// ML-KEM encapsulation to this key's public key: (ciphertext, secret).
    pub fn encapsulate(&self, rng: &dyn Rng) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        match self {
            AsymKey::MlKem(k) => k.encapsulate(rng),
            _ => Err(Error::new(ErrorCode::InvalidKeyUsage, "not an ML-KEM key")),
        }
    }

    /// ML-KEM decapsulation (implicit rejection; wrong length is
    /// InvalidCiphertextException).
    pub fn decapsulate(&self, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            AsymKey::MlKem(k) => k.decapsulate(ct),
            _ => Err(Error::new(ErrorCode::InvalidKeyUsage, "not an ML-KEM key")),
        }
    }

    /// ECDH: the raw shared x-coordinate with the peer's DER SPKI key.
    pub fn derive_shared_secret(&self, peer_spki: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            AsymKey::P256(k) => ecdh_p256(k.as_nonzero_scalar(), peer_spki),
            AsymKey::P384(k) => ecdh_p384(k.as_nonzero_scalar(), peer_spki),
            AsymKey::P521(k) => ecdh_p521(k.as_nonzero_scalar(), peer_spki),
            _ => Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                "key agreement needs an ECC_NIST_P256, ECC_NIST_P384 or ECC_NIST_P521 KEY_AGREEMENT key",
            )),
        }
    }

    /// RSA-OAEP encryption with SHA-256 or SHA-1 (hash and MGF1 alike,
    /// empty label): AWS's RSAES_OAEP_SHA_256 / RSAES_OAEP_SHA_1.
    pub fn rsa_encrypt(&self, pt: &[u8], oaep: OaepHash, rng: &dyn Rng) -> Result<Vec<u8>> {
        let AsymKey::Rsa(k) = self else {
            return Err(Error::new(ErrorCode::InvalidKeyUsage, "not an RSA key"));
        };
        let max = k.size() - 2 * oaep.len() - 2;
        if pt.is_empty() || pt.len() > max {
            return Err(Error::validation(format!(
                "Plaintext must be 1 to {max} bytes for this key with {}",
                oaep.aws_name()
            )));
        }
        let pk = rsa::PublicKey::from(k.as_ref());
        match oaep {
            OaepHash::Sha256 => pk.encrypt(&mut RngAdapter(rng), rsa::Oaep::<Sha256_11>::new(), pt),
            OaepHash::Sha1 => pk.encrypt(&mut RngAdapter(rng), rsa::Oaep::<sha1::Sha1>::new(), pt),
        }
        .map_err(|_| internal("RSA encryption"))
    }

    /// RSA-OAEP decryption, always blinded (the crate's recommended,
    /// constant-time-aware path). Failures are the opaque ciphertext error.
    pub fn rsa_decrypt(
        &self,
        ct: &[u8],
        oaep: OaepHash,
        rng: &dyn Rng,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let AsymKey::Rsa(k) = self else {
            return Err(Error::new(ErrorCode::InvalidKeyUsage, "not an RSA key"));
        };
        match oaep {
            OaepHash::Sha256 => {
                k.decrypt_blinded(&mut RngAdapter(rng), rsa::Oaep::<Sha256_11>::new(), ct)
            }
            OaepHash::Sha1 => {
                k.decrypt_blinded(&mut RngAdapter(rng), rsa::Oaep::<sha1::Sha1>::new(), ct)
            }
        }
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

/// ECDH on one curve with a peer DER SPKI public key (the path
/// DeriveSharedSecret uses; Wycheproof runs through it): the raw
/// x-coordinate of the shared point. A key that is not a point of the
/// curve is `ValidationException`.
fn ecdh<C>(
    k: &elliptic_curve::NonZeroScalar<C>,
    peer_spki: &[u8],
    curve: &str,
) -> Result<Zeroizing<Vec<u8>>>
where
    C: elliptic_curve::CurveArithmetic,
    elliptic_curve::PublicKey<C>: DecodePublicKey,
{
    let peer = elliptic_curve::PublicKey::<C>::from_public_key_der(peer_spki).map_err(|_| {
        Error::validation(format!(
            "PublicKey must be a DER SubjectPublicKeyInfo for a point on the {curve} curve"
        ))
    })?;
    let shared = elliptic_curve::ecdh::diffie_hellman(k, peer.as_affine());
    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
}

pub(crate) fn ecdh_p256(k: &p256::NonZeroScalar, peer_spki: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    ecdh(k, peer_spki, "ECC_NIST_P256")
}

pub(crate) fn ecdh_p384(k: &p384::NonZeroScalar, peer_spki: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    ecdh(k, peer_spki, "ECC_NIST_P384")
}

/// The hash (and MGF1 hash) of an RSA-OAEP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OaepHash {
    Sha1,
    Sha256,
}

impl OaepHash {
    fn len(self) -> usize {
        match self {
            OaepHash::Sha1 => 20,
            OaepHash::Sha256 => 32,
        }
    }
    fn aws_name(self) -> &'static str {
        match self {
            OaepHash::Sha1 => "RSAES_OAEP_SHA_1",
            OaepHash::Sha256 => "RSAES_OAEP_SHA_256",
        }
    }
}

pub(crate) fn ecdh_p521(k: &p521::NonZeroScalar, peer_spki: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    ecdh(k, peer_spki, "ECC_NIST_P521")
}

fn pkcs8_of(k: &impl EncodePrivateKey) -> Result<Zeroizing<Vec<u8>>> {
    Ok(Zeroizing::new(
        k.to_pkcs8_der()
            .map_err(|_| internal("PKCS#8 encoding"))?
            .as_bytes()
            .to_vec(),
    ))
}

/// Ed25519 as a version-1 PKCS#8 `PrivateKeyInfo` (RFC 8410: the seed,
/// no public key), the form OpenSSL writes and every reader takes.
fn ed25519_pkcs8(k: &ed25519_dalek::SigningKey) -> Result<Zeroizing<Vec<u8>>> {
    let pair = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: k.to_bytes(),
        public_key: None,
    };
    let der = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(&pair)
        .map_err(|_| internal("PKCS#8 encoding"))?;
    Ok(Zeroizing::new(der.as_bytes().to_vec()))
}

fn ml_dsa_code(spec: KeySpec) -> Result<u8> {
    ML_DSA_SPEC_CODES
        .iter()
        .find(|(s, _)| *s == spec)
        .map(|(_, c)| *c)
        .ok_or_else(|| internal("ML-DSA spec code"))
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
                _ => {
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
                _ => sk.sign_prehash(msg).map_err(fail)?,
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

    /// A source that returns fixed bytes (ML-DSA's rnd) for a KAT.
    struct Fixed(Vec<u8>);
    impl Rng for Fixed {
        fn fill(&self, dest: &mut [u8]) -> Result<()> {
            dest.copy_from_slice(&self.0[..dest.len()]);
            Ok(())
        }
    }

    /// Wycheproof ML-DSA-44 sign-from-seed through the stored form and
    /// `AsymKey::sign`: hedged signing with rnd = 0 is FIPS 204's
    /// deterministic variant, so the signatures must equal the vectors';
    /// the one randomized case gets its rnd from the source; μ-only cases
    /// go through EXTERNAL_MU; seeds of the wrong length are unreadable
    /// material. Cases with a context are counted (AWS signs with none).
    #[test]
    fn ml_dsa_44_sign_from_seed() {
        use crate::testutil::{h, wycheproof};
        let doc = wycheproof("mldsa_44_sign_seed_test.json");
        let (mut n, mut with_ctx, mut bad_seed) = (0, 0, 0);
        for g in doc["testGroups"].as_array().unwrap() {
            let seed = h(&g["privateSeed"]);
            let mut stored = vec![TAG_ML_DSA, 0x2c];
            stored.extend_from_slice(&seed);
            let key = AsymKey::from_bytes(&stored);
            for t in g["tests"].as_array().unwrap() {
                n += 1;
                let Some(key) = &key else {
                    assert_eq!(t["result"], "invalid", "tc {}", t["tcId"]);
                    bad_seed += 1;
                    continue;
                };
                if t.get("ctx").is_some() {
                    with_ctx += 1;
                    continue;
                }
                assert_eq!(t["result"], "valid", "tc {}", t["tcId"]);
                let rnd = t.get("rnd").map(h).unwrap_or_else(|| vec![0u8; 32]);
                let rng = Fixed(rnd);
                let want = h(&t["sig"]);
                if let Some(msg) = t.get("msg") {
                    let sig = key
                        .sign(
                            SigningAlgorithm::MlDsaShake256,
                            MessageType::Raw,
                            &h(msg),
                            &rng,
                        )
                        .unwrap();
                    assert_eq!(sig, want, "tc {} ({})", t["tcId"], t["comment"]);
                }
                let mu = h(&t["mu"]);
                let sig = key
                    .sign(
                        SigningAlgorithm::MlDsaShake256,
                        MessageType::ExternalMu,
                        &mu,
                        &rng,
                    )
                    .unwrap();
                assert_eq!(sig, want, "tc {} (mu)", t["tcId"]);
                assert!(key
                    .verify(
                        SigningAlgorithm::MlDsaShake256,
                        MessageType::ExternalMu,
                        &mu,
                        &sig
                    )
                    .unwrap());
            }
        }
        assert_eq!(n, 86);
        assert_eq!(bad_seed, 3);
        assert!(with_ctx <= 5, "{with_ctx}");
    }

    /// Every new spec's material reads back as the same key (same public
    /// key, same stored bytes), and Debug never shows it.
    #[test]
    fn new_specs_round_trip_through_the_stored_form() {
        let rng = DangerousSeededRng::new([5; 32]);
        for (spec, tag) in [
            (KeySpec::EccNistP521, TAG_P521),
            (KeySpec::EccSecgP256k1, TAG_K256),
            (KeySpec::EccNistEdwards25519, TAG_ED25519),
            (KeySpec::MlDsa44, TAG_ML_DSA),
            (KeySpec::MlDsa65, TAG_ML_DSA),
            (KeySpec::MlDsa87, TAG_ML_DSA),
            (KeySpec::MlKem512, TAG_ML_KEM),
            (KeySpec::MlKem768, TAG_ML_KEM),
            (KeySpec::MlKem1024, TAG_ML_KEM),
        ] {
            let k = AsymKey::generate(spec, &rng).unwrap();
            let b = k.to_bytes().unwrap();
            assert_eq!(b[0], tag, "{spec}");
            let back = AsymKey::from_bytes(&b).unwrap();
            assert_eq!(
                back.public_key_der().unwrap(),
                k.public_key_der().unwrap(),
                "{spec}"
            );
            assert_eq!(&back.to_bytes().unwrap()[..], &b[..], "{spec}");
            let dbg = format!("{k:?}");
            assert!(dbg.contains("<redacted>"), "{dbg}");
            // The private key a data key pair or a seed file carries.
            let der = k.private_pkcs8().unwrap();
            let again = AsymKey::from_chosen(spec, &der).unwrap();
            assert_eq!(
                again.public_key_der().unwrap(),
                k.public_key_der().unwrap(),
                "{spec}"
            );
        }
        // An ML-DSA code that is not a parameter set is unreadable.
        let mut b = vec![TAG_ML_DSA, 0x2d];
        b.extend_from_slice(&[1u8; 32]);
        assert!(AsymKey::from_bytes(&b).is_none());
        // Nor is an ML-KEM code that is not k = 2, 3, 4, or a short seed.
        let mut b = vec![TAG_ML_KEM, 0x05];
        b.extend_from_slice(&[1u8; 64]);
        assert!(AsymKey::from_bytes(&b).is_none());
        let mut b = vec![TAG_ML_KEM, 0x03];
        b.extend_from_slice(&[1u8; 63]);
        assert!(AsymKey::from_bytes(&b).is_none());
    }

    /// Frozen stored forms of the tags 0x07-0x0b: fixed material (the
    /// scalar or seed 01 02 03 ...), the stored bytes it must have, and the
    /// SHA-256 of the public key (SPKI) they must read back as. The SPKI
    /// hashes were computed independently with pyca/cryptography 51
    /// (OpenSSL) from the same scalars and seeds (`derive_private_key`,
    /// `from_private_bytes`, `from_seed_bytes`). A change to any stored
    /// encoding fails here.
    #[test]
    fn stored_forms_are_frozen() {
        use sha2::Digest;
        let scalar = |n: usize| -> Vec<u8> { (1..=n as u8).collect() };
        let cases: [(&str, Vec<u8>, &str, &str); 5] = [
            (
                "P-521",
                AsymKey::P521(Box::new(
                    p521::ecdsa::SigningKey::from_slice(&scalar(66)).unwrap(),
                ))
                .to_bytes()
                .unwrap()
                .to_vec(),
                "073081ee020100301006072a8648ce3d020106052b810400230481d63081d302010104420102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142a181890381860004000366c8c3b22dfb87d0922163cd4b53cd43a24a29f79292fa4ef1288d69ed139a7fc0552120ea1bdb4f88ca0da4eb91de9b077018d5885dbff0e91a66639a9b72a500bd5e44e3a526e1051a4371c9bae5c7611ed489582ecdcc1ea277fe2379286a3a1c0c7224c7b1ebb0a8b6e5fbda5cead23f47c300917d4f98f2d2d4dc79d0109826",
                "9e04208332e2ccfcc29dc54d400fc1c4f0bec15c30179f54b73749583208280e",
            ),
            (
                "secp256k1",
                AsymKey::K256(k256::ecdsa::SigningKey::from_slice(&scalar(32)).unwrap())
                    .to_bytes()
                    .unwrap()
                    .to_vec(),
                "08308184020100301006072a8648ce3d020106052b8104000a046d306b02010104200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20a1440342000484bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b08cc43d63b2859d469fee15f31c9edb5324266e6fd0407e87382d60fc4511acd8",
                "f79769ad521add48e80320a22c37dd1f4885012dc0ad82d945f62dad654d3050",
            ),
            (
                "Ed25519",
                AsymKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(
                    &scalar(32).try_into().unwrap(),
                )))
                .to_bytes()
                .unwrap()
                .to_vec(),
                "09302e020100300506032b6570042204200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
                "646d6be49d9f0048f94f67749eca35156eed4f7a7be18e4fc4a94bfd44e300b0",
            ),
            (
                "ML-DSA-65",
                [vec![TAG_ML_DSA, 0x41], scalar(32)].concat(),
                "0a410102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
                "2266b89f3ba5a452f3a55bbb6f63a34a2d3797cf22ed40d0c23cba79bdb155bf",
            ),
            (
                "ML-KEM-768",
                [vec![TAG_ML_KEM, 0x03], scalar(64)].concat(),
                "0b030102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40",
                "33022c658e84d13811999bd6ea792dd1fb729679ca7a162d9931cb8f84f4f952",
            ),
        ];
        for (name, made, stored, spki) in cases {
            assert_eq!(
                hex::encode(&made),
                stored,
                "{name}: the stored form changed"
            );
            let k = AsymKey::from_bytes(&made).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(&k.to_bytes().unwrap()[..], &made[..], "{name}");
            let got = sha2::Sha256::digest(k.public_key_der().unwrap());
            assert_eq!(hex::encode(got), spki, "{name}: public key");
        }
    }

    /// RFC 8032 section 7.3 (Ed25519ph, message "abc", no context):
    /// ED25519_PH_SHA_512 over the SHA-512 DIGEST gives the RFC's signature.
    #[test]
    fn ed25519ph_rfc8032_test_vector() {
        use sha2::Digest;
        let secret: [u8; 32] =
            hex::decode("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
                .unwrap()
                .try_into()
                .unwrap();
        let key = AsymKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&secret)));
        let spki = key.public_key_der().unwrap();
        assert!(hex::encode(&spki)
            .ends_with("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"));
        let digest = sha2::Sha512::digest(b"abc");
        let rng = DangerousSeededRng::new([1; 32]);
        let sig = key
            .sign(
                SigningAlgorithm::Ed25519PhSha512,
                MessageType::Digest,
                &digest,
                &rng,
            )
            .unwrap();
        assert_eq!(
            hex::encode(&sig),
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
        );
        assert!(key
            .verify(
                SigningAlgorithm::Ed25519PhSha512,
                MessageType::Digest,
                &digest,
                &sig
            )
            .unwrap());
        // The same signature is not a pure Ed25519 signature of "abc".
        assert!(!key
            .verify(
                SigningAlgorithm::Ed25519Sha512,
                MessageType::Raw,
                b"abc",
                &sig
            )
            .unwrap());
    }
}
