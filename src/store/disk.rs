//! Telling a full disk from other storage failures. A write that fails
//! with `ENOSPC` (no space left) or `EDQUOT` (quota exceeded) is not a bug
//! and not damage: the vault refuses with 503 and resumes by itself once a
//! later write succeeds. [`DiskState`] remembers whether the last write
//! failed that way, for `/v1/sys/health` and `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Linux `ENOSPC`.
const ENOSPC: i32 = 28;
/// Linux `EDQUOT`.
const EDQUOT: i32 = 122;

/// The message a disk-full failure carries through layers that keep only
/// text (the hint tells the operator what to do).
pub const DISK_FULL: &str = "disk full";

/// Whether `e` is a lack of space.
pub fn io_is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(ENOSPC) | Some(EDQUOT))
}

/// Whether anything in `e`'s source chain is a lack of space.
pub fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io_is_disk_full(io) {
                return true;
            }
        }
        if let Some(super::StoreError::DiskFull(_)) = err.downcast_ref::<super::StoreError>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// Whether the data directory's filesystem was full at the last write.
#[derive(Default)]
pub struct DiskState {
    full: AtomicBool,
    failures: AtomicU64,
    counter: OnceLock<prometheus::IntCounter>,
}

impl std::fmt::Debug for DiskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskState")
            .field("full", &self.is_full())
            .finish_non_exhaustive()
    }
}

impl DiskState {
    /// Counts every later disk-full failure in `counter` too.
    pub fn count_in(&self, counter: prometheus::IntCounter) {
        let _ = self.counter.set(counter);
    }

    /// A write failed for lack of space.
    pub fn failed(&self) {
        if !self.full.swap(true, Ordering::SeqCst) {
            tracing::error!(
                "disk full: free space on the data directory's filesystem; the vault resumes by itself"
            );
        }
        self.failures.fetch_add(1, Ordering::SeqCst);
        if let Some(c) = self.counter.get() {
            c.inc();
        }
    }

    /// A write succeeded: there is space again.
    pub fn succeeded(&self) {
        if self.full.swap(false, Ordering::SeqCst) {
            tracing::info!("writes succeed again after the disk was full");
        }
    }

    /// Whether the last write failed for lack of space.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }

    /// Disk-full failures so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_and_edquot_are_disk_full_anywhere_in_the_chain() {
        let io = std::io::Error::from_raw_os_error(ENOSPC);
        assert!(io_is_disk_full(&io));
        assert!(io_is_disk_full(&std::io::Error::from_raw_os_error(EDQUOT)));
        assert!(is_disk_full(&io));
        assert!(is_disk_full(&super::super::StoreError::DiskFull(
            "x".into()
        )));
        assert!(!is_disk_full(&std::io::Error::from_raw_os_error(5)));
    }

    #[test]
    fn the_state_clears_on_the_next_successful_write() {
        let state = DiskState::default();
        state.failed();
        assert!(state.is_full());
        state.succeeded();
        assert!(!state.is_full());
        assert_eq!(state.failures(), 1);
    }
}
