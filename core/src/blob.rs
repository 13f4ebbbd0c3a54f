//! Ciphertext blob format v1. The byte-level spec is
//! `docs/formats/ciphertext-blob.md`; this module is its only reader/writer.
//!
//! ```text
//! offset    size  field
//! 0         1     version = 0x01
//! 1         1     L = length of key id (1..=64)
//! 2         L     key id, ASCII [A-Za-z0-9-]
//! 2+L       32    material id (the KeyMaterialId, raw)
//! 34+L      32    salt (fresh random per blob)
//! 66+L      n     AES-256-GCM ciphertext (n >= 1)
//! 66+L+n    16    GCM tag
//! ```
//! Per-blob key and nonce: `HKDF-SHA256(ikm = backing key, salt, info =
//! "strongroom/v1/blob")` → 44 bytes = key(32) ‖ nonce(12).
//! AAD = bytes `0 .. 66+L` (the header) ‖ canonical encryption context.

use crate::error::{Error, Result};

pub const BLOB_VERSION_1: u8 = 0x01;
pub const MAX_BLOB_LEN: usize = 6144;
pub const MAX_KEY_ID_LEN: usize = 64;
pub const MATERIAL_ID_LEN: usize = 32;
pub const SALT_LEN: usize = 32;
pub(crate) const HKDF_INFO: &[u8] = b"strongroom/v1/blob";

/// A parsed (not yet authenticated) blob. Borrowed from the input bytes.
#[derive(Debug, Clone, Copy)]
pub struct ParsedBlob<'a> {
    pub key_id: &'a str,
    pub material_id: &'a [u8; MATERIAL_ID_LEN],
    pub salt: &'a [u8; SALT_LEN],
    /// Everything before the ciphertext: the part bound as AAD.
    pub header: &'a [u8],
    /// Ciphertext ‖ tag.
    pub ciphertext_and_tag: &'a [u8],
}

pub(crate) fn valid_key_id_chars(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Parse a blob. Every structural problem is the same opaque
/// `InvalidCiphertextException`. Never panics, for any input.
pub fn parse(blob: &[u8]) -> Result<ParsedBlob<'_>> {
    let bad = Error::invalid_ciphertext;
    if blob.is_empty() || blob.len() > MAX_BLOB_LEN || blob[0] != BLOB_VERSION_1 {
        return Err(bad());
    }
    let l = *blob.get(1).ok_or_else(bad)? as usize;
    let header_len = 2 + l + MATERIAL_ID_LEN + SALT_LEN;
    // At least one byte of ciphertext plus the tag.
    if l == 0 || l > MAX_KEY_ID_LEN || blob.len() < header_len + 1 + crate::crypto::TAG_LEN {
        return Err(bad());
    }
    let key_id = std::str::from_utf8(&blob[2..2 + l]).map_err(|_| bad())?;
    if !valid_key_id_chars(key_id) {
        return Err(bad());
    }
    let material_id: &[u8; 32] = blob[2 + l..34 + l].try_into().map_err(|_| bad())?;
    let salt: &[u8; 32] = blob[34 + l..66 + l].try_into().map_err(|_| bad())?;
    Ok(ParsedBlob {
        key_id,
        material_id,
        salt,
        header: &blob[..header_len],
        ciphertext_and_tag: &blob[header_len..],
    })
}

/// Write a blob header. The caller appends ciphertext ‖ tag.
pub(crate) fn write_header(
    key_id: &str,
    material_id: &[u8; MATERIAL_ID_LEN],
    salt: &[u8; SALT_LEN],
    capacity: usize,
) -> Vec<u8> {
    debug_assert!(valid_key_id_chars(key_id));
    let mut out = Vec::with_capacity(2 + key_id.len() + 64 + capacity);
    out.push(BLOB_VERSION_1);
    out.push(key_id.len() as u8);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(material_id);
    out.extend_from_slice(salt);
    out
}

/// Entry point for the cargo-fuzz target: must never panic.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    if let Ok(p) = parse(data) {
        assert!(p.header.len() + p.ciphertext_and_tag.len() == data.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            fuzz_parse(&data);
        }

        #[test]
        fn header_roundtrip(id in "[a-zA-Z0-9-]{1,64}", mat in any::<[u8; 32]>(), salt in any::<[u8; 32]>(),
                            body in proptest::collection::vec(any::<u8>(), 17..100)) {
            let mut b = write_header(&id, &mat, &salt, body.len());
            b.extend_from_slice(&body);
            let p = parse(&b).unwrap();
            prop_assert_eq!(p.key_id, id.as_str());
            prop_assert_eq!(p.material_id, &mat);
            prop_assert_eq!(p.salt, &salt);
            prop_assert_eq!(p.ciphertext_and_tag, &body[..]);
        }
    }

    #[test]
    fn rejects_wrong_version_and_sizes() {
        assert!(parse(&[]).is_err());
        assert!(parse(&[2, 1, b'a']).is_err());
        assert!(parse(&vec![1u8; MAX_BLOB_LEN + 1]).is_err());
        let mut b = write_header("abc", &[0; 32], &[0; 32], 0);
        b.extend_from_slice(&[0; 16]);
        assert!(parse(&b).is_err(), "empty ciphertext is rejected");
        b.push(0);
        assert!(parse(&b).is_ok());
    }
}
