//! Persistence behind one trait. The core loads a snapshot once at open and
//! writes through with atomic, durable batches. Values reaching a store are
//! already sealed by the HSM (AES-256-GCM under the root key); names are
//! non-secret (key ids, alias names, sequence numbers).
//!
//! Backends: [`MemoryStore`] (tests, ephemeral use) and [`FileStore`] (the
//! embedded default: an append-only checksummed journal, format in
//! `docs/formats/store.md`, with its I/O behind the [`vfs`] seam). Both pass
//! [`conformance::run`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// One change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    Put { name: String, value: Vec<u8> },
    Delete { name: String },
}

/// A key-value store of sealed entries.
pub trait Store: Send {
    /// Every live entry. Called once when a KMS opens.
    fn load(&mut self) -> Result<BTreeMap<String, Vec<u8>>>;
    /// Apply a batch atomically: after `Ok(())` all of it survives a crash;
    /// after a crash mid-call either all of it or none of it is visible.
    fn apply(&mut self, batch: Vec<Mutation>) -> Result<()>;
    /// Rewrite the storage so that no deleted or overwritten value remains
    /// readable in it (the KMS calls this after purging key material).
    /// Backends that keep no history have nothing to do. File systems may
    /// still hold old bytes in freed blocks; this only removes them from the
    /// store's files.
    fn compact(&mut self) -> Result<()> {
        Ok(())
    }
}

