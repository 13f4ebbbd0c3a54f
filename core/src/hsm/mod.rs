//! The software HSM: the only module that ever holds key bytes.
//!
//! Everything outside refers to material by handle (key id + material id).
//! There is no accessor that returns key bytes, no serde on secret types,
//! secrets are zeroized on drop, `Debug` is redacted and there is no
//! `PartialEq`. Material leaves this module only sealed under the store key
//! (AES-256-GCM, AAD naming the key id and material id), for persistence.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::model::{KeySpec, WrappingAlgorithm};
use crate::model::{MacAlgorithm, MessageType, SigningAlgorithm};
use crate::secret::Plaintext;
pub(crate) use asym_key::{AsymKey, OaepHash};

use crate::blob::{self, ParsedBlob, MATERIAL_ID_LEN, SALT_LEN};
use crate::crypto::{self, KEY_LEN, NONCE_LEN};
use crate::env::Rng;
use crate::error::{Error, Result};

pub mod asym_key;
pub mod root;

/// 32 secret bytes. No Clone, no PartialEq, no serde; redacted Debug.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SecretKey([u8; KEY_LEN]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    fn random(rng: &dyn Rng) -> Result<Self> {
        let mut k = SecretKey([0; KEY_LEN]);
        rng.fill(&mut k.0)?;
        Ok(k)
    }
    pub(crate) fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        SecretKey(bytes)
    }
    fn derive(&self, info: &[u8]) -> SecretKey {
        let mut k = SecretKey([0; KEY_LEN]);
        crypto::hkdf_sha256(&self.0, &[], info, &mut k.0).expect("32 bytes is a valid HKDF length");
        k
    }
}

/// Caller-chosen key material (see [`Hsm::chosen_key`]): wiped on drop,
/// redacted Debug, no Clone.
#[derive(Debug)]
pub(crate) enum ChosenKey {
    Aes(SecretKey),
    Asym(AsymKey),
}

/// Which key's material, and which version of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MaterialHandle {
    pub key_id: String,
    pub material_id: [u8; MATERIAL_ID_LEN],
}

impl MaterialHandle {
    pub fn material_id_hex(&self) -> String {
        hex_id(&self.material_id)
    }
}

/// Lowercase hex of a 32-byte id (table-driven; faster than `hex::encode`).
pub(crate) fn hex_id(id: &[u8; 32]) -> String {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(id, &mut buf).expect("64 bytes hold 32 bytes of hex");
    String::from_utf8(buf.to_vec()).expect("hex is ASCII")
}

const SEAL_INFO: &[u8] = b"strongroom/v1/store-seal";
/// Sealed values, format 2 (`docs/formats/store.md`, Sealed values):
/// `"SRS2" ‖ salt (20: 12 random bytes ‖ 8-byte seal counter) ‖ ciphertext ‖ tag`,
/// under a key and nonce derived per value from the store key and the salt.
const SEAL_V2_PREFIX: &[u8; 4] = b"SRS2";
const SEAL_V2_SALT_LEN: usize = 20;
const SEAL_V2_INFO: &[u8] = b"strongroom/v2/store-seal-value";
const STATE_MAC_INFO: &[u8] = b"strongroom/v2/state-mac";
const MATERIAL_ID_INFO: &[u8] = b"strongroom/v1/material-id";
const MATERIAL_AAD: &[u8] = b"strongroom/v1/material";
const VALUE_AAD: &[u8] = b"strongroom/v1/value";
const WRAPPING_AAD: &[u8] = b"strongroom/v1/import-wrapping";
const IDENTITY_AAD: &[u8] = b"strongroom/v1/store-identity";
const REPLICATION_INFO: &[u8] = b"strongroom/v1/replication";

pub(crate) struct Hsm {
    materials: HashMap<MaterialHandle, SecretKey>,
    /// Asymmetric and HMAC keys.
    asym: HashMap<MaterialHandle, AsymKey>,
    /// RSA wrapping keys of outstanding import tokens, by token id.
    wrapping: HashMap<String, AsymKey>,
    /// This store's identity key for replication packages.
    identity: Option<p256::SecretKey>,
    /// Seals everything written to the store; derived from the root key.
    seal_key: SecretKey,
    /// Keys the per-entry tags of the store's state root (`state_root.rs`).
    state_mac_key: SecretKey,
    /// Seals made by this HSM so far: part of every format-2 salt, so no two
    /// seals of one open share a salt (and so a key and nonce).
    seals: std::sync::atomic::AtomicU64,
    rng: Arc<dyn Rng>,
}

/// Which sealed-value format opened a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealFormat {
    /// Random 96-bit nonce under the store key (stores written before 0.2).
    V1,
    /// Per-value key and nonce derived from a 20-byte salt.
    V2,
}

impl fmt::Debug for Hsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hsm")
            .field("materials", &self.materials.len())
            .finish_non_exhaustive()
    }
}

/// What imported material must be, checked (constant time) before it is
/// installed.
#[derive(Clone, Copy)]
pub(crate) enum MaterialCheck<'a> {
    /// New material: none of these ids (the materials the key already has).
    New { not: &'a [[u8; MATERIAL_ID_LEN]] },
    /// A re-import: the material that had one of these ids.
    Existing(&'a [[u8; MATERIAL_ID_LEN]]),
}

impl MaterialCheck<'_> {
    /// Generated material: nothing to check.
    pub const ANY: MaterialCheck<'static> = MaterialCheck::New { not: &[] };
}

