//! Anonymous denials under a flood: the per-address counting of
//! [`crate::audit::DenialThrottle`] and the summaries it hands back,
//! written here (the facade owns every audit write).

use std::sync::Arc;
use std::time::Instant;

use crate::audit::denials::{Summary, Verdict};
use crate::audit::AuditEvent;

use super::VaultService;

impl VaultService {
    /// Whether an anonymous denial from `source` is written one by one
    /// (`true`) or only counted; writes the summaries of windows found
    /// closed on the way.
    pub(super) async fn admit_denial(&self, source: &str) -> bool {
        let (verdict, closed) = self.denials.admit(source, Instant::now());
        self.write_summaries(closed).await;
        verdict == Verdict::Write
    }

    /// Writes the summary of every open window now, whether or not it has
    /// run its length: at shutdown (so no count is lost with the process)
    /// and through the test knob.
    pub async fn close_denial_windows(&self) {
        let all = self.denials.close_all();
        self.write_summaries(all).await;
    }

    /// Writes the summaries of the windows that have run their length.
    pub async fn close_expired_denial_windows(&self) {
        let closed = self.denials.close_expired(Instant::now());
        self.write_summaries(closed).await;
    }

    /// Closes expired windows every quarter window, forever (spawn it; a
    /// window's summary is written at most a quarter window after it
    /// closes, even if its address sends nothing more).
    pub async fn close_denial_windows_periodically(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.denials.window() / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.close_expired_denial_windows().await;
        }
    }

    /// Best effort, like the denials they stand for: a failure is logged
    /// with the counts, so the evidence is at least in the log.
    async fn write_summaries(&self, summaries: Vec<Summary>) {
        let window_secs = self.denials.window().as_secs();
        for s in summaries {
            let event =
                AuditEvent::auth_denied_summary(&s.source, s.count, s.window_start, window_secs);
            if let Err(e) = self.audit.append(event).await {
                tracing::error!(error = %e, source = %s.source, count = s.count, "cannot record a summary of denials in the audit trail");
            }
        }
    }
}
