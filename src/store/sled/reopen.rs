//! Reopening sled in place after it stopped on an I/O error.
//!
//! Sled 0.34 remembers the first error its log writer hits (a full disk,
//! typically) and fails every later write with it; only opening the
//! database again clears it. [`Slot`] holds the open [`Handles`] behind a
//! read-write lock: every call runs under the read side, and the first
//! call that finds sled stuck (at most one per [`REOPEN_EVERY`]) takes the
//! write side, which waits for the calls in flight to finish, drops the
//! stuck database and opens it again from what is on disk. Everything
//! acknowledged was flushed before it was acknowledged, so it is there;
//! writes that failed are not. Calls between two attempts fail at once
//! with the error that stopped sled (a full disk answers 503), and the
//! disk stays reported full until a write succeeds.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use super::super::StoreError;
use super::backend;
use super::handles::Handles;

/// At most one reopen per this long, so a disk that stays full costs one
/// open of the store per second, not one per request.
pub const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// The open database, or none after a reopen failed.
pub(super) struct Slot {
    path: PathBuf,
    cache_bytes: u64,
    handles: RwLock<Option<Handles>>,
    /// When the last reopen was tried; held while one runs.
    attempted: Mutex<Option<Instant>>,
    /// Why the store is closed (when `handles` is `None`).
    closed_by: Mutex<Option<Cause>>,
}

/// Why calls are refused, kept as text: [`StoreError`] is not `Clone`.
#[derive(Clone)]
struct Cause {
    disk_full: bool,
    message: String,
}

impl Cause {
    fn of(e: &StoreError) -> Self {
        match e {
            StoreError::DiskFull(message) => Cause {
                disk_full: true,
                message: message.clone(),
            },
            StoreError::Backend(message) => Cause {
                disk_full: false,
                message: message.clone(),
            },
            other => Cause {
                disk_full: false,
                message: other.to_string(),
            },
        }
    }

    fn error(&self) -> StoreError {
        let message = format!(
            "the store stopped after a failed write and reopens by itself ({})",
            self.message
        );
        if self.disk_full {
            StoreError::DiskFull(message)
        } else {
            StoreError::Backend(message)
        }
    }
}

impl Slot {
    pub(super) fn open(path: PathBuf, cache_bytes: u64) -> Result<Self, StoreError> {
        let handles = Handles::open(&path, cache_bytes)?;
        Ok(Self {
            path,
            cache_bytes,
            handles: RwLock::new(Some(handles)),
            attempted: Mutex::new(None),
            closed_by: Mutex::new(None),
        })
    }

    /// Runs `f` on working handles: the current ones, or fresh ones when a
    /// reopen is due; otherwise fails with why the store is stopped.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&Handles) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let cause = {
            let guard = self.read();
            match self.usable(&guard) {
                Ok(h) => return f(h),
                Err(cause) => cause,
            }
        };
        if !self.reopen_if_due() {
            return Err(cause.error());
        }
        let guard = self.read();
        match self.usable(&guard) {
            Ok(h) => f(h),
            Err(cause) => Err(cause.error()),
        }
    }

    /// The handles if sled is not stuck, else why not.
    fn usable<'a>(
        &self,
        guard: &'a RwLockReadGuard<'_, Option<Handles>>,
    ) -> Result<&'a Handles, Cause> {
        match guard.as_ref() {
            Some(h) => match h.stuck() {
                None => Ok(h),
                Some(e) => Err(Cause::of(&backend(e))),
            },
            None => Err(lock(&self.closed_by).clone().unwrap_or_else(|| Cause {
                disk_full: false,
                message: "the store is closed".into(),
            })),
        }
    }

    /// Reopens the database unless another call already did or one was
    /// tried less than [`REOPEN_EVERY`] ago; whether the handles work now.
    fn reopen_if_due(&self) -> bool {
        let mut attempted = lock(&self.attempted);
        if self.usable(&self.read()).is_ok() {
            // Another call reopened it while this one waited.
            return true;
        }
        if attempted.is_some_and(|at| at.elapsed() < REOPEN_EVERY) {
            return false;
        }
        *attempted = Some(Instant::now());
        // Waits for the calls in flight on the stuck handles to return.
        let mut handles = self.handles.write().unwrap_or_else(PoisonError::into_inner);
        let mut closed_by = lock(&self.closed_by);
        if let Some(old) = handles.take() {
            if let Some(e) = old.stuck() {
                tracing::warn!(error = %e, "the store stopped after a failed write; reopening it");
                *closed_by = Some(Cause::of(&backend(e)));
            }
            // Sled's drop does no I/O once its error is set, and the file
            // lock goes with the last handle, so the open below can take it.
            drop(old);
        }
        match Handles::open(&self.path, self.cache_bytes) {
            Ok(fresh) => {
                *handles = Some(fresh);
                *closed_by = None;
                tracing::info!("the store was reopened after a failed write");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "reopening the store failed; trying again in {REOPEN_EVERY:?}");
                // Still full: say so. Otherwise keep answering with what
                // stopped the store; the log has the reopen's error.
                if matches!(e, StoreError::DiskFull(_)) || closed_by.is_none() {
                    *closed_by = Some(Cause::of(&e));
                }
                false
            }
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Option<Handles>> {
        self.handles.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Best-effort flush at shutdown, on handles that still work.
    pub(super) fn flush_at_close(&self) {
        let guard = self.read();
        if let Ok(h) = self.usable(&guard) {
            let _ = h.flush();
        }
    }
}

/// A mutex's value; a panic elsewhere left nothing half-done in these.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
