//! The raw RSA keyring, wire-identical to the official SDKs' raw RSA
//! keyring / master key.

use std::fmt;

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::keyring::{
    check_namespace, DecryptionMaterials, EncryptionMaterials, Keyring, OpenedBy,
};
use super::Edk;
use crate::asym::RngAdapter;
use crate::env::{OsRng, Rng};
use crate::error::{Error, Result};

/// How the data key is padded before RSA encryption (the MPL's
/// `PaddingScheme` names). OAEP uses MGF1 with the same hash, as every
/// official SDK does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum RsaPadding {
    #[serde(rename = "PKCS1")]
    Pkcs1,
    #[serde(rename = "OAEP_SHA1_MGF1")]
    OaepSha1Mgf1,
    #[serde(rename = "OAEP_SHA256_MGF1")]
    OaepSha256Mgf1,
    #[serde(rename = "OAEP_SHA384_MGF1")]
    OaepSha384Mgf1,
    #[serde(rename = "OAEP_SHA512_MGF1")]
    OaepSha512Mgf1,
}

/// A raw RSA wrapping key: provider id = the key namespace, provider info =
/// the key name (UTF-8), EDK ciphertext = RSA encryption (with the padding)
/// of the data key. The encryption context is not bound to the EDK (it
/// still is to the message, by the header's tag). Encrypting needs the
/// public key (derived from the private key when only that is given);
/// decrypting needs the private key, which the `rsa` crate zeroizes on
/// drop; decryption is blinded, and every failure is opaque.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public: Option<rsa::PublicKey>,
    private: Option<Box<rsa::PrivateKey>>,
}

impl fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRsaKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("padding", &self.padding)
            .field("can_decrypt", &self.private.is_some())
            .finish_non_exhaustive()
    }
}

/// PEM text or DER bytes.
fn pem_text(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?;
    s.trim_start().starts_with("-----BEGIN").then_some(s)
}

fn parse_public(bytes: &[u8]) -> Result<rsa::PublicKey> {
    let k = match pem_text(bytes) {
        Some(pem) => rsa::PublicKey::from_public_key_pem(pem)
            .or_else(|_| rsa::PublicKey::from_pkcs1_pem(pem)),
        None => rsa::PublicKey::from_public_key_der(bytes)
            .or_else(|_| rsa::PublicKey::from_pkcs1_der(bytes)),
    };
    // The parser's message is not echoed: it may quote the input.
    k.map_err(|_| {
        Error::validation(
            "the RSA public key is not a PEM or DER SubjectPublicKeyInfo or PKCS#1 RSA public key",
        )
    })
}

fn parse_private(bytes: &[u8]) -> Result<rsa::PrivateKey> {
    let k = match pem_text(bytes) {
        Some(pem) => {
            let pem = Zeroizing::new(pem.to_string());
            rsa::PrivateKey::from_pkcs8_pem(&pem).or_else(|_| rsa::PrivateKey::from_pkcs1_pem(&pem))
        }
        None => rsa::PrivateKey::from_pkcs8_der(bytes)
            .or_else(|_| rsa::PrivateKey::from_pkcs1_der(bytes)),
    };
    k.map_err(|_| {
        Error::validation(
            "the RSA private key is not a PEM or DER PKCS#8 or PKCS#1 RSA private key",
        )
    })
}

