//! Injected clock and randomness. The core never reads the system clock or
//! the OS RNG directly: both come through these traits so tests are
//! deterministic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Milliseconds since the Unix epoch.
pub type Millis = u64;
pub const MS_PER_DAY: u64 = 86_400_000;

pub trait Clock: Send + Sync {
    fn now_ms(&self) -> Millis;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// In browsers and Node (wasm32-unknown-unknown, where std has no
    /// clock) the platform's `Date.now()`.
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    fn now_ms(&self) -> Millis {
        js_sys::Date::now() as Millis
    }

    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to: for tests and for people testing
/// deletion windows and rotation schedules offline. Cloning shares the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new(start_ms: Millis) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start_ms)))
    }
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst)
    }
    pub fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn advance_days(&self, days: u64) {
        self.advance_ms(days * MS_PER_DAY)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// A source of cryptographically secure random bytes.
pub trait Rng: Send + Sync {
    fn fill(&self, dest: &mut [u8]) -> Result<()>;

    /// Fill several buffers, in order. The default fills each in turn, as
    /// that many [`Rng::fill`] calls would (a seeded generator's output
    /// stays exactly what it was); a source with a per-draw cost overrides
    /// it to draw once ([`OsRng`]: one system call instead of one per
    /// buffer).
    fn fill_each(&self, dests: &mut [&mut [u8]]) -> Result<()> {
        for d in dests.iter_mut() {
            self.fill(d)?;
        }
        Ok(())
    }
}

/// Up to this many bytes, [`OsRng::fill_each`] makes one draw.
const OS_DRAW_MAX: usize = 256;

/// The operating system's RNG (`getrandom`; the platform crypto on wasm).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

fn os_fill(dest: &mut [u8]) -> Result<()> {
    getrandom::getrandom(dest).map_err(|_| Error::internal("the system random source failed"))
}

/// Small draws from the OS come from a per-process pool refilled
/// 4096 bytes at a time: one `getrandom` system call per ~100
/// blobs instead of one per call. Every byte handed out is wiped from the
/// pool as it leaves, so nothing that became a key or salt stays there. The
/// pool remembers the process that filled it and a forked child (another
/// process id) never uses its parent's bytes: it refills first.
#[cfg(all(unix, not(target_arch = "wasm32")))]
mod pool {
    use std::sync::Mutex;
    use zeroize::Zeroize;

    pub(super) const POOL_LEN: usize = 4096;
    /// Larger draws go to the OS directly.
    pub(super) const POOL_MAX_DRAW: usize = 256;

    pub(super) struct Pool {
        pid: u32,
        /// Bytes before `next` were handed out (and wiped).
        next: usize,
        bytes: [u8; POOL_LEN],
    }

    pub(super) static POOL: Mutex<Pool> = Mutex::new(Pool {
        pid: 0,
        next: POOL_LEN,
        bytes: [0; POOL_LEN],
    });

    impl Pool {
        /// Fill `dest` (at most `POOL_MAX_DRAW` bytes) from the pool,
        /// refilling it through `refill` when it is short or was filled by
        /// another process.
        pub(super) fn take(
            &mut self,
            dest: &mut [u8],
            refill: impl FnOnce(&mut [u8]) -> crate::error::Result<()>,
        ) -> crate::error::Result<()> {
            debug_assert!(dest.len() <= POOL_MAX_DRAW);
            let pid = std::process::id();
            if self.pid != pid || POOL_LEN - self.next < dest.len() {
                self.bytes.zeroize();
                self.next = POOL_LEN;
                refill(&mut self.bytes)?;
                self.pid = pid;
                self.next = 0;
            }
            let end = self.next + dest.len();
            dest.copy_from_slice(&self.bytes[self.next..end]);
            self.bytes[self.next..end].zeroize();
            self.next = end;
            Ok(())
        }
    }

    #[cfg(test)]
    impl Pool {
        pub(crate) fn for_test() -> Pool {
            Pool {
                pid: 0,
                next: POOL_LEN,
                bytes: [0; POOL_LEN],
            }
        }
        pub(crate) fn bytes_handed_out(&self) -> &[u8] {
            &self.bytes[..self.next]
        }
        pub(crate) fn pretend_filled_by(&mut self, pid: u32) {
            self.pid = pid;
        }
    }
}

impl Rng for OsRng {
    /// Draws of up to 256 bytes come from the process's wiped, fork-aware
    /// pool (see `pool`) on Unix; larger ones, and every draw elsewhere,
    /// straight from `getrandom`.
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        #[cfg(all(unix, not(target_arch = "wasm32")))]
        if dest.len() <= pool::POOL_MAX_DRAW {
            // A poisoned pool (a panic while it was held) is left alone.
            if let Ok(mut p) = pool::POOL.lock() {
                return p.take(dest, os_fill);
            }
        }
        os_fill(dest)
    }

    /// One `getrandom` for all the buffers (through a wiped stack buffer)
    /// when they are small, e.g. a data key and its blob's salt.
    fn fill_each(&self, dests: &mut [&mut [u8]]) -> Result<()> {
        let total: usize = dests.iter().map(|d| d.len()).sum();
        if dests.len() < 2 || total > OS_DRAW_MAX {
            for d in dests.iter_mut() {
                self.fill(d)?;
            }
            return Ok(());
        }
        let mut draw = zeroize::Zeroizing::new([0u8; OS_DRAW_MAX]);
        self.fill(&mut draw[..total])?;
        let mut at = 0;
        for d in dests.iter_mut() {
            d.copy_from_slice(&draw[at..at + d.len()]);
            at += d.len();
        }
        Ok(())
    }
}

