//! Secret byte strings that cross the API: plaintexts in (Encrypt) and out
//! (Decrypt, GenerateDataKey, GenerateRandom). Zeroized on drop, redacted in
//! `Debug`, no `PartialEq` (use the constant-time [`SecretBytes::ct_eq`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Wipe `buf` with volatile writes, eight bytes at a time where aligned
/// (zeroize's byte-wise loop over a multi-megabyte plaintext cost about as
/// much as decrypting it). Public for bindings that reuse plaintext buffers.
pub fn wipe(buf: &mut [u8]) {
    let (head, middle, tail) = bytemuck::pod_align_to_mut::<u8, u64>(buf);
    head.zeroize();
    middle.zeroize();
    tail.zeroize();
}

/// A byte vector wiped on drop, spare capacity included (as
/// `Zeroizing<Vec<u8>>`, but with [`wipe`]).
#[derive(Default)]
pub(crate) struct WipedVec(Vec<u8>);

impl WipedVec {
    pub(crate) fn new(v: Vec<u8>) -> Self {
        WipedVec(v)
    }
}

impl Clone for WipedVec {
    fn clone(&self) -> Self {
        WipedVec(self.0.clone())
    }
}

impl Drop for WipedVec {
    fn drop(&mut self) {
        // Initialise the spare capacity (no reallocation), then wipe it all.
        let cap = self.0.capacity();
        self.0.resize(cap, 0);
        wipe(&mut self.0);
        self.0.clear();
    }
}

impl std::ops::Deref for WipedVec {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

/// Build with `.into()` from `Vec<u8>`, `&[u8]`, `&[u8; N]` or `&str`.
/// Serialises as an AWS blob: base64 text made in a zeroizing buffer, or
/// native bytes inside [`crate::shape::native_values`].
#[derive(Clone, Default)]
pub struct SecretBytes(WipedVec);

/// What operations return: the same type, named for readability.
pub type Plaintext = SecretBytes;

impl SecretBytes {
    pub(crate) fn new(mut v: Zeroizing<Vec<u8>>) -> Self {
        SecretBytes(WipedVec(std::mem::take(&mut *v)))
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
        SecretBytes(WipedVec::new(v))
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
        crate::shape::secret_blob::serialize(self, s)
    }
}
impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::shape::secret_blob::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_and_constant_time_comparable() {
        let p = SecretBytes::from(b"very secret");
        // The exact output: a derived Debug would print the bytes as
        // decimal numbers, which no substring check would notice.
        assert_eq!(format!("{p:?}"), "SecretBytes(<11 bytes redacted>)");
        assert_eq!(format!("{p:#?}"), "SecretBytes(<11 bytes redacted>)");
        assert_eq!(
            format!("{:?}", SecretBytes::default()),
            "SecretBytes(<0 bytes redacted>)"
        );
        assert!(p.ct_eq(b"very secret"));
        assert!(!p.ct_eq(b"very secreT"));
        assert!(!p.ct_eq(b"very"));
    }

    #[test]
    fn wipe_clears_every_byte_at_any_alignment() {
        let mut v: Vec<u8> = (0..1000u32).map(|i| (i % 251 + 1) as u8).collect();
        for start in 0..9 {
            for end in [start, start + 1, start + 7, start + 8, start + 100, 1000] {
                let mut w = v.clone();
                wipe(&mut w[start..end]);
                assert!(w[start..end].iter().all(|b| *b == 0));
                assert_eq!(w[..start], v[..start]);
                assert_eq!(w[end..], v[end..]);
            }
        }
        v.reserve(100);
        let cap = v.capacity();
        let w = WipedVec::new(v);
        drop(w);
        assert!(cap >= 1100);
    }
}
