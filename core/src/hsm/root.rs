//! The root key that seals the store, and the Argon2id stretching of a
//! passphrase into it: key bytes, so they live behind the HSM wall.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::SecretKey;
use crate::error::{Error, ErrorCode, Result};

/// The key that seals the store: 32 raw bytes from the application, or a
/// passphrase stretched with Argon2id. Zeroized on drop; Debug redacted.
/// Cloning copies the secret (each copy is zeroized on drop).
#[derive(Clone)]
pub enum RootKey {
    Raw(Zeroizing<[u8; 32]>),
    Passphrase(Zeroizing<String>),
}

impl RootKey {
    pub fn raw(bytes: [u8; 32]) -> Self {
        RootKey::Raw(Zeroizing::new(bytes))
    }
    pub fn passphrase(p: impl Into<String>) -> Self {
        RootKey::Passphrase(Zeroizing::new(p.into()))
    }

    /// Exactly one of 32 raw bytes or a passphrase, as the language
    /// bindings take them; anything else is a `ValidationException`.
    pub fn from_parts(raw: Option<&[u8]>, passphrase: Option<String>) -> Result<Self> {
        match (raw, passphrase) {
            (Some(k), None) => {
                Ok(RootKey::raw(k.try_into().map_err(|_| {
                    Error::validation("the root key must be exactly 32 bytes")
                })?))
            }
            (None, Some(p)) => Ok(RootKey::passphrase(p)),
            _ => Err(Error::validation(
                "give exactly one of a root key and a passphrase",
            )),
        }
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootKey::Raw(_) => f.write_str("RootKey::Raw(<redacted>)"),
            RootKey::Passphrase(_) => f.write_str("RootKey::Passphrase(<redacted>)"),
        }
    }
}

/// Argon2id cost parameters for passphrase root keys. The default is the
/// OWASP recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Params {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            m_kib: 19 * 1024,
            t: 2,
            p: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KdfRecord {
    pub(crate) alg: String,
    pub(crate) params: Argon2Params,
    pub(crate) salt: String,
}

/// Bounds on the Argon2id parameters a store may carry. `meta/kdf` is not
/// sealed (it is needed before the root key exists), so whoever can write
/// the store's files chooses these numbers: they are checked before any
/// memory is reserved or any pass is run. Creating a store with parameters
/// outside them is refused too, so every store this build makes opens.
pub const ARGON2_MAX_M_KIB: u32 = 1 << 20; // 1 GiB
pub const ARGON2_MAX_T: u32 = 32;
pub const ARGON2_MAX_P: u32 = 16;
/// Total work (memory × passes, in KiB): 4 GiB-passes, e.g. 1 GiB × 4 or
/// the default 19 MiB × 2 about a hundred times over.
pub const ARGON2_MAX_WORK_KIB: u64 = 4 << 20;
/// Salt length in bytes (the store writes 16).
pub const ARGON2_SALT_LEN: std::ops::RangeInclusive<usize> = 16..=64;

impl Argon2Params {
    /// Within the bounds above (and Argon2's own minimum of 8 KiB a lane)?
    pub(crate) fn within_bounds(&self) -> bool {
        (1..=ARGON2_MAX_P).contains(&self.p)
            && (1..=ARGON2_MAX_T).contains(&self.t)
            && self.m_kib >= 8 * self.p
            && self.m_kib <= ARGON2_MAX_M_KIB
            && self.m_kib as u64 * self.t as u64 <= ARGON2_MAX_WORK_KIB
    }
}

impl KdfRecord {
    /// Parse and bound a stored `meta/kdf` entry; returns it and its salt.
    /// Anything out of bounds is `StoreCorruptedException` (an unknown
    /// algorithm `UnsupportedStoreVersionException`), before any work.
    pub(crate) fn parse(entry: &[u8]) -> Result<(KdfRecord, Vec<u8>)> {
        let kdf: KdfRecord = serde_json::from_slice(entry)
            .map_err(|_| Error::corrupted("the passphrase parameters are unreadable"))?;
        if kdf.alg != "argon2id-v19" {
            return Err(Error::new(
                ErrorCode::UnsupportedStoreVersion,
                format!("unknown passphrase KDF '{}'", kdf.alg),
            ));
        }
        if !kdf.params.within_bounds() {
            return Err(Error::corrupted(format!(
                "the passphrase parameters are out of bounds (m_kib {}, t {}, p {}; at most {ARGON2_MAX_M_KIB} KiB, {ARGON2_MAX_T} passes, {ARGON2_MAX_P} lanes)",
                kdf.params.m_kib, kdf.params.t, kdf.params.p
            )));
        }
        if !ARGON2_SALT_LEN.contains(&(kdf.salt.len() / 2)) || !kdf.salt.len().is_multiple_of(2) {
            return Err(Error::corrupted("bad passphrase salt length"));
        }
        let salt = hex::decode(&kdf.salt).map_err(|_| Error::corrupted("bad passphrase salt"))?;
        Ok((kdf, salt))
    }
}

pub(crate) fn argon2_derive(pass: &str, salt: &[u8], p: Argon2Params) -> Result<SecretKey> {
    let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32))
        .map_err(|e| Error::validation(format!("invalid Argon2 parameters: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(pass.as_bytes(), salt, &mut out[..])
        .map_err(|e| Error::validation(format!("Argon2 failed: {e}")))?;
    Ok(SecretKey::from_bytes(*out))
}

/// Derive the root key a caller presents (for recovery), using the
/// store's passphrase parameters when it has them.
pub(crate) fn candidate_root_key(root: RootKey, kdf: Option<&[u8]>) -> Result<SecretKey> {
    let invalid = || {
        Error::new(
            ErrorCode::InvalidRootKey,
            "the root key does not open this store",
        )
    };
    match (root, kdf) {
        (RootKey::Raw(bytes), None) => Ok(SecretKey::from_bytes(*bytes)),
        (RootKey::Passphrase(pass), Some(k)) => {
            let (kdf, salt) = KdfRecord::parse(k)?;
            argon2_derive(&pass, &salt, kdf.params)
        }
        _ => Err(invalid()),
    }
}