/// A deterministic ChaCha20 stream from a 32-byte seed. Only for known-answer
/// tests and test vectors: every key it makes is predictable.
#[cfg(feature = "dangerous-test-rng")]
pub struct DangerousSeededRng(std::sync::Mutex<rand_chacha::ChaCha20Rng>);

#[cfg(feature = "dangerous-test-rng")]
impl DangerousSeededRng {
    pub fn new(seed: [u8; 32]) -> Self {
        use rand_chacha::rand_core::SeedableRng;
        DangerousSeededRng(std::sync::Mutex::new(rand_chacha::ChaCha20Rng::from_seed(
            seed,
        )))
    }
}

#[cfg(feature = "dangerous-test-rng")]
impl Rng for DangerousSeededRng {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        use rand_chacha::rand_core::RngCore;
        self.0
            .lock()
            .map_err(|_| Error::internal("rng lock poisoned"))?
            .fill_bytes(dest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the size of every draw.
    struct Counting(std::sync::Mutex<Vec<usize>>);
    impl Rng for Counting {
        fn fill(&self, dest: &mut [u8]) -> Result<()> {
            self.0.lock().unwrap().push(dest.len());
            dest.fill(1);
            Ok(())
        }
    }

    #[test]
    fn fill_each_default_is_one_fill_per_buffer() {
        let r = Counting(Default::default());
        let (mut a, mut b) = ([0u8; 5], [0u8; 32]);
        r.fill_each(&mut [&mut a, &mut b]).unwrap();
        assert_eq!(*r.0.lock().unwrap(), vec![5, 32]);
        assert!(a.iter().chain(&b).all(|x| *x == 1));
    }

    #[cfg(all(unix, not(target_arch = "wasm32")))]
    #[test]
    fn pool_wipes_what_it_hands_out_and_refills_for_another_process() {
        let mut p = pool::Pool::for_test();
        let refills = std::cell::Cell::new(0);
        let refill = |b: &mut [u8]| {
            refills.set(refills.get() + 1);
            b.fill(0xA5);
            Ok(())
        };
        let mut a = [0u8; 32];
        p.take(&mut a, refill).unwrap();
        assert_eq!(a, [0xA5; 32]);
        assert_eq!(refills.get(), 1);
        assert!(p.bytes_handed_out().iter().all(|b| *b == 0), "wiped");
        // The rest of the pool serves the next draws without a refill ...
        for _ in 0..(pool::POOL_LEN / 32 - 1) {
            p.take(&mut a, refill).unwrap();
        }
        assert_eq!(refills.get(), 1);
        // ... until it is short,
        p.take(&mut a, refill).unwrap();
        assert_eq!(refills.get(), 2);
        // or was filled by another process (a forked child's copy).
        p.pretend_filled_by(std::process::id().wrapping_add(1));
        p.take(&mut a, refill).unwrap();
        assert_eq!(refills.get(), 3);
    }

    #[test]
    fn os_fill_draws_differ() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        OsRng.fill(&mut a).unwrap();
        OsRng.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
        let mut big = vec![0u8; 1000];
        OsRng.fill(&mut big).unwrap();
        assert!(big.iter().any(|x| *x != 0));
    }

    #[test]
    fn os_fill_each_fills_every_buffer() {
        for sizes in [[32usize, 32], [16, 240], [200, 100]] {
            let (mut a, mut b) = (vec![0u8; sizes[0]], vec![0u8; sizes[1]]);
            OsRng.fill_each(&mut [&mut a, &mut b]).unwrap();
            // A buffer left all zero, or two equal 16-byte starts, would
            // be a bug (odds of a false failure: 2^-128).
            assert!(a.iter().any(|x| *x != 0) && b.iter().any(|x| *x != 0));
            assert_ne!(a[..16], b[..16]);
        }
    }
}