fn check_expected(handle: &MaterialHandle, check: MaterialCheck<'_>) -> Result<()> {
    let matches = |ids: &[[u8; MATERIAL_ID_LEN]]| {
        ids.iter().fold(subtle::Choice::from(0), |acc, e| {
            acc | handle.material_id.ct_eq(e)
        })
    };
    match check {
        MaterialCheck::Existing(ids) if !bool::from(matches(ids)) => Err(Error::new(
            crate::error::ErrorCode::IncorrectKeyMaterial,
            "the key material is not the material previously imported into this key",
        )),
        MaterialCheck::New { not } if bool::from(matches(not)) => Err(Error::new(
            crate::error::ErrorCode::IncorrectKeyMaterial,
            "this key material is already associated with this key: import it with ImportType EXISTING_KEY_MATERIAL",
        )),
        _ => Ok(()),
    }
}

/// `HMAC-SHA256(material, "strongroom/v1/material-id" ‖ key id)`: the
/// material as sealed at rest (32 raw bytes, or tagged asymmetric bytes).
fn material_id_for(key_id: &str, material: &[u8]) -> [u8; MATERIAL_ID_LEN] {
    crypto::hmac_sha256(material, &[MATERIAL_ID_INFO, key_id.as_bytes()])
}

impl Hsm {
    pub fn new(root_key: SecretKey, rng: Arc<dyn Rng>) -> Self {
        Hsm {
            materials: HashMap::new(),
            asym: HashMap::new(),
            wrapping: HashMap::new(),
            identity: None,
            state_mac_key: root_key.derive(STATE_MAC_INFO),
            seal_key: root_key.derive(SEAL_INFO),
            seals: std::sync::atomic::AtomicU64::new(0),
            rng,
        }
    }

    pub fn rng(&self) -> &dyn Rng {
        &*self.rng
    }

    pub fn random_bytes(&self, n: usize) -> Result<Zeroizing<Vec<u8>>> {
        let mut v = Zeroizing::new(vec![0u8; n]);
        self.rng.fill(&mut v)?;
        Ok(v)
    }

    /// The per-value key and nonce of sealed-value format 2.
    fn v2_key(&self, salt: &[u8]) -> (Zeroizing<[u8; KEY_LEN]>, [u8; NONCE_LEN]) {
        let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
        crypto::hkdf_sha256(&self.seal_key.0, salt, SEAL_V2_INFO, &mut okm[..])
            .expect("44 bytes is a valid HKDF length");
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(&okm[..KEY_LEN]);
        (k, okm[KEY_LEN..].try_into().expect("12 bytes"))
    }

    /// Seal in format 2: a fresh key and nonce for every value, so a busy,
    /// long-lived store never approaches AES-GCM's random-nonce limit under
    /// one key. The salt is 12 random bytes and this HSM's seal counter: two
    /// seals of one open never share it, and seals of different opens share
    /// it only if 96 random bits collide at the same counter value.
    fn seal(&self, aad: &[&[u8]], plaintext: &[u8]) -> Result<Vec<u8>> {
        self.seal_with(aad, plaintext.len(), |out| {
            out.extend_from_slice(plaintext);
            Ok(())
        })
    }

