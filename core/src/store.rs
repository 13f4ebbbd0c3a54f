//! Persistence behind one trait. The core loads a snapshot once at open and
//! writes through with atomic, durable batches. Values reaching a store are
//! already sealed by the HSM (AES-256-GCM under the root key); names are
//! non-secret (key ids, alias names, sequence numbers).
//!
//! Backends: [`MemoryStore`] (tests, ephemeral use) and [`FileStore`] (the
//! embedded default: an append-only checksummed journal, format in
//! `docs/formats/store.md`). Both pass [`conformance::run`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorCode, Result};

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
    /// Rewrite the backing storage so that no deleted or overwritten value
    /// stays in it (a no-op where nothing old is kept).
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
        let mut out = journal::header().to_vec();
        out.extend_from_slice(&journal::encode_record(&batch));
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

/// Journal encoding, shared by the file store and its fuzz target.
pub mod journal {
    use super::*;

    pub const MAGIC: &[u8; 8] = b"STRGROOM";
    pub const FORMAT_VERSION: u32 = 1;
    pub const HEADER_LEN: usize = 16;
    pub const MAX_RECORD_LEN: usize = 64 << 20;
    const CHECKSUM_DOMAIN: &[u8] = b"strongroom/v1/journal";
    const OP_PUT: u8 = 1;
    const OP_DELETE: u8 = 2;

