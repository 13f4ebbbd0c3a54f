//! The file system seam of [`FileStore`](super::FileStore): every file and
//! directory operation the store performs, so that tests can run the store
//! on a file system that simulates crashes (dropping whatever was not made
//! durable) and injects I/O errors. [`StdFs`] is the real one and the
//! default of [`FileStore::open`](super::FileStore::open).

use std::io;
use std::path::Path;

/// How [`Vfs::open`] opens a file (always for reading and writing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must exist.
    Existing,
    /// The file must not exist; it is created (mode 0600).
    CreateNew,
    /// Open the file, creating it (mode 0600) if it does not exist.
    CreateOrOpen,
    /// Create the file (mode 0600) or truncate it to zero length.
    CreateTruncate,
}

/// An open file.
pub trait VfsFile: Send {
    /// The whole file.
    fn read_all(&mut self) -> io::Result<Vec<u8>>;
    /// Write all of `data` at `offset` (not durable until a sync).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Make the contents (and the length) durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Make the contents and all metadata durable (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
    /// Take an exclusive advisory lock, held until the file is closed.
    /// `Ok(false)`: someone else holds it.
    fn try_lock(&mut self) -> io::Result<bool>;
}

/// A file system.
pub trait Vfs: Send + Sync {
    /// Create `dir` and its missing parents (new directories with mode
    /// 0700). `Ok(true)` if `dir` itself was created.
    fn create_dir_all(&self, dir: &Path) -> io::Result<bool>;
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Replace `to` by `from` atomically (same directory). Not durable
    /// until the directory is synced.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Make the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Unix permission bits of `path` (`None` where there are none).
    fn mode(&self, path: &Path) -> io::Result<Option<u32>>;
}

/// The real file system (`std::fs`). New directories get mode 0700 and new
/// files 0600 on Unix.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

struct StdFile(std::fs::File);

impl VfsFile for StdFile {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut v = Vec::new();
        self.0.seek(SeekFrom::Start(0))?;
        self.0.read_to_end(&mut v)?;
        Ok(v)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.write_all(data)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn try_lock(&mut self) -> io::Result<bool> {
        match self.0.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Vfs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<bool> {
        if dir.is_dir() {
            return Ok(false);
        }
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)?;
        Ok(true)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::CreateNew => {
                o.create_new(true);
            }
            OpenMode::CreateOrOpen => {
                o.create(true);
            }
            OpenMode::CreateTruncate => {
                o.create(true).truncate(true);
            }
        }
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        Ok(Box::new(StdFile(o.open(path)?)))
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
    fn mode(&self, path: &Path) -> io::Result<Option<u32>> {
        let md = std::fs::metadata(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            Ok(Some(md.permissions().mode() & 0o7777))
        }
        #[cfg(not(unix))]
        {
            let _ = md;
            Ok(None)
        }
    }
}