    /// [`Hsm::seal`] of what `write` appends to the sealed value's buffer
    /// (about `len` bytes): a value encoded straight into the buffer it is
    /// sealed in, with no intermediate copy.
    fn seal_with(
        &self,
        aad: &[&[u8]],
        len: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<Vec<u8>> {
        let mut salt = [0u8; SEAL_V2_SALT_LEN];
        self.rng.fill(&mut salt[..NONCE_LEN])?;
        let n = self
            .seals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        salt[NONCE_LEN..].copy_from_slice(&n.to_be_bytes());
        let (key, nonce) = self.v2_key(&salt);
        let mut full_aad = Vec::with_capacity(4 + aad.iter().map(|a| a.len()).sum::<usize>());
        full_aad.extend_from_slice(SEAL_V2_PREFIX);
        for a in aad {
            full_aad.extend_from_slice(a);
        }
        let head = SEAL_V2_PREFIX.len() + SEAL_V2_SALT_LEN;
        let mut out = Vec::with_capacity(head + len + crypto::TAG_LEN);
        out.extend_from_slice(SEAL_V2_PREFIX);
        out.extend_from_slice(&salt);
        write(&mut out)?;
        crypto::aes256gcm_seal_in_place_once(&key, &nonce, &full_aad, &mut out, head);
        Ok(out)
    }

    fn open(&self, aad: &[&[u8]], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.open_versioned(aad, sealed).map(|(v, _)| v)
    }

    /// Open a sealed value of either format. A format-1 value starts with a
    /// random nonce, which may by chance look like the format-2 prefix, so a
    /// prefixed value that fails as format 2 is tried as format 1; a forgery
    /// must still pass AES-GCM under the store key either way.
    fn open_versioned(
        &self,
        aad: &[&[u8]],
        sealed: &[u8],
    ) -> Option<(Zeroizing<Vec<u8>>, SealFormat)> {
        let head = SEAL_V2_PREFIX.len() + SEAL_V2_SALT_LEN;
        if sealed.len() >= head + crypto::TAG_LEN && sealed.starts_with(SEAL_V2_PREFIX) {
            let (key, nonce) = self.v2_key(&sealed[SEAL_V2_PREFIX.len()..head]);
            let mut full_aad = SEAL_V2_PREFIX.to_vec();
            for a in aad {
                full_aad.extend_from_slice(a);
            }
            if let Some(v) = crypto::aes256gcm_open_once(&key, &nonce, &full_aad, &sealed[head..]) {
                return Some((v, SealFormat::V2));
            }
        }
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let nonce: [u8; NONCE_LEN] = sealed[..NONCE_LEN].try_into().ok()?;
        crypto::aes256gcm_open(
            &self.seal_key.0,
            &nonce,
            &aad.concat(),
            &sealed[NONCE_LEN..],
        )
        .map(|v| (v, SealFormat::V1))
    }

    /// The MAC of a state root's body (counter ‖ digest).
    pub fn state_root_mac(&self, body: &[u8]) -> [u8; 32] {
        crypto::hmac_sha256(&self.state_mac_key.0, &[b"strongroom/v2/state-root", body])
    }

    /// Does `mac` authenticate a state root's body? Constant time.
    pub fn state_root_mac_matches(&self, body: &[u8], mac: &[u8]) -> bool {
        bool::from(self.state_root_mac(body)[..].ct_eq(mac))
    }

    /// The keyed tag of one store entry in the state root
    /// (`docs/formats/store.md`, State root):
    /// `HMAC-SHA256(state key, u32 len(name) ‖ name ‖ u32 len(value) ‖ value)`.
    pub fn entry_tag(&self, name: &str, value: &[u8]) -> [u8; 32] {
        crypto::hmac_sha256(
            &self.state_mac_key.0,
            &[
                &(name.len() as u32).to_be_bytes(),
                name.as_bytes(),
                &(value.len() as u32).to_be_bytes(),
                value,
            ],
        )
    }

    /// MAC for grant tokens (key derived from the store's root key).
    pub fn token_mac(&self, data: &[u8]) -> [u8; 32] {
        let k = self.seal_key.derive(b"strongroom/v1/grant-token");
        crypto::hmac_sha256(&k.0, &[data])
    }

    /// Does `candidate` derive the same store key as the root key this HSM
    /// was opened with? Constant time.
    pub fn root_matches(&self, candidate: &SecretKey) -> bool {
        let other = candidate.derive(SEAL_INFO);
        bool::from(self.seal_key.0.ct_eq(&other.0))
    }

    /// Seal a store value (record JSON etc.) bound to its store name.
    pub fn seal_value(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        self.seal(&[VALUE_AAD, &[0], name.as_bytes()], value)
    }

    /// [`Hsm::seal_value`] of what `write` appends (about `len` bytes) to
    /// the sealed value's own buffer.
    pub fn seal_value_with(
        &self,
        name: &str,
        len: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<Vec<u8>> {
        self.seal_with(&[VALUE_AAD, &[0], name.as_bytes()], len, write)
    }

    /// Open a store value; `None` if the root key is wrong or it was altered.
    pub fn open_value(&self, name: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.open(&[VALUE_AAD, &[0], name.as_bytes()], sealed)
    }

    /// [`Hsm::open_value`], also saying which sealed-value format it was.
    pub fn open_value_versioned(
        &self,
        name: &str,
        sealed: &[u8],
    ) -> Option<(Zeroizing<Vec<u8>>, SealFormat)> {
        self.open_versioned(&[VALUE_AAD, &[0], name.as_bytes()], sealed)
    }

    /// Generate fresh AES-256 material for a key. Returns its handle and the
    /// sealed form to persist.
    pub fn generate_material(&mut self, key_id: &str) -> Result<(MaterialHandle, Vec<u8>)> {
        let key = SecretKey::random(&*self.rng)?;
        self.install_aes(key_id, key, MaterialCheck::ANY)
    }

    /// Install AES material for a key: its id, its sealed form. It must
    /// pass `check`.
    fn install_aes(
        &mut self,
        key_id: &str,
        key: SecretKey,
        check: MaterialCheck<'_>,
    ) -> Result<(MaterialHandle, Vec<u8>)> {
        let handle = MaterialHandle {
            key_id: key_id.to_string(),
            material_id: material_id_for(key_id, &key.0),
        };
        check_expected(&handle, check)?;
        let sealed = self.seal(
            &[MATERIAL_AAD, &[0], key_id.as_bytes(), &handle.material_id],
            &key.0,
        )?;
        self.materials.insert(handle.clone(), key);
        Ok((handle, sealed))
    }

    /// Install asymmetric or HMAC material for a key, generated by
    /// [`AsymKey::generate`] before the caller took the KMS state lock
    /// (RSA generation is slow).
    /// It must pass `check` (a re-import brings back material the key had).
    pub fn install_asym(
        &mut self,
        key_id: &str,
        key: AsymKey,
        check: MaterialCheck<'_>,
    ) -> Result<(MaterialHandle, Vec<u8>)> {
        let bytes = key.to_bytes()?;
        let handle = MaterialHandle {
            key_id: key_id.to_string(),
            material_id: material_id_for(key_id, &bytes),
        };
        check_expected(&handle, check)?;
        let sealed = self.seal(
            &[MATERIAL_AAD, &[0], key_id.as_bytes(), &handle.material_id],
            &bytes,
        )?;
        self.asym.insert(handle.clone(), key);
        Ok((handle, sealed))
    }

    /// Caller-chosen material for a new key version (seed files, INSECURE:
    /// for tests only), checked against `spec` but not installed: its id is
    /// [`Hsm::chosen_material_id`], [`Hsm::install_chosen`] installs it.
    /// Symmetric keys take 32 raw bytes; see [`AsymKey::from_chosen`] for
    /// the others.
    pub fn chosen_key(spec: crate::model::KeySpec, material: &[u8]) -> Result<ChosenKey> {
        if spec == crate::model::KeySpec::SymmetricDefault {
            let bytes: [u8; KEY_LEN] = material.try_into().map_err(|_| {
                Error::validation(
                    "the chosen key material of a SYMMETRIC_DEFAULT key must be 32 bytes",
                )
            })?;
            return Ok(ChosenKey::Aes(SecretKey::from_bytes(bytes)));
        }
        Ok(ChosenKey::Asym(AsymKey::from_chosen(spec, material)?))
    }

    /// The material id `key` would have as a version of `key_id` (the same
    /// in every store: it depends only on the key id and the material).
    pub fn chosen_material_id(key_id: &str, key: &ChosenKey) -> Result<[u8; MATERIAL_ID_LEN]> {
        Ok(match key {
            ChosenKey::Aes(k) => material_id_for(key_id, &k.0),
            ChosenKey::Asym(k) => material_id_for(key_id, &k.to_bytes()?),
        })
    }

    /// Install chosen material as a version of `key_id`, as generated or
    /// imported material is: its handle and its sealed form for the store.
    pub fn install_chosen(
        &mut self,
        key_id: &str,
        key: ChosenKey,
    ) -> Result<(MaterialHandle, Vec<u8>)> {
        match key {
            ChosenKey::Aes(k) => self.install_aes(key_id, k, MaterialCheck::ANY),
            ChosenKey::Asym(k) => self.install_asym(key_id, k, MaterialCheck::ANY),
        }
    }

    fn asym_key(&self, handle: &MaterialHandle) -> Result<&AsymKey> {
        self.asym
            .get(handle)
            .ok_or_else(|| Error::internal("key material is not loaded"))
    }

    pub fn public_key(&self, h: &MaterialHandle) -> Result<Vec<u8>> {
        self.asym_key(h)?.public_key_der()
    }

    pub fn sign(
        &self,
        h: &MaterialHandle,
        alg: SigningAlgorithm,
        mt: MessageType,
        msg: &[u8],
    ) -> Result<Vec<u8>> {
        self.asym_key(h)?.sign(alg, mt, msg, &*self.rng)
    }

    pub fn verify(
        &self,
        h: &MaterialHandle,
        alg: SigningAlgorithm,
        mt: MessageType,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<bool> {
        self.asym_key(h)?.verify(alg, mt, msg, sig)
    }

    pub fn derive_shared_secret(&self, h: &MaterialHandle, peer: &[u8]) -> Result<Plaintext> {
        Ok(Plaintext::new(
            self.asym_key(h)?.derive_shared_secret(peer)?,
        ))
    }

    /// ML-KEM: (ciphertext, shared secret); the secret leaves as Plaintext.
    pub fn encapsulate(&self, h: &MaterialHandle) -> Result<(Vec<u8>, Plaintext)> {
        let (ct, ss) = self.asym_key(h)?.encapsulate(&*self.rng)?;
        Ok((ct, Plaintext::new(ss)))
    }

    pub fn decapsulate(&self, h: &MaterialHandle, ct: &[u8]) -> Result<Plaintext> {
        Ok(Plaintext::new(self.asym_key(h)?.decapsulate(ct)?))
    }

    pub fn rsa_encrypt(&self, h: &MaterialHandle, pt: &[u8], oaep: OaepHash) -> Result<Vec<u8>> {
        self.asym_key(h)?.rsa_encrypt(pt, oaep, &*self.rng)
    }

    pub fn rsa_decrypt(&self, h: &MaterialHandle, ct: &[u8], oaep: OaepHash) -> Result<Plaintext> {
        Ok(Plaintext::new(
            self.asym_key(h)?.rsa_decrypt(ct, oaep, &*self.rng)?,
        ))
    }

    pub fn mac(&self, h: &MaterialHandle, alg: MacAlgorithm, msg: &[u8]) -> Result<Vec<u8>> {
        self.asym_key(h)?.mac(alg, msg)
    }

    pub fn verify_mac(
        &self,
        h: &MaterialHandle,
        alg: MacAlgorithm,
        msg: &[u8],
        tag: &[u8],
    ) -> Result<bool> {
        self.asym_key(h)?.verify_mac(alg, msg, tag)
    }

    /// A fresh key pair for the caller: public key (DER SPKI), private key
    /// (PKCS#8 DER) and the private key encrypted under a symmetric KMS key.
    /// The pair comes from [`AsymKey::generate`] (run before the KMS state
    /// lock is taken) and exists nowhere else.
    pub fn generate_data_key_pair(
        &self,
        pair: AsymKey,
        wrapping: &MaterialHandle,
        context_encoding: &[u8],
    ) -> Result<(Vec<u8>, Plaintext, Vec<u8>)> {
        let public = pair.public_key_der()?;
        let private = pair.private_pkcs8()?;
        let blob = self.encrypt(wrapping, context_encoding, &private)?;
        Ok((public, Plaintext::new(private), blob))
    }

    /// Install a fresh RSA wrapping key (from [`AsymKey::generate`], run
    /// before the KMS state lock) for an import token. Returns its DER SPKI
    /// public key and its sealed form (for the store).
    pub fn new_wrapping_key(&mut self, token_id: &str, key: AsymKey) -> Result<(Vec<u8>, Vec<u8>)> {
        let public = key.public_key_der()?;
        let sealed = self.seal(&[WRAPPING_AAD, &[0], token_id.as_bytes()], &key.to_bytes()?)?;
        self.wrapping.insert(token_id.to_string(), key);
        Ok((public, sealed))
    }

    pub fn load_wrapping_key(&mut self, token_id: &str, sealed: &[u8]) -> Result<()> {
        let bytes = self
            .open(&[WRAPPING_AAD, &[0], token_id.as_bytes()], sealed)
            .ok_or_else(|| {
                Error::corrupted("a sealed import wrapping key failed authentication")
            })?;
        let key = AsymKey::from_bytes(&bytes)
            .ok_or_else(|| Error::corrupted("a sealed import wrapping key is unreadable"))?;
        self.wrapping.insert(token_id.to_string(), key);
        Ok(())
    }

    pub fn drop_wrapping_key(&mut self, token_id: &str) {
        self.wrapping.remove(token_id);
    }

    /// Unwrap imported material with a token's RSA wrapping key and
    /// install it as `spec` material of `key_id`: 32 bytes for
    /// SYMMETRIC_DEFAULT, the raw key for HMAC (the spec's length range), a
    /// PKCS#8 DER private key of the spec for RSA and ECC keys, passing
    /// `check` (new material, or a re-import of one the key has).
    /// Unwrapping failures are InvalidCiphertextException; material that is
    /// not right for the spec is IncorrectKeyMaterialException naming the
    /// spec, never the bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn import_material(
        &mut self,
        key_id: &str,
        spec: KeySpec,
        token_id: &str,
        alg: WrappingAlgorithm,
        wrapped: &[u8],
        check: MaterialCheck<'_>,
    ) -> Result<(MaterialHandle, Vec<u8>)> {
        let wk = self.wrapping.get(token_id).ok_or_else(|| {
            Error::new(
                crate::error::ErrorCode::InvalidImportToken,
                "The import token is not valid",
            )
        })?;
        let oaep = match alg {
            WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
                OaepHash::Sha1
            }
            WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
                OaepHash::Sha256
            }
            other => {
                return Err(Error::new(
                    crate::error::ErrorCode::UnsupportedOperation,
                    format!("wrapping algorithm {other} is not supported"),
                ))
            }
        };
        let material: Zeroizing<Vec<u8>> = match alg {
            WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaesOaepSha256 => {
                wk.rsa_decrypt(wrapped, oaep, &*self.rng)?
            }
            _ => {
                // RSA-OAEP(ephemeral AES-256 key) ‖ AES-KWP (RFC 5649) of the
                // material, the CKM_RSA_AES_KEY_WRAP layout.
                let k = wk.rsa_modulus_len()?;
                if wrapped.len() <= k {
                    return Err(Error::invalid_ciphertext());
                }
                let aes = wk.rsa_decrypt(&wrapped[..k], oaep, &*self.rng)?;
                let aes: [u8; 32] = aes[..]
                    .try_into()
                    .map_err(|_| Error::invalid_ciphertext())?;
                let kek = aes_kw::KekAes256::from(aes);
                Zeroizing::new(
                    kek.unwrap_with_padding_vec(&wrapped[k..])
                        .map_err(|_| Error::invalid_ciphertext())?,
                )
            }
        };
        let incorrect = |what: String| {
            Error::new(
                crate::error::ErrorCode::IncorrectKeyMaterial,
                format!("imported key material for a {spec} key must be {what}"),
            )
        };
        if spec == KeySpec::SymmetricDefault {
            let bytes: [u8; KEY_LEN] = material[..]
                .try_into()
                .map_err(|_| incorrect("32 bytes".into()))?;
            return self.install_aes(key_id, SecretKey::from_bytes(bytes), check);
        }
        let key = AsymKey::from_imported(spec, &material).map_err(|_| {
            incorrect(match spec {
                KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                    let (lo, hi) = asym_key::hmac_import_len(spec);
                    format!("{lo} to {hi} bytes")
                }
                _ => "a PKCS#8 DER private key of the spec".into(),
            })
        })?;
        self.install_asym(key_id, key, check)
    }

    // ------------------------------------------------------------ replication

    /// Load or create this store's P-256 identity key (for replication
    /// packages). Returns the sealed form when a new one was made.
    pub fn load_or_create_identity(&mut self, sealed: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        if let Some(sealed) = sealed {
            let b = self
                .open(&[IDENTITY_AAD], sealed)
                .ok_or_else(|| Error::corrupted("the store identity key failed authentication"))?;
            let k = p256::SecretKey::from_slice(&b)
                .map_err(|_| Error::corrupted("the store identity key is unreadable"))?;
            self.identity = Some(k);
            return Ok(None);
        }
        let mut b = Zeroizing::new([0u8; 32]);
        let k = loop {
            self.rng.fill(&mut b[..])?;
            if let Ok(k) = p256::SecretKey::from_slice(&b[..]) {
                break k;
            }
        };
        let sealed = self.seal(&[IDENTITY_AAD], &b[..])?;
        self.identity = Some(k);
        Ok(Some(sealed))
    }

    /// DER SPKI of the store identity public key.
    pub fn identity_public_key(&self) -> Result<Vec<u8>> {
        use p256::pkcs8::EncodePublicKey;
        let k = self
            .identity
            .as_ref()
            .ok_or_else(|| Error::internal("no store identity"))?;
        k.public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::internal("SPKI encoding failed"))
    }

    fn package_keys(
        z1: &[u8],
        z2: &[u8],
        header: &[u8],
    ) -> (Zeroizing<[u8; KEY_LEN]>, [u8; NONCE_LEN]) {
        let mut ikm = Zeroizing::new(Vec::with_capacity(z1.len() + z2.len()));
        ikm.extend_from_slice(z1);
        ikm.extend_from_slice(z2);
        let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
        crypto::hkdf_sha256(&ikm, REPLICATION_INFO, header, &mut okm[..]).expect("44 bytes");
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(&okm[..KEY_LEN]);
        (k, okm[KEY_LEN..].try_into().expect("12 bytes"))
    }

    /// Seal material versions of a key for another store
    /// (`docs/formats/replication-package.md`). The material never leaves
    /// the HSM in the clear.
    pub fn seal_replication_package(
        &self,
        header: &[u8],
        handles: &[MaterialHandle],
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
        let me = self
            .identity
            .as_ref()
            .ok_or_else(|| Error::internal("no store identity"))?;
        let dest = p256::PublicKey::from_public_key_der(dest_identity).map_err(|_| {
            Error::validation("the destination identity key is not a P-256 DER SPKI")
        })?;
        let mut eph_b = Zeroizing::new([0u8; 32]);
        let eph = loop {
            self.rng.fill(&mut eph_b[..])?;
            if let Ok(k) = p256::SecretKey::from_slice(&eph_b[..]) {
                break k;
            }
        };
        let eph_pub = eph
            .public_key()
            .to_public_key_der()
            .map_err(|_| Error::internal("SPKI"))?;
        let z1 = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), dest.as_affine());
        let z2 = p256::ecdh::diffie_hellman(me.to_nonzero_scalar(), dest.as_affine());
        let mut aad = header.to_vec();
        aad.extend_from_slice(&(eph_pub.as_bytes().len() as u16).to_be_bytes());
        aad.extend_from_slice(eph_pub.as_bytes());
        let (k, nonce) = Self::package_keys(z1.raw_secret_bytes(), z2.raw_secret_bytes(), &aad);
        // Payload: u32 count, then per version: 32-byte id, u32 len, material.
        let mut payload = Zeroizing::new(Vec::new());
        payload.extend_from_slice(&(handles.len() as u32).to_be_bytes());
        for h in handles {
            let bytes: Zeroizing<Vec<u8>> = if let Some(k) = self.materials.get(h) {
                Zeroizing::new(k.0.to_vec())
            } else if let Some(a) = self.asym.get(h) {
                a.to_bytes()?
            } else {
                return Err(Error::internal("key material is not loaded"));
            };
            payload.extend_from_slice(&h.material_id);
            payload.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            payload.extend_from_slice(&bytes);
        }
        let mut out = aad.clone();
        let start = out.len();
        out.extend_from_slice(&payload);
        crypto::aes256gcm_seal_in_place(&k, &nonce, &aad, &mut out, start);
        Ok(out)
    }

    /// Open a replication package made for this store by the holder of
    /// `source_identity`; check that the payload holds exactly the material
    /// versions `expected` (the ids its header lists), each once; check every
    /// material against its id; only then install the materials and return
    /// their handles and sealed forms. `header_len` is where the caller's
    /// parsed header ends.
    pub fn open_replication_package(
        &mut self,
        package: &[u8],
        header_len: usize,
        key_id: &str,
        source_identity: &[u8],
        expected: &[[u8; 32]],
    ) -> Result<Vec<(MaterialHandle, Vec<u8>)>> {
        use p256::pkcs8::DecodePublicKey;
        let bad = Error::invalid_ciphertext;
        let me = self
            .identity
            .as_ref()
            .ok_or_else(|| Error::internal("no store identity"))?;
        let source = p256::PublicKey::from_public_key_der(source_identity)
            .map_err(|_| Error::validation("the source identity key is not a P-256 DER SPKI"))?;
        let rest = package.get(header_len..).ok_or_else(bad)?;
        if rest.len() < 2 {
            return Err(bad());
        }
        let el = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let eph_der = rest.get(2..2 + el).ok_or_else(bad)?;
        let eph = p256::PublicKey::from_public_key_der(eph_der).map_err(|_| bad())?;
        let aad = &package[..header_len + 2 + el];
        let body = &package[header_len + 2 + el..];
        let z1 = p256::ecdh::diffie_hellman(me.to_nonzero_scalar(), eph.as_affine());
        let z2 = p256::ecdh::diffie_hellman(me.to_nonzero_scalar(), source.as_affine());
        let (k, nonce) = Self::package_keys(z1.raw_secret_bytes(), z2.raw_secret_bytes(), aad);
        let payload = crypto::aes256gcm_open(&k, &nonce, aad, body).ok_or_else(bad)?;
        let mut r = crate::wire::Reader(&payload, 0);
        let count = r.u32()? as usize;
        let incomplete = || {
            Error::validation(
                "the replication package's payload does not hold exactly the key material versions it lists",
            )
        };
        if count != expected.len() {
            return Err(incomplete());
        }
        // Read and check everything before installing anything.
        let mut parsed: Vec<([u8; 32], Zeroizing<Vec<u8>>)> = Vec::with_capacity(count);
        for _ in 0..count {
            let id: [u8; 32] = r.take(32)?.try_into().map_err(|_| bad())?;
            let len = r.u32()? as usize;
            let bytes = Zeroizing::new(r.take(len)?.to_vec());
            if !expected.contains(&id) || parsed.iter().any(|(seen, _)| *seen == id) {
                return Err(incomplete());
            }
            let well_formed = bytes.len() == KEY_LEN || AsymKey::from_bytes(&bytes).is_some();
            if !well_formed || !bool::from(material_id_for(key_id, &bytes).ct_eq(&id)) {
                return Err(bad());
            }
            parsed.push((id, bytes));
        }
        let mut out = Vec::with_capacity(count);
        for (id, bytes) in parsed {
            let handle = MaterialHandle {
                key_id: key_id.to_string(),
                material_id: id,
            };
            let sealed = self.seal(&[MATERIAL_AAD, &[0], key_id.as_bytes(), &id], &bytes)?;
            self.load_material(&handle, &sealed)?;
            out.push((handle, sealed));
        }
        Ok(out)
    }

    /// Delete one material version (imported material being deleted).
    pub fn remove_material(&mut self, handle: &MaterialHandle) {
        self.materials.remove(handle);
        self.asym.remove(handle);
    }

    /// Forget every loaded material and import wrapping key (before the
    /// state is rebuilt from the store, so nothing the store does not hold
    /// stays usable).
    pub fn forget_loaded(&mut self) {
        self.materials.clear();
        self.asym.clear();
        self.wrapping.clear();
    }

    /// Was the store entry `(name, sealed)` written in sealed-value format
    /// 2 (that is, by a version that keeps a state root)? Tries the AAD its
    /// name implies; a value that does not open as format 2 is not.
    pub fn entry_is_format_2(&self, name: &str, sealed: &[u8]) -> bool {
        if !sealed.starts_with(SEAL_V2_PREFIX) {
            return false;
        }
        let opened = if let Some(rest) = name.strip_prefix("mat/") {
            let Some((key_id, hexid)) = rest.split_once('/') else {
                return false;
            };
            let mut id = [0u8; MATERIAL_ID_LEN];
            if hex::decode_to_slice(hexid, &mut id).is_err() {
                return false;
            }
            self.open_versioned(&[MATERIAL_AAD, &[0], key_id.as_bytes(), &id], sealed)
        } else if name == "meta/store-identity" {
            self.open_versioned(&[IDENTITY_AAD], sealed)
        } else {
            self.open_value_versioned(name, sealed)
        };
        matches!(opened, Some((_, SealFormat::V2)))
    }

    /// Load sealed material from the store.
    pub fn load_material(&mut self, handle: &MaterialHandle, sealed: &[u8]) -> Result<()> {
        self.load_material_of(handle, sealed, None)
    }

    /// Load sealed material; `symmetric` says whether the key it belongs to
    /// is SYMMETRIC_DEFAULT (AES) or not. Without it (a package whose key
    /// record is not known here) a 32-byte value is AES material; with it,
    /// an imported HMAC key whose stored form is 32 bytes reads back as
    /// HMAC.
    pub fn load_material_of(
        &mut self,
        handle: &MaterialHandle,
        sealed: &[u8],
        symmetric: Option<bool>,
    ) -> Result<()> {
        let opened = self
            .open(
                &[
                    MATERIAL_AAD,
                    &[0],
                    handle.key_id.as_bytes(),
                    &handle.material_id,
                ],
                sealed,
            )
            .ok_or_else(|| Error::corrupted("sealed key material failed authentication"))?;
        if !symmetric.unwrap_or(opened.len() == KEY_LEN) {
            let key = AsymKey::from_bytes(&opened)
                .ok_or_else(|| Error::corrupted("sealed key material is unreadable"))?;
            let id = material_id_for(&handle.key_id, &opened);
            if !bool::from(id.ct_eq(&handle.material_id)) {
                return Err(Error::corrupted("key material does not match its id"));
            }
            self.asym.insert(handle.clone(), key);
            return Ok(());
        }
        let bytes: [u8; KEY_LEN] = opened[..]
            .try_into()
            .map_err(|_| Error::corrupted("sealed key material has the wrong length"))?;
        let key = SecretKey::from_bytes(bytes);
        if !bool::from(material_id_for(&handle.key_id, &key.0).ct_eq(&handle.material_id)) {
            return Err(Error::corrupted("key material does not match its id"));
        }
        self.materials.insert(handle.clone(), key);
        Ok(())
    }

    pub fn has_material(&self, handle: &MaterialHandle) -> bool {
        self.materials.contains_key(handle) || self.asym.contains_key(handle)
    }

    /// Destroy every material version of a key (zeroized on drop).
    pub fn destroy_key(&mut self, key_id: &str) {
        self.materials.retain(|h, _| h.key_id != key_id);
        self.asym.retain(|h, _| h.key_id != key_id);
    }

    fn blob_keys(
        key: &SecretKey,
        salt: &[u8; SALT_LEN],
    ) -> (Zeroizing<[u8; KEY_LEN]>, [u8; NONCE_LEN]) {
        let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
        crypto::hkdf_sha256(&key.0, salt, blob::HKDF_INFO, &mut okm[..])
            .expect("44 bytes is a valid HKDF length");
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(&okm[..KEY_LEN]);
        let n: [u8; NONCE_LEN] = okm[KEY_LEN..].try_into().expect("12 bytes");
        (k, n)
    }

    /// Encrypt under a material version; returns the blob.
    pub fn encrypt(
        &self,
        handle: &MaterialHandle,
        context_encoding: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let key = self.aes_key(handle)?;
        let mut salt = [0u8; SALT_LEN];
        self.rng.fill(&mut salt)?;
        Ok(Self::encrypt_with_salt(
            key,
            handle,
            context_encoding,
            plaintext,
            &salt,
        ))
    }

    fn aes_key(&self, handle: &MaterialHandle) -> Result<&SecretKey> {
        self.materials
            .get(handle)
            .ok_or_else(|| Error::internal("key material is not loaded"))
    }

    /// The blob of `plaintext` under `key` (the material of `handle`) with
    /// a salt the caller drew.
    fn encrypt_with_salt(
        key: &SecretKey,
        handle: &MaterialHandle,
        context_encoding: &[u8],
        plaintext: &[u8],
        salt: &[u8; SALT_LEN],
    ) -> Vec<u8> {
        let (k, nonce) = Self::blob_keys(key, salt);
        let mut out = blob::write_header(
            &handle.key_id,
            &handle.material_id,
            salt,
            plaintext.len() + 16,
        );
        let header_len = out.len();
        let mut aad = Vec::with_capacity(header_len + context_encoding.len());
        aad.extend_from_slice(&out);
        aad.extend_from_slice(context_encoding);
        out.extend_from_slice(plaintext);
        crypto::aes256gcm_seal_in_place_once(&k, &nonce, &aad, &mut out, header_len);
        out
    }

    /// Decrypt a parsed blob. Every failure is the same opaque error.
    pub fn decrypt(&self, parsed: &ParsedBlob<'_>, context_encoding: &[u8]) -> Result<Plaintext> {
        let handle = MaterialHandle {
            key_id: parsed.key_id.to_string(),
            material_id: *parsed.material_id,
        };
        let key = self
            .materials
            .get(&handle)
            .ok_or_else(Error::invalid_ciphertext)?;
        let (k, nonce) = Self::blob_keys(key, parsed.salt);
        let mut aad = Vec::with_capacity(parsed.header.len() + context_encoding.len());
        aad.extend_from_slice(parsed.header);
        aad.extend_from_slice(context_encoding);
        crypto::aes256gcm_open_once(&k, &nonce, &aad, parsed.ciphertext_and_tag)
            .map(Plaintext::new)
            .ok_or_else(Error::invalid_ciphertext)
    }

    /// Decrypt and re-encrypt inside the boundary: the plaintext never
    /// leaves. Either side may be a symmetric blob or RSA-OAEP.
    pub fn reencrypt(
        &self,
        source: ReEncryptSource<'_>,
        dest: ReEncryptDest<'_>,
    ) -> Result<Vec<u8>> {
        let pt = match source {
            ReEncryptSource::Blob(parsed, context) => self.decrypt(parsed, context)?,
            ReEncryptSource::Rsa(h, ct, oaep) => self.rsa_decrypt(h, ct, oaep)?,
        };
        match dest {
            ReEncryptDest::Blob(h, context) => self.encrypt(h, context, pt.as_bytes()),
            ReEncryptDest::Rsa(h, oaep) => self.rsa_encrypt(h, pt.as_bytes(), oaep),
        }
    }

    /// Fresh data key: plaintext (for the caller) and its blob.
    pub fn generate_data_key(
        &self,
        handle: &MaterialHandle,
        context_encoding: &[u8],
        n: usize,
    ) -> Result<(Plaintext, Vec<u8>)> {
        let key = self.aes_key(handle)?;
        // The data key and its blob's salt in one draw (in this order, as
        // two draws would make them from a seeded generator).
        let mut dk = Zeroizing::new(vec![0u8; n]);
        let mut salt = [0u8; SALT_LEN];
        self.rng.fill_each(&mut [&mut dk[..], &mut salt[..]])?;
        let blob = Self::encrypt_with_salt(key, handle, context_encoding, &dk, &salt);
        Ok((Plaintext::new(dk), blob))
    }
}

