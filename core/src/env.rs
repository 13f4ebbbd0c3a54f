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

impl Rng for OsRng {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        getrandom::getrandom(dest).map_err(|_| Error::internal("the system random source failed"))
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
