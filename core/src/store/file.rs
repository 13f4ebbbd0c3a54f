//! The file store: one append-only journal in a directory, guarded by a
//! lock file that is never renamed.

use super::journal;
use super::vfs::{OpenMode, StdFs, Vfs, VfsFile};
use super::*;
use crate::error::ErrorCode;
use std::path::{Path, PathBuf};

/// The embedded default store: a directory holding `strongroom.journal`,
/// an append-only journal of checksummed, sequence-numbered batches. Each
/// batch is written and fsynced before `apply` returns. When the journal
/// grows well past the live data (or when key material was deleted, through
/// [`Store::compact`]) it is rewritten by write-temp + fsync + rename +
/// directory fsync. An exclusive advisory lock on `strongroom.lock` (a file
/// that is never replaced) stops two processes sharing one store.
///
/// After any failure that leaves the journal on disk in doubt (a failed
/// fsync, or anything failing after the rename of a compaction) the store is
/// *poisoned*: every later write fails, so nothing is acknowledged that might
/// be lost. Reopen it (a new `FileStore`) to continue.
pub struct FileStore {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    /// Held for the store's lifetime: the lock lives on this handle.
    _lock: Box<dyn VfsFile>,
    file: Box<dyn VfsFile>,
    entries: BTreeMap<String, Vec<u8>>,
    journal_len: u64,
    version: u32,
    next_seq: u64,
    /// A torn tail found at open, not yet set aside (saved before the first
    /// write cuts it off).
    tail: Option<Vec<u8>>,
    compact_pending: bool,
    /// The journal is rewritten when it exceeds factor x the live data + slack.
    compaction: (u64, u64),
    poisoned: Option<String>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .field("entries", &self.entries.len())
            .field("journal_len", &self.journal_len)
            .field("version", &self.version)
            .field("poisoned", &self.poisoned.is_some())
            .finish_non_exhaustive()
    }
}

pub const JOURNAL: &str = "strongroom.journal";
pub const LOCK: &str = "strongroom.lock";
const TMP: &str = "strongroom.journal.tmp";
/// Prefix of the files that keep torn tails cut off the journal.
pub const TORN_PREFIX: &str = "strongroom.journal.torn-";

const DEFAULT_COMPACTION_SLACK: u64 = 1 << 20;

fn io(ctx: &str, e: std::io::Error) -> Error {
    Error::new(ErrorCode::StoreIo, format!("{ctx}: {e}"))
}

fn loose_mode_warning(what: &str, path: &Path, mode: u32) -> String {
    format!(
        "the store {what} {} is accessible to group or others (mode {:o}); it should be {}",
        path.display(),
        mode,
        if what == "directory" { "0700" } else { "0600" }
    )
}

