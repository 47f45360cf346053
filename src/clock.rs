//! The wall clock the token path reads, behind one function so that tests
//! can jump it.
//!
//! Wall time decides what the vault tells callers (`expires_at`) and what
//! Zoho's answers mean, but it can jump (an NTP step, an operator fixing
//! the date). The broker therefore also keeps a monotonic deadline for
//! every cached token (see `broker::flight`), so a backward jump never
//! makes an expired token look valid and a forward jump costs one refresh.
//!
//! Test hook: in builds with the `fake-zoho` feature (never in a release),
//! when `ZV_FAKE_CLOCK_FILE` names a file, [`now`] adds the whole seconds
//! written in it (e.g. `-3600`) to the system clock, re-read on every call
//! so a test can jump the clock of a running server. A missing or
//! unreadable file means no offset.

use std::sync::OnceLock;

use time::OffsetDateTime;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

static CLOCK: OnceLock<Box<dyn Clock>> = OnceLock::new();

/// The current wall-clock time, as the process's clock tells it.
pub fn now() -> OffsetDateTime {
    CLOCK.get_or_init(from_env).now()
}

#[cfg(not(feature = "fake-zoho"))]
fn from_env() -> Box<dyn Clock> {
    Box::new(SystemClock)
}

#[cfg(feature = "fake-zoho")]
fn from_env() -> Box<dyn Clock> {
    match std::env::var_os(OFFSET_FILE_ENV) {
        Some(path) => Box::new(OffsetFileClock { path: path.into() }),
        None => Box::new(SystemClock),
    }
}

/// The environment variable naming the test clock's offset file.
#[cfg(feature = "fake-zoho")]
pub const OFFSET_FILE_ENV: &str = "ZV_FAKE_CLOCK_FILE";

/// The system clock plus an offset in seconds read from a file on every
/// call (test builds only).
#[cfg(feature = "fake-zoho")]
pub struct OffsetFileClock {
    path: std::path::PathBuf,
}

#[cfg(feature = "fake-zoho")]
impl Clock for OffsetFileClock {
    fn now(&self) -> OffsetDateTime {
        let offset = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .unwrap_or(0);
        OffsetDateTime::now_utc() + time::Duration::seconds(offset)
    }
}