/// What ReEncrypt opens: a symmetric blob (with its context encoding) or
/// an RSA-OAEP ciphertext under an RSA key.
pub(crate) enum ReEncryptSource<'a> {
    Blob(&'a ParsedBlob<'a>, &'a [u8]),
    Rsa(&'a MaterialHandle, &'a [u8], OaepHash),
}

/// What ReEncrypt seals the plaintext to.
pub(crate) enum ReEncryptDest<'a> {
    Blob(&'a MaterialHandle, &'a [u8]),
    Rsa(&'a MaterialHandle, OaepHash),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::DangerousSeededRng;

    /// Rebuild a blob from docs/formats/ciphertext-blob.md using the
    /// RustCrypto crates directly (not this module's helpers) and compare.
    #[test]
    fn blob_matches_the_written_spec() {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let mut hsm = Hsm::new(
            SecretKey::from_bytes([1; 32]),
            Arc::new(DangerousSeededRng::new([9; 32])),
        );
        let key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let backing = [0x11u8; 32];
        let handle = MaterialHandle {
            key_id: key_id.into(),
            material_id: material_id_for(key_id, &backing),
        };
        hsm.materials
            .insert(handle.clone(), SecretKey::from_bytes(backing));
        let ctx = crate::context::canonical_encoding(
            &[("k".to_string(), "v".to_string())].into_iter().collect(),
        )
        .unwrap();
        let blob = hsm.encrypt(&handle, &ctx, b"spec check").unwrap();

        // Material id = HMAC-SHA256(material, "strongroom/v1/material-id" ‖ key id).
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&backing).unwrap();
        hmac::Mac::update(&mut mac, b"strongroom/v1/material-id");
        hmac::Mac::update(&mut mac, key_id.as_bytes());
        let mat_id: [u8; 32] = hmac::Mac::finalize(mac).into_bytes().into();

        let l = key_id.len();
        assert_eq!(blob[0], 0x01);
        assert_eq!(blob[1] as usize, l);
        assert_eq!(&blob[2..2 + l], key_id.as_bytes());
        assert_eq!(&blob[2 + l..34 + l], &mat_id);
        let salt = &blob[34 + l..66 + l];
        let mut okm = [0u8; 44];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), &backing)
            .expand(b"strongroom/v1/blob", &mut okm)
            .unwrap();
        let mut aad = blob[..66 + l].to_vec();
        aad.extend_from_slice(&ctx);
        let expect = aes_gcm::Aes256Gcm::new_from_slice(&okm[..32])
            .unwrap()
            .encrypt(
                aes_gcm::Nonce::from_slice(&okm[32..]),
                Payload {
                    msg: b"spec check",
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(&blob[66 + l..], &expect[..]);
        assert_eq!(blob.len(), 66 + l + 10 + 16);
    }

    #[test]
    fn secrets_are_redacted() {
        // The exact output: a derived Debug (`SecretKey([171, 171, ...])`)
        // or a hex one would differ.
        let k = SecretKey::from_bytes([0xAB; 32]);
        assert_eq!(format!("{k:?}"), "SecretKey(<redacted>)");
        assert_eq!(format!("{k:#?}"), "SecretKey(<redacted>)");
        let hsm = Hsm::new(k, Arc::new(DangerousSeededRng::new([5; 32])));
        assert_eq!(format!("{hsm:?}"), "Hsm { materials: 0, .. }");
    }

    #[test]
    fn material_is_bound_to_its_key_id() {
        let mut hsm = Hsm::new(
            SecretKey::from_bytes([1; 32]),
            Arc::new(DangerousSeededRng::new([3; 32])),
        );
        let (h, sealed) = hsm.generate_material("key-a").unwrap();
        let moved = MaterialHandle {
            key_id: "key-b".into(),
            material_id: h.material_id,
        };
        assert!(hsm.load_material(&moved, &sealed).is_err());
        assert!(hsm.load_material(&h, &sealed).is_ok());
        let other_root = Hsm::new(
            SecretKey::from_bytes([2; 32]),
            Arc::new(DangerousSeededRng::new([3; 32])),
        );
        let mut other_root = other_root;
        assert!(other_root.load_material(&h, &sealed).is_err());
    }
}