impl FileStore {
    /// Open the store in `dir` on the real file system, creating the
    /// directory (mode 0700) and an empty journal (0600) if needed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(Arc::new(StdFs), dir)
    }

    /// Open the store in `dir` on the file system `vfs`.
    pub fn open_with(vfs: Arc<dyn Vfs>, dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        // Directories this call creates: each one's entry in its parent is
        // made durable, or a crash could take the whole store away.
        let mut missing = Vec::new();
        for a in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
            if vfs
                .exists(a)
                .map_err(|e| io("looking for the store directory", e))?
            {
                break;
            }
            missing.push(a.to_path_buf());
        }
        if !missing.is_empty() {
            vfs.create_dir_all(&dir)
                .map_err(|e| io("creating the store directory", e))?;
            for m in missing.iter().rev() {
                let parent = match m.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                vfs.sync_dir(parent)
                    .map_err(|e| io("syncing the store directory's parent", e))?;
            }
        }
        let mut lock = vfs
            .open(&dir.join(LOCK), OpenMode::CreateOrOpen)
            .map_err(|e| io("opening the store lock file", e))?;
        if !lock
            .try_lock()
            .map_err(|e| io("locking the store lock file", e))?
        {
            return Err(Error::new(
                ErrorCode::StoreIo,
                format!(
                    "the store at {} is in use by another process",
                    dir.display()
                ),
            ));
        }
        // From here on this process owns the store.
        let path = dir.join(JOURNAL);
        let exists = vfs
            .exists(&path)
            .map_err(|e| io("looking for the journal", e))?;
        let (mut file, mut data) = if exists {
            let mut f = vfs
                .open(&path, OpenMode::Existing)
                .map_err(|e| io("opening the journal", e))?;
            let data = f.read_all().map_err(|e| io("reading the journal", e))?;
            (f, data)
        } else {
            let mut f = vfs
                .open(&path, OpenMode::CreateNew)
                .map_err(|e| io("creating the journal", e))?;
            // The header becomes durable with the first record's fdatasync;
            // until then a crash leaves an empty or partial header (below).
            // The directory entry must be durable before any record is
            // acknowledged.
            let h = journal::header();
            f.write_at(0, &h)
                .map_err(|e| io("writing the new journal", e))?;
            vfs.sync_dir(&dir)
                .map_err(|e| io("syncing the store directory", e))?;
            (f, h.to_vec())
        };
        // A crash while the journal was being created can leave it empty or
        // with part of its header: no record was ever written (let alone
        // acknowledged), so it is a new store.
        if data.len() < journal::HEADER_LEN
            && (journal::header().starts_with(&data) || data.iter().all(|&b| b == 0))
        {
            let h = journal::header();
            file.set_len(0)
                .and_then(|_| file.write_at(0, &h))
                .map_err(|e| io("writing the new journal", e))?;
            data = h.to_vec();
        }
        let replayed = journal::replay(&data)?;
        let tail = (replayed.valid_len < data.len()).then(|| data[replayed.valid_len..].to_vec());
        // A temporary file left by a compaction that crashed before its
        // rename: the journal is authoritative.
        let tmp = dir.join(TMP);
        if vfs.exists(&tmp).unwrap_or(false) {
            vfs.remove_file(&tmp)
                .map_err(|e| io("removing a stale temporary journal", e))?;
        }
        let mut warnings = Vec::new();
        for (what, p) in [
            ("directory", &dir),
            ("journal", &path),
            ("lock file", &dir.join(LOCK)),
        ] {
            if let Ok(Some(mode)) = vfs.mode(p) {
                if mode & 0o077 != 0 {
                    warnings.push(loose_mode_warning(what, p, mode));
                }
            }
        }
        for w in &warnings {
            log::warn!("strongroom: {w}");
        }
        Ok(FileStore {
            vfs,
            dir,
            _lock: lock,
            file,
            entries: replayed.entries,
            journal_len: replayed.valid_len as u64,
            version: replayed.version,
            next_seq: replayed.next_seq,
            tail,
            // Material deleted by a call whose compaction did not finish (a
            // crash): its sealed bytes go at the next write.
            compact_pending: replayed.material_deleted,
            compaction: (4, DEFAULT_COMPACTION_SLACK),
            poisoned: None,
            warnings,
        })
    }

    /// Compact when the journal exceeds `factor` x the live data + `slack`
    /// bytes (default 4 x + 1 MiB). Tests lower it to compact often.
    #[doc(hidden)]
    pub fn with_compaction_threshold(mut self, factor: u64, slack: u64) -> Self {
        self.compaction = (factor, slack);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Problems found at open that do not stop the store from working:
    /// today, a store directory or file that group or others can access
    /// (also logged through the `log` facade at warning level).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether an earlier failure made this handle refuse writes.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    fn check_poisoned(&self) -> Result<()> {
        match &self.poisoned {
            None => Ok(()),
            Some(why) => Err(Error::new(
                ErrorCode::StoreIo,
                format!("the store refuses writes after an earlier failure ({why}); reopen it"),
            )),
        }
    }

    fn poison(&mut self, e: Error) -> Error {
        self.poisoned = Some(e.message().to_string());
        e
    }

    fn live_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|(k, v)| (k.len() + v.len() + 9) as u64)
            .sum()
    }

    /// Keep a torn tail found at open in a file of its own before the journal
    /// is cut: bytes are never thrown away.
    fn set_tail_aside(&mut self) -> Result<()> {
        let Some(tail) = &self.tail else {
            return Ok(());
        };
        let mut n = 0;
        let mut f = loop {
            let name = if n == 0 {
                format!("{TORN_PREFIX}{}", self.journal_len)
            } else {
                format!("{TORN_PREFIX}{}-{n}", self.journal_len)
            };
            match self.vfs.open(&self.dir.join(name), OpenMode::CreateNew) {
                Ok(f) => break f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(io("saving the journal's torn tail", e)),
            }
        };
        f.write_at(0, tail)
            .and_then(|_| f.sync_all())
            .map_err(|e| io("saving the journal's torn tail", e))?;
        self.vfs
            .sync_dir(&self.dir)
            .map_err(|e| io("syncing the store directory", e))?;
        self.tail = None;
        Ok(())
    }

    /// Replace the journal by a version 2 journal holding exactly `entries`
    /// (write-temp + fsync + rename + directory fsync). Before the rename a
    /// failure changes nothing; after it, the store is poisoned.
    fn rewrite(&mut self, entries: BTreeMap<String, Vec<u8>>) -> Result<()> {
        let mut bytes = journal::header().to_vec();
        if !entries.is_empty() {
            let batch: Vec<Mutation> = entries
                .iter()
                .map(|(k, v)| Mutation::Put {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect();
            bytes.extend(journal::encode_record(self.next_seq, &batch));
        }
        if bytes.len() > journal::HEADER_LEN + journal::MAX_RECORD_LEN {
            return Err(Error::validation(
                "the store is too large for one journal record",
            ));
        }
        let tmp = self.dir.join(TMP);
        let written = self
            .vfs
            .open(&tmp, OpenMode::CreateTruncate)
            .and_then(|mut f| {
                f.write_at(0, &bytes)?;
                f.sync_all()?;
                Ok(f)
            })
            .and_then(|f| self.vfs.rename(&tmp, &self.dir.join(JOURNAL)).map(|_| f));
        let f = match written {
            Ok(f) => f,
            Err(e) => {
                let _ = self.vfs.remove_file(&tmp);
                return Err(io("rewriting the journal", e));
            }
        };
        // The journal's name now refers to the new file: never write to the
        // old (unlinked) one again.
        self.file = f;
        if let Err(e) = self.vfs.sync_dir(&self.dir) {
            return Err(self.poison(io(
                "syncing the store directory after replacing the journal",
                e,
            )));
        }
        self.journal_len = bytes.len() as u64;
        self.next_seq += u64::from(!entries.is_empty());
        self.version = journal::FORMAT_VERSION;
        self.entries = entries;
        self.tail = None;
        self.compact_pending = false;
        Ok(())
    }
}

impl Store for FileStore {
    fn load(&mut self) -> Result<BTreeMap<String, Vec<u8>>> {
        Ok(self.entries.clone())
    }

    fn apply(&mut self, batch: Vec<Mutation>) -> Result<()> {
        self.check_poisoned()?;
        if batch.is_empty() {
            return Ok(());
        }
        self.set_tail_aside()?;
        if self.version != journal::FORMAT_VERSION {
            // An older journal: upgrade by rewriting it, this batch included.
            let mut next = self.entries.clone();
            apply_to_map(&mut next, batch);
            return self.rewrite(next);
        }
        let rec = journal::encode_record(self.next_seq, &batch);
        if rec.len() > journal::MAX_RECORD_LEN {
            return Err(Error::validation(
                "the change is too large for one journal record",
            ));
        }
        // Write at the end of the valid prefix: this also drops what a
        // failed earlier write may have left after it.
        self.file
            .set_len(self.journal_len)
            .and_then(|_| self.file.write_at(self.journal_len, &rec))
            .map_err(|e| io("appending to the journal", e))?;
        if let Err(e) = self.file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty
            // pages: what is on disk is unknown.
            return Err(self.poison(io("syncing the journal", e)));
        }
        self.journal_len += rec.len() as u64;
        self.next_seq += 1;
        apply_to_map(&mut self.entries, batch);
        if self.compact_pending
            || self.journal_len > self.compaction.0 * self.live_size() + self.compaction.1
        {
            // The batch is durable whatever happens here: a failure before
            // the rename is retried on the next write, one after it poisons.
            if self.rewrite(self.entries.clone()).is_err() && self.poisoned.is_none() {
                self.compact_pending = true;
            }
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<()> {
        self.check_poisoned()?;
        let r = self
            .set_tail_aside()
            .and_then(|_| self.rewrite(self.entries.clone()));
        if r.is_err() && self.poisoned.is_none() {
            self.compact_pending = true;
        }
        r
    }
}
