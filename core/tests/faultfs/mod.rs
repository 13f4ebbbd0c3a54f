//! A fault-injecting, in-memory file system for the file store (the
//! approach of RocksDB's FaultInjectionTestFS and SQLite's crash tests).
//!
//! Every write lands in a file's *live* contents and in a list of unsynced
//! operations; `sync_data`/`sync_all` make the file's contents durable.
//! Every directory change (create, rename, remove, new sub-directory) is
//! live at once and durable only after `sync_dir` of that directory.
//!
//! [`FaultFs::crash_after`] arms a crash: the n-th later operation fails and
//! so does everything after it (the "process" is dead). [`FaultFs::recover`]
//! then plays the power loss: each file and each directory keeps its durable
//! state plus, at random, a prefix of its unsynced operations, the last kept
//! write possibly torn at any byte; half the time nothing unsynced survives.
//! Open handles from before the crash stop working and locks are released.
//! [`FaultFs::fail_next`] injects one I/O error (nothing is done) into the
//! next operation of a kind, without crashing.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use strongroom::store::vfs::{OpenMode, Vfs, VfsFile};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    CreateDir,
    Open,
    Exists,
    Read,
    Write,
    SetLen,
    SyncData,
    SyncAll,
    Lock,
    Rename,
    Remove,
    SyncDir,
    Mode,
}

#[derive(Clone, Debug)]
enum FileOp {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Default, Clone, Debug)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<FileOp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir,
}

#[derive(Clone, Debug)]
enum DirOp {
    Insert(String, Node),
    Remove(String),
    Rename(String, String),
}

#[derive(Default, Clone, Debug)]
struct Dir {
    live: BTreeMap<String, Node>,
    durable: BTreeMap<String, Node>,
    pending: Vec<DirOp>,
}

fn apply_dir(m: &mut BTreeMap<String, Node>, op: &DirOp) {
    match op {
        DirOp::Insert(n, node) => {
            m.insert(n.clone(), *node);
        }
        DirOp::Remove(n) => {
            m.remove(n);
        }
        DirOp::Rename(a, b) => {
            if let Some(node) = m.remove(a) {
                m.insert(b.clone(), node);
            }
        }
    }
}

fn apply_file(data: &mut Vec<u8>, op: &FileOp, torn: Option<usize>) {
    match op {
        FileOp::Write(off, bytes) => {
            let bytes = &bytes[..torn.unwrap_or(bytes.len())];
            let off = *off as usize;
            if data.len() < off + bytes.len() {
                data.resize(off + bytes.len(), 0);
            }
            data[off..off + bytes.len()].copy_from_slice(bytes);
        }
        FileOp::SetLen(n) => data.resize(*n as usize, 0),
    }
}

#[derive(Default)]
struct Inner {
    inodes: BTreeMap<u64, Inode>,
    dirs: BTreeMap<PathBuf, Dir>,
    next_ino: u64,
    /// inode -> handle id holding its lock
    locks: BTreeMap<u64, u64>,
    next_handle: u64,
    epoch: u64,
    ops: u64,
    crash_at: Option<u64>,
    crashed: bool,
    fail: Vec<Op>,
    rng: u64,
    /// Syncs and renames done (for reports).
    syncs: u64,
    renames: u64,
}

impl Inner {
    fn rand(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    fn step(&mut self, op: Op) -> io::Result<()> {
        if self.crashed {
            return Err(io::Error::other("simulated crash: the process is gone"));
        }
        self.ops += 1;
        if self.crash_at.is_some_and(|n| self.ops >= n) {
            self.crashed = true;
            return Err(io::Error::other("simulated crash"));
        }
        if let Some(i) = self.fail.iter().position(|&o| o == op) {
            self.fail.remove(i);
            return Err(io::Error::other(format!("injected {op:?} failure")));
        }
        Ok(())
    }

    fn split(path: &Path) -> io::Result<(PathBuf, String)> {
        let parent = path.parent().ok_or_else(|| io::Error::other("no parent"))?;
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("no file name"))?
            .to_string_lossy()
            .into_owned();
        Ok((parent.to_path_buf(), name))
    }

    fn dir(&mut self, p: &Path) -> io::Result<&mut Dir> {
        self.dirs
            .get_mut(p)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such directory"))
    }

    fn lookup(&self, path: &Path) -> Option<Node> {
        if self.dirs.contains_key(path) {
            return Some(Node::Dir);
        }
        let (parent, name) = Self::split(path).ok()?;
        self.dirs.get(&parent)?.live.get(&name).copied()
    }
}

/// A shared handle on one simulated file system.
#[derive(Clone)]
pub struct FaultFs(Arc<Mutex<Inner>>);

struct Handle {
    fs: Arc<Mutex<Inner>>,
    ino: u64,
    id: u64,
    epoch: u64,
}