/// An in-memory store. Clones share the same data, so a test can "reopen"
/// a store by opening a KMS on a clone.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<BTreeMap<String, Vec<u8>>>>, Arc<AtomicU64>);

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole store as one snapshot, for keeping an in-memory store
    /// somewhere else (a browser's IndexedDB): the journal format of
    /// `docs/formats/store.md` — header plus a single record putting every
    /// entry. The entries are sealed under the root key as always; the
    /// snapshot adds only the journal checksum.
    pub fn export_snapshot(&self) -> Result<Vec<u8>> {
        let map = self
            .0
            .lock()
            .map_err(|_| Error::internal("store lock poisoned"))?;
        let batch: Vec<Mutation> = map
            .iter()
            .map(|(name, value)| Mutation::Put {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        // Snapshots keep the version 1 framing: one record, nothing after it
        // (see `docs/formats/store.md`).
        let mut out = journal::header_v1().to_vec();
        out.extend_from_slice(&journal::encode_record_v1(&batch));
        Ok(out)
    }

    /// A store from [`MemoryStore::export_snapshot`]'s bytes. Unlike a
    /// journal file, a snapshot must be exactly one complete, intact record:
    /// anything else (truncated, extended, damaged) is
    /// `StoreCorruptedException`, never a silently smaller store.
    pub fn from_snapshot(bytes: &[u8]) -> Result<MemoryStore> {
        let r = journal::replay(bytes)?;
        if r.valid_len != bytes.len() || r.records != 1 {
            return Err(Error::corrupted(
                "the store snapshot is truncated or damaged",
            ));
        }
        Ok(MemoryStore(Arc::new(Mutex::new(r.entries)), Arc::default()))
    }

    /// How many batches have been applied (by any clone) since this store
    /// was made: a page keeping snapshots saves one when this changes.
    pub fn writes(&self) -> u64 {
        self.1.load(Ordering::Acquire)
    }
}

fn apply_to_map(map: &mut BTreeMap<String, Vec<u8>>, batch: Vec<Mutation>) {
    for m in batch {
        match m {
            Mutation::Put { name, value } => {
                map.insert(name, value);
            }
            Mutation::Delete { name } => {
                map.remove(&name);
            }
        }
    }
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<BTreeMap<String, Vec<u8>>> {
        Ok(self
            .0
            .lock()
            .map_err(|_| Error::internal("store lock poisoned"))?
            .clone())
    }
    fn apply(&mut self, batch: Vec<Mutation>) -> Result<()> {
        let mut map = self
            .0
            .lock()
            .map_err(|_| Error::internal("store lock poisoned"))?;
        apply_to_map(&mut map, batch);
        self.1.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

pub mod journal;

/// Names of entries that hold key material. A store that keeps history
/// (the file store's journal) compacts when it finds deleted material in it.
pub const MATERIAL_PREFIX: &str = "mat/";

#[cfg(not(target_arch = "wasm32"))]
pub mod vfs;

#[cfg(not(target_arch = "wasm32"))]
mod file;
#[cfg(not(target_arch = "wasm32"))]
pub use file::{FileStore, JOURNAL, LOCK, TORN_PREFIX};

/// One conformance suite that every backend must pass. `reopen` must return
/// a fresh handle on the same underlying storage (dropping the old handle
/// first is the caller's business: the suite drops before reopening).
#[doc(hidden)]
pub mod conformance {
    use super::*;

    fn put(name: &str, value: &[u8]) -> Mutation {
        Mutation::Put {
            name: name.into(),
            value: value.to_vec(),
        }
    }

    pub fn run<S: Store>(mut reopen: impl FnMut() -> S) {
        let mut s = reopen();
        assert!(s.load().unwrap().is_empty(), "a new store is empty");
        s.apply(vec![put("a", b"1"), put("b", b"2")]).unwrap();
        s.apply(vec![put("a", b"3"), Mutation::Delete { name: "b".into() }])
            .unwrap();
        s.apply(vec![]).unwrap();
        s.apply(vec![put("empty", b"")]).unwrap();
        let expect: BTreeMap<String, Vec<u8>> = [
            ("a".to_string(), b"3".to_vec()),
            ("empty".to_string(), vec![]),
        ]
        .into_iter()
        .collect();
        assert_eq!(s.load().unwrap(), expect);
        drop(s);
        let mut s = reopen();
        assert_eq!(s.load().unwrap(), expect, "data survives reopening");
        // Deleting a missing name is not an error.
        s.apply(vec![Mutation::Delete { name: "zz".into() }])
            .unwrap();
        // Many batches (exercises compaction in the file store).
        let big = vec![7u8; 4096];
        for i in 0..600 {
            s.apply(vec![
                put(&format!("k{}", i % 10), &big),
                put("counter", &[i as u8]),
            ])
            .unwrap();
        }
        drop(s);
        let mut s = reopen();
        let m = s.load().unwrap();
        assert_eq!(m.len(), 2 + 10 + 1);
        assert_eq!(m["counter"], vec![(599 % 256) as u8]);
        assert_eq!(m["k3"], big);
        // Names with any UTF-8 and large values round-trip.
        s.apply(vec![put("alias/ünïcode/ключ", &vec![1u8; 100_000])])
            .unwrap();
        drop(s);
        let mut s = reopen();
        assert_eq!(s.load().unwrap()["alias/ünïcode/ключ"].len(), 100_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;

    #[test]
    fn memory_store_conformance() {
        let m = MemoryStore::new();
        conformance::run(|| m.clone());
    }

    #[test]
    fn memory_store_counts_writes_across_clones() {
        let m = MemoryStore::new();
        assert_eq!(m.writes(), 0);
        let mut c = m.clone();
        c.apply(vec![Mutation::Delete { name: "x".into() }])
            .unwrap();
        c.load().unwrap();
        assert_eq!(m.writes(), 1);
        let reopened = MemoryStore::from_snapshot(&m.export_snapshot().unwrap()).unwrap();
        assert_eq!(reopened.writes(), 0);
    }

    #[test]
    fn file_store_conformance() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        conformance::run(|| FileStore::open(&p).unwrap());
    }

    fn put(name: &str, value: &[u8]) -> Mutation {
        Mutation::Put {
            name: name.into(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn torn_tail_is_set_aside_and_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let mut s = FileStore::open(&p).unwrap();
        s.apply(vec![put("a", b"1")]).unwrap();
        drop(s);
        let jp = p.join(JOURNAL);
        let good = std::fs::read(&jp).unwrap();
        let rec = journal::encode_record(1, &[put("b", b"2")]);
        // Every strict prefix of the new record is a torn write.
        for cut in (1..rec.len()).step_by(7).chain([rec.len() - 1]) {
            let mut d = good.clone();
            d.extend_from_slice(&rec[..cut]);
            std::fs::write(&jp, &d).unwrap();
            let mut s = FileStore::open(&p).unwrap();
            let m = s.load().unwrap();
            assert_eq!(m.len(), 1, "cut {cut}");
            // The next write lands after the valid prefix, once the torn
            // bytes are kept in a file of their own.
            s.apply(vec![put("c", b"3")]).unwrap();
            drop(s);
            let aside = p.join(format!("{TORN_PREFIX}{}", good.len()));
            assert_eq!(std::fs::read(&aside).unwrap(), &rec[..cut], "cut {cut}");
            std::fs::remove_file(&aside).unwrap();
            let mut s = FileStore::open(&p).unwrap();
            assert_eq!(s.load().unwrap().len(), 2, "cut {cut}");
            drop(s);
            std::fs::write(&jp, &good).unwrap();
        }
    }

    fn journal_of(records: &[Vec<u8>]) -> Vec<u8> {
        let mut d = journal::header().to_vec();
        for r in records {
            d.extend_from_slice(r);
        }
        d
    }

    #[test]
    fn damage_before_the_tail_is_corruption() {
        let r0 = journal::encode_record(0, &[put("a", b"1")]);
        let r1 = journal::encode_record(1, &[put("b", b"2")]);
        let d = journal_of(&[r0.clone(), r1.clone()]);
        for i in journal::HEADER_LEN..journal::HEADER_LEN + r0.len() {
            let mut bad = d.clone();
            bad[i] ^= 1;
            let e = journal::replay(&bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::StoreCorrupted, "flip at {i}");
        }
        // A damaged length field of a record that is followed by an intact
        // record is corruption too, whichever way the length moves.
        for len in [0u32, 5, 1 << 20, u32::MAX] {
            let mut bad = d.clone();
            let at = journal::HEADER_LEN + 12;
            bad[at..at + 4].copy_from_slice(&len.to_be_bytes());
            assert_eq!(
                journal::replay(&bad).unwrap_err().code(),
                ErrorCode::StoreCorrupted
            );
        }
        // Records out of sequence (replayed, dropped or reordered).
        for recs in [
            vec![r0.clone(), r0.clone()],
            vec![r1.clone(), r0.clone()],
            vec![r0.clone(), journal::encode_record(2, &[put("c", b"")])],
        ] {
            assert_eq!(
                journal::replay(&journal_of(&recs)).unwrap_err().code(),
                ErrorCode::StoreCorrupted
            );
        }
        assert_eq!(journal::replay(&d).unwrap().records, 2);
    }

    /// Finding: a damaged length in the middle of the journal was taken for a
    /// torn tail and the next write truncated every later record.
    #[test]
    fn mid_journal_damage_refuses_to_open_and_keeps_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStore::open(dir.path()).unwrap();
        for i in 0..5 {
            s.apply(vec![put(&format!("k{i}"), &[i; 40])]).unwrap();
        }
        drop(s);
        let jp = dir.path().join(JOURNAL);
        let mut d = std::fs::read(&jp).unwrap();
        // The high byte of the second record's payload length.
        let second = journal::HEADER_LEN + journal::encode_record(0, &[put("k0", &[0; 40])]).len();
        d[second + 12] ^= 0x40;
        std::fs::write(&jp, &d).unwrap();
        let e = FileStore::open(dir.path()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::StoreCorrupted, "{e}");
        assert_eq!(std::fs::read(&jp).unwrap(), d, "the bytes are kept");
    }

    #[test]
    fn future_version_is_refused() {
        let mut d = journal::header().to_vec();
        d[11] = 3;
        assert_eq!(
            journal::replay(&d).unwrap_err().code(),
            ErrorCode::UnsupportedStoreVersion
        );
    }

    #[test]
    fn version_1_journal_is_read_and_upgraded_on_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = journal::header_v1().to_vec();
        d.extend(journal::encode_record_v1(&[put("a", b"1"), put("b", b"2")]));
        d.extend(journal::encode_record_v1(&[Mutation::Delete {
            name: "b".into(),
        }]));
        let jp = dir.path().join(JOURNAL);
        std::fs::write(&jp, &d).unwrap();
        let mut s = FileStore::open(dir.path()).unwrap();
        assert_eq!(s.load().unwrap().len(), 1);
        assert_eq!(std::fs::read(&jp).unwrap(), d, "opening writes nothing");
        s.apply(vec![put("c", b"3")]).unwrap();
        s.apply(vec![put("d", b"4")]).unwrap();
        drop(s);
        let r = journal::replay(&std::fs::read(&jp).unwrap()).unwrap();
        assert_eq!(r.version, journal::FORMAT_VERSION);
        assert_eq!((r.records, r.next_seq), (2, 2));
        let names: Vec<&str> = r.entries.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["a", "c", "d"]);
    }

    #[test]
    fn second_open_is_refused_by_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = FileStore::open(dir.path()).unwrap();
        let e = FileStore::open(dir.path()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::StoreIo);
        // Compaction replaces the journal; the lock (on a file that is never
        // renamed) still holds.
        a.apply(vec![put("a", b"1")]).unwrap();
        a.compact().unwrap();
        let e = FileStore::open(dir.path()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::StoreIo);
        drop(a);
        assert!(FileStore::open(dir.path()).is_ok());
    }

    #[test]
    fn compaction_leaves_no_deleted_value_in_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStore::open(dir.path()).unwrap();
        s.apply(vec![put("mat/x", b"SECRET-MATERIAL"), put("keep", b"kept")])
            .unwrap();
        s.apply(vec![Mutation::Delete {
            name: "mat/x".into(),
        }])
        .unwrap();
        let has = |needle: &[u8]| {
            std::fs::read(dir.path().join(JOURNAL))
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
        };
        assert!(has(b"SECRET-MATERIAL"));
        s.compact().unwrap();
        assert!(!has(b"SECRET-MATERIAL") && !has(b"mat/x"));
        assert!(has(b"kept"));
        drop(s);
        let mut s = FileStore::open(dir.path()).unwrap();
        assert_eq!(s.load().unwrap().len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_loose_permissions_are_reported() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new").join("store");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let mut s = FileStore::open(&p).unwrap();
        s.apply(vec![put("a", b"1")]).unwrap();
        s.compact().unwrap();
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        drop(s);
        assert_eq!(mode(&p), 0o700);
        assert_eq!(mode(&p.join(JOURNAL)), 0o600);
        assert_eq!(mode(&p.join(LOCK)), 0o600);
        // An existing store with loose permissions still opens, with warnings.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(p.join(JOURNAL), std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = FileStore::open(&p).unwrap();
        let w = s.warnings().join("\n");
        assert_eq!(s.warnings().len(), 2, "{w}");
        assert!(w.contains("directory") && w.contains("mode 755"), "{w}");
        assert!(w.contains("journal") && w.contains("mode 644"), "{w}");
    }

    #[test]
    fn a_crashed_creation_is_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        for partial in [&[][..], &journal::header()[..5], &[0u8; 9][..]] {
            std::fs::write(dir.path().join(JOURNAL), partial).unwrap();
            let mut s = FileStore::open(dir.path()).unwrap();
            assert!(s.load().unwrap().is_empty());
            s.apply(vec![put("a", b"1")]).unwrap();
            drop(s);
            assert_eq!(
                FileStore::open(dir.path()).unwrap().load().unwrap().len(),
                1
            );
        }
    }

    fn batch_strategy() -> impl Strategy<Value = Vec<Mutation>> {
        proptest::collection::vec(
            (
                ".{0,8}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            ),
            0..6,
        )
        .prop_map(|ops| {
            ops.into_iter()
                .map(|(n, v)| match v {
                    Some(value) => Mutation::Put { name: n, value },
                    None => Mutation::Delete { name: n },
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn replay_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            for h in [journal::header(), journal::header_v1()] {
                let mut d = h.to_vec();
                d.extend_from_slice(&data);
                if let Ok(r) = journal::replay(&d) {
                    prop_assert!(r.valid_len <= d.len());
                }
            }
            let _ = journal::replay(&data);
        }

        #[test]
        fn record_roundtrip(batch in batch_strategy(), seq in any::<u64>()) {
            let mut d = journal::header().to_vec();
            d.extend(journal::encode_record(seq, &batch));
            let mut expect = BTreeMap::new();
            apply_to_map(&mut expect, batch.clone());
            match journal::replay(&d) {
                Ok(r) => {
                    prop_assert_eq!(&r.entries, &expect);
                    prop_assert_eq!((r.records, r.next_seq), (1, seq + 1));
                }
                // Only the very last sequence number cannot be followed.
                Err(e) => prop_assert!(seq == u64::MAX && e.code() == ErrorCode::StoreCorrupted),
            }
            let mut v1 = journal::header_v1().to_vec();
            v1.extend(journal::encode_record_v1(&batch));
            prop_assert_eq!(journal::replay(&v1).unwrap().entries, expect);
        }

        /// Any strict prefix of the last record is a torn tail: the records
        /// before it are kept, it is left out.
        #[test]
        fn strict_prefix_of_last_record_is_a_torn_tail(
            batches in proptest::collection::vec(batch_strategy(), 1..4),
            cut in any::<proptest::sample::Index>(),
        ) {
            let recs: Vec<Vec<u8>> = batches.iter().enumerate()
                .map(|(i, b)| journal::encode_record(i as u64, b)).collect();
            let (last, before) = recs.split_last().unwrap();
            let d = journal_of(before);
            let mut expect = BTreeMap::new();
            for b in &batches[..batches.len() - 1] {
                apply_to_map(&mut expect, b.clone());
            }
            let cut = cut.index(last.len());
            let mut torn = d.clone();
            torn.extend_from_slice(&last[..cut]);
            let r = journal::replay(&torn).unwrap();
            prop_assert_eq!(r.valid_len, d.len());
            prop_assert_eq!(r.records, before.len());
            prop_assert_eq!(r.entries, expect);
        }

        /// A flipped byte in any record but the last is corruption.
        #[test]
        fn flipped_byte_in_a_non_last_record_is_corruption(
            batches in proptest::collection::vec(batch_strategy(), 2..4),
            at in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let recs: Vec<Vec<u8>> = batches.iter().enumerate()
                .map(|(i, b)| journal::encode_record(i as u64, b)).collect();
            let d = journal_of(&recs);
            let non_last = d.len() - recs.last().unwrap().len() - journal::HEADER_LEN;
            let i = journal::HEADER_LEN + at.index(non_last);
            let mut bad = d.clone();
            bad[i] ^= 1 << bit;
            let e = journal::replay(&bad).unwrap_err();
            prop_assert_eq!(e.code(), ErrorCode::StoreCorrupted);
        }
    }
}