    pub fn header() -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
        h
    }

    fn checksum(len: &[u8; 4], payload: &[u8]) -> [u8; 32] {
        crate::crypto::sha256(&[CHECKSUM_DOMAIN, len, payload])
    }

    /// Encode one batch as a framed, checksummed record.
    pub fn encode_record(batch: &[Mutation]) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&(batch.len() as u32).to_be_bytes());
        for m in batch {
            match m {
                Mutation::Put { name, value } => {
                    p.push(OP_PUT);
                    p.extend_from_slice(&(name.len() as u32).to_be_bytes());
                    p.extend_from_slice(name.as_bytes());
                    p.extend_from_slice(&(value.len() as u32).to_be_bytes());
                    p.extend_from_slice(value);
                }
                Mutation::Delete { name } => {
                    p.push(OP_DELETE);
                    p.extend_from_slice(&(name.len() as u32).to_be_bytes());
                    p.extend_from_slice(name.as_bytes());
                }
            }
        }
        let len = (p.len() as u32).to_be_bytes();
        let sum = checksum(&len, &p);
        let mut out = Vec::with_capacity(p.len() + 36);
        out.extend_from_slice(&len);
        out.extend_from_slice(&p);
        out.extend_from_slice(&sum);
        out
    }

    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
        }
    }

    fn decode_payload(p: &[u8]) -> Option<Vec<Mutation>> {
        let mut r = Reader(p);
        let n = r.u32()? as usize;
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let op = r.take(1)?[0];
            let nl = r.u32()? as usize;
            let name = String::from_utf8(r.take(nl)?.to_vec()).ok()?;
            match op {
                OP_PUT => {
                    let vl = r.u32()? as usize;
                    out.push(Mutation::Put {
                        name,
                        value: r.take(vl)?.to_vec(),
                    });
                }
                OP_DELETE => out.push(Mutation::Delete { name }),
                _ => return None,
            }
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(out)
    }

    /// The result of reading a journal file.
    #[derive(Debug)]
    pub struct Replayed {
        pub entries: BTreeMap<String, Vec<u8>>,
        /// Length of the valid prefix; bytes after it are a torn tail.
        pub valid_len: usize,
        pub records: usize,
    }

    /// Read a whole journal. A torn or garbled *last* record is ignored (it
    /// was never acknowledged); damage before the last record is reported as
    /// corruption. Never panics, for any input.
    pub fn replay(data: &[u8]) -> Result<Replayed> {
        if data.len() < HEADER_LEN || &data[..8] != MAGIC {
            return Err(Error::corrupted("not a Strongroom store (bad magic)"));
        }
        let version = u32::from_be_bytes(data[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(Error::new(
                ErrorCode::UnsupportedStoreVersion,
                format!("store format version {version} is not supported (this build reads version {FORMAT_VERSION})"),
            ));
        }
        let mut entries = BTreeMap::new();
        let mut off = HEADER_LEN;
        let mut records = 0;
        while off < data.len() {
            let rest = &data[off..];
            let torn = |what: &str| -> Result<Replayed> {
                Err(Error::corrupted(format!(
                    "journal record {records} at offset {off} is damaged ({what})"
                )))
            };
            if rest.len() < 4 {
                break; // torn length field
            }
            let len_bytes: [u8; 4] = rest[..4].try_into().expect("4 bytes");
            let len = u32::from_be_bytes(len_bytes) as usize;
            if len > MAX_RECORD_LEN || rest.len() < 4 + len + 32 {
                break; // torn: the record runs past the end of the file
            }
            let payload = &rest[4..4 + len];
            let sum = &rest[4 + len..4 + len + 32];
            let is_last = rest.len() == 4 + len + 32;
            if checksum(&len_bytes, payload) != sum {
                if is_last {
                    break; // torn final record
                }
                return torn("checksum mismatch");
            }
            let Some(batch) = decode_payload(payload) else {
                return torn("undecodable batch");
            };
            apply_to_map(&mut entries, batch);
            off += 4 + len + 32;
            records += 1;
        }
        Ok(Replayed {
            entries,
            valid_len: off,
            records,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use file::FileStore;

#[cfg(not(target_arch = "wasm32"))]
mod file {
    use super::journal;
    use super::*;
    use std::fs::{self, File, OpenOptions};
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::path::{Path, PathBuf};

    /// The embedded default store: a directory holding `strongroom.journal`,
    /// an append-only journal of checksummed batches. Each batch is written
    /// and fsynced before `apply` returns. When the journal grows well past
    /// the live data it is compacted by write-temp + fsync + rename.
    /// An exclusive advisory lock stops two processes sharing one store.
    #[derive(Debug)]
    pub struct FileStore {
        dir: PathBuf,
        file: File,
        entries: BTreeMap<String, Vec<u8>>,
        journal_len: u64,
    }

    const JOURNAL: &str = "strongroom.journal";
    const TMP: &str = "strongroom.journal.tmp";

    fn io(ctx: &str, e: std::io::Error) -> Error {
        Error::new(ErrorCode::StoreIo, format!("{ctx}: {e}"))
    }

    fn sync_dir(dir: &Path) -> Result<()> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("syncing the store directory", e))
    }

    fn write_atomically(dir: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = dir.join(TMP);
        let mut f = File::create(&tmp).map_err(|e| io("creating the temporary journal", e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| io("writing the temporary journal", e))?;
        fs::rename(&tmp, dir.join(JOURNAL)).map_err(|e| io("replacing the journal", e))?;
        sync_dir(dir)
    }

    impl FileStore {
        /// Open the store in `dir`, creating the directory and an empty
        /// journal if needed. A torn final record is cut off.
        pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
            let dir = dir.as_ref().to_path_buf();
            fs::create_dir_all(&dir).map_err(|e| io("creating the store directory", e))?;
            let path = dir.join(JOURNAL);
            if !path.exists() {
                write_atomically(&dir, &journal::header())?;
            }
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| io("opening the journal", e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::new(
                        ErrorCode::StoreIo,
                        format!(
                            "the store at {} is in use by another process",
                            dir.display()
                        ),
                    ))
                }
                Err(fs::TryLockError::Error(e)) => return Err(io("locking the journal", e)),
            }
            let mut data = Vec::new();
            file.read_to_end(&mut data)
                .map_err(|e| io("reading the journal", e))?;
            let replayed = journal::replay(&data)?;
            Ok(FileStore {
                dir,
                file,
                entries: replayed.entries,
                journal_len: replayed.valid_len as u64,
            })
        }

        pub fn dir(&self) -> &Path {
            &self.dir
        }

        fn live_size(&self) -> u64 {
            self.entries
                .iter()
                .map(|(k, v)| (k.len() + v.len() + 9) as u64)
                .sum()
        }

        fn compact(&mut self) -> Result<()> {
            let batch: Vec<Mutation> = self
                .entries
                .iter()
                .map(|(k, v)| Mutation::Put {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect();
            let mut bytes = journal::header().to_vec();
            if !batch.is_empty() {
                bytes.extend(journal::encode_record(&batch));
            }
            write_atomically(&self.dir, &bytes)?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.dir.join(JOURNAL))
                .map_err(|e| io("reopening the journal", e))?;
            file.try_lock()
                .map_err(|_| Error::new(ErrorCode::StoreIo, "could not relock the journal"))?;
            self.file = file;
            self.journal_len = bytes.len() as u64;
            Ok(())
        }
    }

    impl Store for FileStore {
        fn load(&mut self) -> Result<BTreeMap<String, Vec<u8>>> {
            Ok(self.entries.clone())
        }

        fn apply(&mut self, batch: Vec<Mutation>) -> Result<()> {
            if batch.is_empty() {
                return Ok(());
            }
            let rec = journal::encode_record(&batch);
            if rec.len() > journal::MAX_RECORD_LEN {
                return Err(Error::validation(
                    "the change is too large for one journal record",
                ));
            }
            // Write at the end of the valid prefix: this also overwrites a
            // torn tail left by an earlier crash.
            self.file
                .set_len(self.journal_len)
                .and_then(|_| self.file.seek(SeekFrom::Start(self.journal_len)))
                .and_then(|_| self.file.write_all(&rec))
                .and_then(|_| self.file.sync_data())
                .map_err(|e| io("appending to the journal", e))?;
            self.journal_len += rec.len() as u64;
            apply_to_map(&mut self.entries, batch);
            if self.journal_len > 4 * self.live_size() + (1 << 20) {
                FileStore::compact(self)?;
            }
            Ok(())
        }

        fn compact(&mut self) -> Result<()> {
            FileStore::compact(self)
        }
    }
}

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

    #[test]
    fn torn_tail_is_ignored_and_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let mut s = FileStore::open(&p).unwrap();
        s.apply(vec![Mutation::Put {
            name: "a".into(),
            value: b"1".to_vec(),
        }])
        .unwrap();
        drop(s);
        let jp = p.join("strongroom.journal");
        let good = std::fs::read(&jp).unwrap();
        let rec = journal::encode_record(&[Mutation::Put {
            name: "b".into(),
            value: b"2".to_vec(),
        }]);
        // Every strict prefix of the new record is a torn write.
        for cut in 0..rec.len() {
            let mut d = good.clone();
            d.extend_from_slice(&rec[..cut]);
            std::fs::write(&jp, &d).unwrap();
            let mut s = FileStore::open(&p).unwrap();
            let m = s.load().unwrap();
            assert_eq!(m.len(), 1, "cut {cut}");
            // The next write lands after the valid prefix.
            s.apply(vec![Mutation::Put {
                name: "c".into(),
                value: b"3".to_vec(),
            }])
            .unwrap();
            drop(s);
            let mut s = FileStore::open(&p).unwrap();
            assert_eq!(s.load().unwrap().len(), 2, "cut {cut}");
            drop(s);
            std::fs::write(&jp, &good).unwrap();
        }
    }

    #[test]
    fn damage_before_the_tail_is_corruption() {
        let mut d = journal::header().to_vec();
        let r1 = journal::encode_record(&[Mutation::Put {
            name: "a".into(),
            value: b"1".to_vec(),
        }]);
        d.extend_from_slice(&r1);
        d.extend_from_slice(&r1);
        d[journal::HEADER_LEN + 6] ^= 1;
        let e = journal::replay(&d).unwrap_err();
        assert_eq!(e.code(), ErrorCode::StoreCorrupted);
    }

    #[test]
    fn future_version_is_refused() {
        let mut d = journal::header().to_vec();
        d[11] = 2;
        assert_eq!(
            journal::replay(&d).unwrap_err().code(),
            ErrorCode::UnsupportedStoreVersion
        );
    }

    #[test]
    fn second_process_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _a = FileStore::open(dir.path()).unwrap();
        let e = FileStore::open(dir.path()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::StoreIo);
    }

    proptest! {
        #[test]
        fn replay_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = journal::header().to_vec();
            d.extend_from_slice(&data);
            let _ = journal::replay(&d);
            let _ = journal::replay(&data);
        }

        #[test]
        fn record_roundtrip(ops in proptest::collection::vec((".{0,8}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20))), 0..6)) {
            let batch: Vec<Mutation> = ops.into_iter().map(|(n, v)| match v {
                Some(value) => Mutation::Put { name: n, value },
                None => Mutation::Delete { name: n },
            }).collect();
            let mut d = journal::header().to_vec();
            d.extend(journal::encode_record(&batch));
            let r = journal::replay(&d).unwrap();
            let mut expect = BTreeMap::new();
            apply_to_map(&mut expect, batch);
            prop_assert_eq!(r.entries, expect);
            prop_assert_eq!(r.records, 1);
        }
    }
}