impl FaultFs {
    pub fn new(seed: u64) -> Self {
        let mut inner = Inner {
            rng: seed,
            ..Default::default()
        };
        inner.dirs.insert(PathBuf::from("/"), Dir::default());
        FaultFs(Arc::new(Mutex::new(inner)))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap()
    }

    /// Crash at the `n`-th operation from now (1 = the next one).
    pub fn crash_after(&self, n: u64) {
        let mut i = self.inner();
        i.crash_at = Some(i.ops + n.max(1));
    }

    pub fn crashed(&self) -> bool {
        self.inner().crashed
    }

    /// Renames so far (each one a journal rewrite by the store).
    pub fn renames(&self) -> u64 {
        self.inner().renames
    }

    pub fn ops(&self) -> u64 {
        self.inner().ops
    }

    /// Fail the next operation of kind `op` (once).
    pub fn fail_next(&self, op: Op) {
        self.inner().fail.push(op);
    }

    /// Crash now (if not crashed already) and restart on what was durable,
    /// plus a random prefix of what was not.
    pub fn recover(&self) {
        let mut i = self.inner();
        let inner = &mut *i;
        let dirs: Vec<PathBuf> = inner.dirs.keys().cloned().collect();
        for p in &dirs {
            let keep_none = inner.rand().is_multiple_of(2);
            let n = inner.dirs[p].pending.len() as u64;
            let keep = if keep_none { 0 } else { inner.rand() % (n + 1) } as usize;
            let d = inner.dirs.get_mut(p).unwrap();
            let mut m = d.durable.clone();
            for op in &d.pending[..keep] {
                apply_dir(&mut m, op);
            }
            d.live = m.clone();
            d.durable = m;
            d.pending.clear();
        }
        // Directories whose entry did not survive are gone with their files.
        let mut sorted = dirs.clone();
        sorted.sort_by_key(|p| p.components().count());
        for p in sorted {
            if p == Path::new("/") {
                continue;
            }
            let (parent, name) = Inner::split(&p).unwrap();
            let alive = inner
                .dirs
                .get(&parent)
                .is_some_and(|d| d.live.get(&name) == Some(&Node::Dir));
            if !alive {
                inner.dirs.remove(&p);
            }
        }
        let inos: Vec<u64> = inner.inodes.keys().copied().collect();
        for ino in inos {
            let keep_none = inner.rand().is_multiple_of(2);
            let n = inner.inodes[&ino].pending.len() as u64;
            let keep = if keep_none { 0 } else { inner.rand() % (n + 1) } as usize;
            let torn = inner.rand();
            let f = inner.inodes.get_mut(&ino).unwrap();
            let mut data = f.durable.clone();
            for op in &f.pending[..keep] {
                apply_file(&mut data, op, None);
            }
            // The next unsynced write may be torn at any byte.
            if !keep_none {
                if let Some(op @ FileOp::Write(_, bytes)) = f.pending.get(keep) {
                    let cut = (torn % (bytes.len() as u64 + 1)) as usize;
                    apply_file(&mut data, op, Some(cut));
                }
            }
            f.live = data.clone();
            f.durable = data;
            f.pending.clear();
        }
        inner.locks.clear();
        inner.epoch += 1;
        inner.crashed = false;
        inner.crash_at = None;
        inner.fail.clear();
    }

    /// A file's current contents (after `recover`: what survived).
    pub fn read(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let i = self.inner();
        match i.lookup(path.as_ref())? {
            Node::File(ino) => Some(i.inodes[&ino].live.clone()),
            Node::Dir => None,
        }
    }

    /// Overwrite a file's contents, durably (for tests that damage a store).
    pub fn write_durable(&self, path: impl AsRef<Path>, data: &[u8]) {
        let mut i = self.inner();
        let Some(Node::File(ino)) = i.lookup(path.as_ref()) else {
            panic!("no such file");
        };
        let f = i.inodes.get_mut(&ino).unwrap();
        f.live = data.to_vec();
        f.durable = data.to_vec();
        f.pending.clear();
    }

