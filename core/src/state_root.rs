//! The store's state root: a keyed digest of every entry, kept in the
//! store beside them with a commit counter under a MAC (`docs/formats/store.md`, State
//! root).
//!
//! Each entry `(name, value)` gets a tag `HMAC-SHA256(k, name, value)` under
//! a key the HSM derives from the root key; the root is the sum of all tags
//! modulo 2^256. A commit updates the sum by the tags of the entries it puts
//! and deletes (no rereading of the store), and writes the new root, MAC'd,
//! in the same atomic batch. At open the sum is recomputed over what the
//! store holds and compared with the stored root: an entry removed, added,
//! replaced by an older sealed value or replayed from an older record makes
//! them differ, and without the key nobody can compute a matching sum. (A
//! sum of PRF outputs is the MSet-Add-Hash of Clarke et al.: a set collision
//! needs a nontrivial ±1 combination of unpredictable 256-bit values to
//! vanish.) What it cannot see is the whole store replaced by an older copy
//! of itself, root included; the commit counter lets an application that
//! keeps it elsewhere see that too.

use subtle::ConstantTimeEq;

/// A 256-bit sum of entry tags, modulo 2^256 (little-endian limbs).
#[derive(Clone, Copy, Default)]
pub(crate) struct Digest([u64; 4]);

impl Digest {
    fn limbs(tag: &[u8; 32]) -> [u64; 4] {
        let mut l = [0u64; 4];
        for (i, c) in tag.chunks_exact(8).enumerate() {
            l[i] = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        }
        l
    }

    pub fn add(&mut self, tag: &[u8; 32]) {
        let t = Self::limbs(tag);
        let mut carry = false;
        for (a, b) in self.0.iter_mut().zip(t) {
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            *a = s2;
            carry = c1 || c2;
        }
    }

    pub fn sub(&mut self, tag: &[u8; 32]) {
        let t = Self::limbs(tag);
        let mut borrow = false;
        for (a, b) in self.0.iter_mut().zip(t) {
            let (d1, b1) = a.overflowing_sub(b);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            *a = d2;
            borrow = b1 || b2;
        }
    }

    pub fn to_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, l) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&l.to_le_bytes());
        }
        out
    }

    /// Constant-time comparison with a stored root.
    pub fn matches(&self, other: &[u8; 32]) -> bool {
        bool::from(self.to_bytes().ct_eq(other))
    }
}

/// The value of `meta/root`: `u64 commit counter ‖ 32-byte digest ‖
/// HMAC-SHA256(state key, "strongroom/v2/state-root" ‖ the 40 bytes before)`.
/// Authenticated, not encrypted: nothing in it is secret, and a MAC draws no
/// randomness (a seal would shift every seeded known-answer vector).
pub(crate) const ROOT_BODY_LEN: usize = 40;
pub(crate) const ROOT_VALUE_LEN: usize = ROOT_BODY_LEN + 32;

pub(crate) fn root_body(counter: u64, digest: Digest) -> [u8; ROOT_BODY_LEN] {
    let mut out = [0u8; ROOT_BODY_LEN];
    out[..8].copy_from_slice(&counter.to_be_bytes());
    out[8..].copy_from_slice(&digest.to_bytes());
    out
}

/// A stored root, split.
pub(crate) struct StoredRoot<'a> {
    pub counter: u64,
    pub digest: [u8; 32],
    /// The authenticated bytes (counter ‖ digest) and their MAC.
    pub body: &'a [u8],
    pub mac: &'a [u8],
}

pub(crate) fn decode_root(v: &[u8]) -> Option<StoredRoot<'_>> {
    if v.len() != ROOT_VALUE_LEN {
        return None;
    }
    Some(StoredRoot {
        counter: u64::from_be_bytes(v[..8].try_into().ok()?),
        digest: v[8..ROOT_BODY_LEN].try_into().ok()?,
        body: &v[..ROOT_BODY_LEN],
        mac: &v[ROOT_BODY_LEN..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn add_then_sub_is_identity(start in any::<[u8; 32]>(), tags in proptest::collection::vec(any::<[u8; 32]>(), 0..8)) {
            let mut d = Digest(Digest::limbs(&start));
            for t in &tags { d.add(t); }
            for t in tags.iter().rev() { d.sub(t); }
            prop_assert_eq!(d.to_bytes(), start);
        }

        #[test]
        fn order_does_not_matter(tags in proptest::collection::vec(any::<[u8; 32]>(), 0..8)) {
            let mut a = Digest::default();
            let mut b = Digest::default();
            for t in &tags { a.add(t); }
            for t in tags.iter().rev() { b.add(t); }
            prop_assert!(a.matches(&b.to_bytes()));
        }
    }

    #[test]
    fn carries_across_limbs() {
        let mut d = Digest::default();
        let mut max = [0u8; 32];
        max[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut one = [0u8; 32];
        one[0] = 1;
        d.add(&max);
        d.add(&one);
        let mut expect = [0u8; 32];
        expect[8] = 1;
        assert_eq!(d.to_bytes(), expect);
        d.sub(&one);
        assert_eq!(d.to_bytes(), max);
        let mut w = Digest::default();
        w.sub(&one);
        assert_eq!(w.to_bytes(), [0xff; 32], "wraps modulo 2^256");
    }

    #[test]
    fn root_value_round_trips() {
        let mut d = Digest::default();
        d.add(&[7; 32]);
        let mut v = root_body(42, d).to_vec();
        v.extend_from_slice(&[9; 32]);
        let r = decode_root(&v).unwrap();
        assert_eq!(r.counter, 42);
        assert!(d.matches(&r.digest));
        assert_eq!(r.body, &v[..ROOT_BODY_LEN]);
        assert_eq!(r.mac, &[9; 32]);
        assert!(decode_root(&v[..71]).is_none());
    }
}
