//! Encryption context and its one canonical encoding (see
//! `docs/formats/encryption-context.md`).
//!
//! ```text
//! u32be pair_count
//! repeat pair_count times, sorted by key bytes (UTF-8, bytewise):
//!   u32be key_len   ‖ key (UTF-8)
//!   u32be value_len ‖ value (UTF-8)
//! ```
//! Length prefixes make the encoding injective: `{"ab":"c"}` and
//! `{"a":"bc"}` encode differently. A `BTreeMap<String, String>` iterates in
//! bytewise key order, so order of insertion never matters.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A string→string map bound to ciphertexts as AAD. Not secret.
pub type EncryptionContext = BTreeMap<String, String>;

/// Upper bound on the canonical encoding (AWS documents no limit; we refuse
/// absurd contexts instead of allocating without bound).
pub const MAX_CONTEXT_ENCODED_LEN: usize = 65_536;

pub fn canonical_encoding(ctx: &EncryptionContext) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(
        4 + ctx
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>(),
    );
    out.extend_from_slice(&(ctx.len() as u32).to_be_bytes());
    for (k, v) in ctx {
        if k.is_empty() {
            return Err(Error::validation(
                "Encryption context keys must be at least 1 character long",
            ));
        }
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
        if out.len() > MAX_CONTEXT_ENCODED_LEN {
            return Err(Error::validation(format!(
                "The encryption context is too large (limit {MAX_CONTEXT_ENCODED_LEN} encoded bytes)"
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_is_four_zero_bytes() {
        assert_eq!(canonical_encoding(&ctx(&[])).unwrap(), vec![0, 0, 0, 0]);
    }

    #[test]
    fn no_concatenation_collision() {
        let a = canonical_encoding(&ctx(&[("ab", "c")])).unwrap();
        let b = canonical_encoding(&ctx(&[("a", "bc")])).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn empty_key_rejected() {
        assert!(canonical_encoding(&ctx(&[("", "x")])).is_err());
    }

    proptest! {
        #[test]
        fn injective(a in proptest::collection::btree_map(".{1,6}", ".{0,6}", 0..4),
                     b in proptest::collection::btree_map(".{1,6}", ".{0,6}", 0..4)) {
            let ea = canonical_encoding(&a).unwrap();
            let eb = canonical_encoding(&b).unwrap();
            prop_assert_eq!(a == b, ea == eb);
        }
    }
}
