//! Property tests over the public API.
mod common;
use common::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use strongroom::EncryptionContext;

fn ctx_strategy() -> impl Strategy<Value = EncryptionContext> {
    btree_map("\\PC{1,12}", "\\PC{0,12}", 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(pt in vec(any::<u8>(), 1..=4096), ctx in ctx_strategy()) {
        let (kms, _) = kms();
        let key = new_key(&kms);
        let blob = enc(&kms, &key, &pt, &ctx);
        prop_assert!(blob.len() <= 6144);
        prop_assert_eq!(dec(&kms, &blob, &ctx).unwrap(), pt);
    }

    #[test]
    fn any_context_change_is_rejected(pt in vec(any::<u8>(), 1..64), ctx in ctx_strategy(), other in ctx_strategy()) {
        prop_assume!(ctx != other);
        let (kms, _) = kms();
        let key = new_key(&kms);
        let blob = enc(&kms, &key, &pt, &ctx);
        prop_assert_eq!(code(dec(&kms, &blob, &other)), "InvalidCiphertextException");
    }

    #[test]
    fn single_value_or_key_edit_is_rejected(pt in vec(any::<u8>(), 1..64), ctx in btree_map("[a-z]{1,6}", "[a-z]{0,6}", 1..5), idx in any::<prop::sample::Index>(), edit_key in any::<bool>()) {
        let (kms, _) = kms();
        let key = new_key(&kms);
        let blob = enc(&kms, &key, &pt, &ctx);
        let (k, v) = ctx.iter().nth(idx.index(ctx.len())).map(|(k, v)| (k.clone(), v.clone())).unwrap();
        let mut changed = ctx.clone();
        changed.remove(&k);
        if edit_key { changed.insert(format!("{k}X"), v); } else { changed.insert(k, format!("{v}X")); }
        prop_assert_eq!(code(dec(&kms, &blob, &changed)), "InvalidCiphertextException");
    }
}

/// Every single-bit flip anywhere in a blob is rejected (exhaustive over
/// every bit of several blobs, not sampled).
#[test]
fn every_single_bit_flip_is_rejected() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let other = new_key(&kms);
    let ctx = strongroom::api::context([("a", "1"), ("b", "2"), ("c", "3")]);
    for pt in [&b"x"[..], &[0u8; 100][..], &[0xAB; 1024][..]] {
        let blob = enc(&kms, &key, pt, &ctx);
        let _ = enc(&kms, &other, pt, &ctx);
        let mut flips = 0;
        for byte in 0..blob.len() {
            for bit in 0..8 {
                let mut b = blob.clone();
                b[byte] ^= 1 << bit;
                let e = dec(&kms, &b, &ctx).expect_err("a flipped blob must not decrypt");
                // A flip inside the key id may name a key that does not exist.
                assert!(
                    matches!(
                        e.code().as_str(),
                        "InvalidCiphertextException" | "NotFoundException"
                    ),
                    "byte {byte} bit {bit}: {e}"
                );
                flips += 1;
            }
        }
        assert_eq!(flips, blob.len() * 8);
    }
}
