//! Secret byte strings that cross the API: plaintexts in (Encrypt) and out
//! (Decrypt, GenerateDataKey, GenerateRandom). Zeroized on drop, redacted in
//! `Debug`, no `PartialEq` (use the constant-time [`SecretBytes::ct_eq`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Build with `.into()` from `Vec<u8>`, `&[u8]`, `&[u8; N]` or `&str`.
/// Serialises as hex (for JSON vectors).
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

/// What operations return: the same type, named for readability.
pub type Plaintext = SecretBytes;

impl SecretBytes {
    pub(crate) fn new(v: Zeroizing<Vec<u8>>) -> Self {
        SecretBytes(v)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Constant-time comparison with other bytes.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.len() == other.len() && bool::from(self.0.as_slice().ct_eq(other))
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(v))
    }
}
impl From<&[u8]> for SecretBytes {
    fn from(v: &[u8]) -> Self {
        v.to_vec().into()
    }
}
impl<const N: usize> From<&[u8; N]> for SecretBytes {
    fn from(v: &[u8; N]) -> Self {
        v.to_vec().into()
    }
}
impl From<&str> for SecretBytes {
    fn from(v: &str) -> Self {
        v.as_bytes().to_vec().into()
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hex::serde::serialize(&self.0[..], s)
    }
}
impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<u8> = hex::serde::deserialize(d)?;
        Ok(v.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_and_constant_time_comparable() {
        let p = SecretBytes::from(b"very secret");
        assert!(!format!("{p:?}").contains("secret"));
        assert!(p.ct_eq(b"very secret"));
        assert!(!p.ct_eq(b"very secreT"));
        assert!(!p.ct_eq(b"very"));
    }
}