    /// The names in a directory.
    pub fn list(&self, dir: impl AsRef<Path>) -> Vec<String> {
        self.inner()
            .dirs
            .get(dir.as_ref())
            .map(|d| d.live.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn vfs(&self) -> Arc<dyn Vfs> {
        Arc::new(self.clone())
    }
}

impl Handle {
    fn with<T>(&self, op: Op, f: impl FnOnce(&mut Inner, u64) -> T) -> io::Result<T> {
        let mut i = self.fs.lock().unwrap();
        if i.epoch != self.epoch {
            return Err(io::Error::other("stale handle from before a crash"));
        }
        i.step(op)?;
        Ok(f(&mut i, self.ino))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut i = self.fs.lock().unwrap();
        if i.epoch == self.epoch && i.locks.get(&self.ino) == Some(&self.id) {
            i.locks.remove(&self.ino);
        }
    }
}

impl VfsFile for Handle {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        self.with(Op::Read, |i, ino| i.inodes[&ino].live.clone())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.with(Op::Write, |i, ino| {
            let f = i.inodes.get_mut(&ino).unwrap();
            let op = FileOp::Write(offset, data.to_vec());
            apply_file(&mut f.live, &op, None);
            f.pending.push(op);
        })
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.with(Op::SetLen, |i, ino| {
            let f = i.inodes.get_mut(&ino).unwrap();
            let op = FileOp::SetLen(len);
            apply_file(&mut f.live, &op, None);
            f.pending.push(op);
        })
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.with(Op::SyncData, |i, ino| {
            i.syncs += 1;
            let f = i.inodes.get_mut(&ino).unwrap();
            for op in std::mem::take(&mut f.pending) {
                apply_file(&mut f.durable, &op, None);
            }
        })
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.with(Op::SyncAll, |i, ino| {
            i.syncs += 1;
            let f = i.inodes.get_mut(&ino).unwrap();
            for op in std::mem::take(&mut f.pending) {
                apply_file(&mut f.durable, &op, None);
            }
        })
    }
    fn try_lock(&mut self) -> io::Result<bool> {
        let id = self.id;
        self.with(Op::Lock, |i, ino| match i.locks.get(&ino) {
            Some(&h) if h != id => false,
            _ => {
                i.locks.insert(ino, id);
                true
            }
        })
    }
}

impl Vfs for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<bool> {
        let mut i = self.inner();
        i.step(Op::CreateDir)?;
        if i.dirs.contains_key(dir) {
            return Ok(false);
        }
        let mut chain: Vec<PathBuf> = dir.ancestors().map(Path::to_path_buf).collect();
        chain.reverse();
        for p in chain {
            if i.dirs.contains_key(&p) {
                continue;
            }
            let (parent, name) = Inner::split(&p)?;
            let d = i.dir(&parent)?;
            if d.live.contains_key(&name) {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "a file"));
            }
            d.live.insert(name.clone(), Node::Dir);
            d.pending.push(DirOp::Insert(name, Node::Dir));
            i.dirs.insert(p, Dir::default());
        }
        Ok(true)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let mut i = self.inner();
        i.step(Op::Open)?;
        let (parent, name) = Inner::split(path)?;
        let existing = i.dir(&parent)?.live.get(&name).copied();
        let ino = match (existing, mode) {
            (Some(Node::Dir), _) => return Err(io::Error::other("is a directory")),
            (Some(Node::File(_)), OpenMode::CreateNew) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"))
            }
            (Some(Node::File(ino)), OpenMode::CreateTruncate) => {
                let f = i.inodes.get_mut(&ino).unwrap();
                f.live.clear();
                f.pending.push(FileOp::SetLen(0));
                ino
            }
            (Some(Node::File(ino)), _) => ino,
            (None, OpenMode::Existing) => {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
            }
            (None, _) => {
                i.next_ino += 1;
                let ino = i.next_ino;
                i.inodes.insert(ino, Inode::default());
                let d = i.dir(&parent)?;
                d.live.insert(name.clone(), Node::File(ino));
                d.pending.push(DirOp::Insert(name, Node::File(ino)));
                ino
            }
        };
        i.next_handle += 1;
        Ok(Box::new(Handle {
            fs: self.0.clone(),
            ino,
            id: i.next_handle,
            epoch: i.epoch,
        }))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let mut i = self.inner();
        i.step(Op::Exists)?;
        Ok(i.lookup(path).is_some())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut i = self.inner();
        i.step(Op::Rename)?;
        let (pa, a) = Inner::split(from)?;
        let (pb, b) = Inner::split(to)?;
        assert_eq!(pa, pb, "the store renames within its directory");
        let d = i.dir(&pa)?;
        let node = d
            .live
            .remove(&a)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        d.live.insert(b.clone(), node);
        d.pending.push(DirOp::Rename(a, b));
        i.renames += 1;
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut i = self.inner();
        i.step(Op::Remove)?;
        let (parent, name) = Inner::split(path)?;
        let d = i.dir(&parent)?;
        d.live
            .remove(&name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        d.pending.push(DirOp::Remove(name));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut i = self.inner();
        i.step(Op::SyncDir)?;
        i.syncs += 1;
        let d = i.dir(dir)?;
        d.durable = d.live.clone();
        d.pending.clear();
        Ok(())
    }

    fn mode(&self, path: &Path) -> io::Result<Option<u32>> {
        let mut i = self.inner();
        i.step(Op::Mode)?;
        match i.lookup(path) {
            Some(Node::Dir) => Ok(Some(0o700)),
            Some(Node::File(_)) => Ok(Some(0o600)),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }
}
