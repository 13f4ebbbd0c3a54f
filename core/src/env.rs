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
}

/// The operating system's RNG (`getrandom`; the platform crypto on wasm).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&self, dest: &mut [u8]) -> Result<()> {
        getrandom::getrandom(dest).map_err(|_| Error::internal("the system random source failed"))
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
