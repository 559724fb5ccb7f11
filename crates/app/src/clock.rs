//! Time and secrets. The application reads the time only from its [`Clock`], so tests can
//! move it instead of waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// Where the application reads the time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's clock: what every running server uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system time"
    )]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until it is moved: tests set it and move it forward to see
/// what a server does minutes or days later. Clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing `at`.
    pub fn starting_at(at: Timestamp) -> Self {
        Self {
            ms: Arc::new(AtomicI64::new(at.as_millisecond())),
        }
    }

    /// Moves the clock forward by `by` (or back, if negative).
    pub fn advance(&self, by: SignedDuration) {
        let by_ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ms.fetch_add(by_ms, Ordering::SeqCst);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: Timestamp) {
        self.ms.store(at.as_millisecond(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        timestamp(self.ms.load(Ordering::SeqCst))
    }
}

/// The clock an [`App`](crate::App) reads, shared with the workers it runs.
pub type SharedClock = Arc<dyn Clock>;

/// A stored time (milliseconds since the Unix epoch, the unit every stored time uses) as a
/// timestamp (RFC 3339 when serialised).
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// 32 random bytes as hex: secrets for tokens, sessions and CSRF.
pub(crate) fn random_secret() -> Result<String, crate::AppError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| crate::AppError::internal("no randomness available", e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// SHA-256 of a high-entropy secret. A fast hash is right here: the secret cannot be guessed,
/// so only a database leak matters, and then the hash reveals nothing usable.
pub(crate) fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}