impl RawRsaKeyring {
    /// At least one of `public_key` and `private_key` (PEM text or DER
    /// bytes; SubjectPublicKeyInfo or PKCS#1 public, PKCS#8 or PKCS#1
    /// private). When both are given they must be one key pair.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        padding: RsaPadding,
        public_key: Option<&[u8]>,
        private_key: Option<&[u8]>,
    ) -> Result<Self> {
        let namespace = namespace.into();
        check_namespace(&namespace)?;
        let private = private_key.map(parse_private).transpose()?;
        let mut public = public_key.map(parse_public).transpose()?;
        match (&public, &private) {
            (None, None) => return Err(Error::validation(
                "a raw RSA keyring needs a public key (to encrypt) or a private key (to decrypt)",
            )),
            (Some(p), Some(k)) if *p != rsa::PublicKey::from(k) => {
                return Err(Error::validation(
                    "the RSA public and private keys are not one key pair",
                ))
            }
            (None, Some(k)) => public = Some(rsa::PublicKey::from(k)),
            _ => {}
        }
        Ok(RawRsaKeyring {
            namespace,
            name: name.into(),
            padding,
            public,
            private: private.map(Box::new),
        })
    }

    fn encrypt_key(&self, pk: &rsa::PublicKey, key: &[u8], rng: &dyn Rng) -> Result<Vec<u8>> {
        let mut r = RngAdapter(rng);
        let out = match self.padding {
            RsaPadding::Pkcs1 => pk.encrypt(&mut r, rsa::Pkcs1v15Encrypt, key),
            RsaPadding::OaepSha1Mgf1 => pk.encrypt(&mut r, rsa::Oaep::<sha1::Sha1>::new(), key),
            RsaPadding::OaepSha256Mgf1 => pk.encrypt(&mut r, rsa::Oaep::<Sha256>::new(), key),
            RsaPadding::OaepSha384Mgf1 => pk.encrypt(&mut r, rsa::Oaep::<Sha384>::new(), key),
            RsaPadding::OaepSha512Mgf1 => pk.encrypt(&mut r, rsa::Oaep::<Sha512>::new(), key),
        };
        out.map_err(|_| {
            Error::validation(format!(
                "this RSA key is too small to wrap a data key with {:?}",
                self.padding
            ))
        })
    }

    fn decrypt_key(&self, sk: &rsa::PrivateKey, ct: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let mut r = RngAdapter(&OsRng);
        let out = match self.padding {
            RsaPadding::Pkcs1 => sk.decrypt_blinded(&mut r, rsa::Pkcs1v15Encrypt, ct),
            RsaPadding::OaepSha1Mgf1 => {
                sk.decrypt_blinded(&mut r, rsa::Oaep::<sha1::Sha1>::new(), ct)
            }
            RsaPadding::OaepSha256Mgf1 => {
                sk.decrypt_blinded(&mut r, rsa::Oaep::<Sha256>::new(), ct)
            }
            RsaPadding::OaepSha384Mgf1 => {
                sk.decrypt_blinded(&mut r, rsa::Oaep::<Sha384>::new(), ct)
            }
            RsaPadding::OaepSha512Mgf1 => {
                sk.decrypt_blinded(&mut r, rsa::Oaep::<Sha512>::new(), ct)
            }
        };
        out.ok().map(Zeroizing::new)
    }
}

impl Keyring for RawRsaKeyring {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()> {
        let pk = self.public.as_ref().expect("a public key is always set");
        if m.data_key.is_none() {
            let mut k = Zeroizing::new(vec![0u8; m.suite.key_len]);
            rng.fill(&mut k)?;
            m.set_data_key(k)?;
        }
        let ct = self.encrypt_key(pk, m.data_key().expect("set above"), rng)?;
        m.edks.push(Edk {
            provider_id: self.namespace.clone(),
            provider_info: self.name.as_bytes().to_vec(),
            ciphertext: ct,
        });
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()> {
        if m.data_key.is_some() {
            return Ok(());
        }
        let Some(sk) = &self.private else {
            return Err(Error::validation(
                "this raw RSA keyring has only a public key: it can encrypt, not decrypt",
            ));
        };
        for edk in edks {
            if edk.provider_id != self.namespace || edk.provider_info != self.name.as_bytes() {
                continue;
            }
            if let Some(k) = self.decrypt_key(sk, &edk.ciphertext) {
                if k.len() == m.suite.key_len {
                    return m.set_data_key(
                        k,
                        OpenedBy {
                            provider_id: self.namespace.clone(),
                            key_name: self.name.clone(),
                        },
                    );
                }
            }
        }
        Ok(())
    }
}
