//! Tracks a stretch of failed audit writes so that, once the trail can be
//! written again, one notice can say when it started, when it ended, how
//! many events (each a refused request) could not be written and why. The
//! notice cannot be recorded while it happens: the trail is what is down.

use std::sync::Mutex;

use time::OffsetDateTime;

/// One finished outage of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// The first failed write.
    pub started_at: OffsetDateTime,
    /// The first successful write after it.
    pub recovered_at: OffsetDateTime,
    /// Events that could not be written (each one a refused request).
    pub refused: u64,
    /// Why the first write failed: `disk_full`, `io` or `injected` (the
    /// test knob).
    pub reason: &'static str,
}

/// Who is told when an outage ends.
pub type OnRecovery = Box<dyn Fn(Outage) + Send + Sync>;

/// The outage in progress, if any.
#[derive(Default)]
pub(super) struct OutageTracker {
    open: Mutex<Option<(OffsetDateTime, u64, &'static str)>>,
}

impl OutageTracker {
    /// A batch of `events` could not be written.
    pub(super) fn failed(&self, events: usize, reason: &'static str) {
        if let Ok(mut open) = self.open.lock() {
            let entry = open.get_or_insert((crate::clock::now(), 0, reason));
            entry.1 += events as u64;
        }
    }

    /// A write worked: the finished outage, if one was open.
    pub(super) fn succeeded(&self) -> Option<Outage> {
        let (started_at, refused, reason) = self.open.lock().ok()?.take()?;
        Some(Outage {
            started_at,
            recovered_at: crate::clock::now(),
            refused,
            reason,
        })
    }
}
