//! `proxy_completed` events are written in batches, a little after the
//! answer, instead of one flush each.
//!
//! Nothing is acknowledged by a `proxy_completed` event: the caller already
//! has Zoho's answer, and the `proxy_request` event before it was durable
//! before Zoho was called. Written as soon as the answer is out, each
//! completion's flush is under way just when the caller's next request
//! arrives, and that request's `proxy_request` queues behind it: two
//! flushes in series per call for a caller that sends one at a time. So
//! completions wait here and are written together [`LINGER`] after the
//! first of them, or at once when [`BATCH`] are waiting, and in any case
//! before the trail is read, before a seal and at shutdown.
//!
//! A crash in that window loses the completions waiting here, never a
//! `proxy_request`: the trail then shows the request without its outcome.

use std::sync::Mutex;
use std::time::Duration;

use crate::audit::AuditEvent;

/// The longest a completion waits before it is written.
pub(super) const LINGER: Duration = Duration::from_millis(20);

/// Completions written at once without waiting for [`LINGER`].
pub(super) const BATCH: usize = 256;

/// What [`Completions::push`] asks of its caller.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Queued {
    /// The first one waiting: write them all after [`LINGER`].
    First,
    /// [`BATCH`] are waiting: write them all now.
    Full,
    /// A write is already scheduled.
    Waiting,
}

/// Completions waiting to be written, oldest first.
#[derive(Default)]
pub(super) struct Completions {
    queued: Mutex<Vec<AuditEvent>>,
}

impl Completions {
    /// Queues `event` and says what write to schedule.
    pub(super) fn push(&self, event: AuditEvent) -> Queued {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        queued.push(event);
        match queued.len() {
            1 => Queued::First,
            n if n >= BATCH => Queued::Full,
            _ => Queued::Waiting,
        }
    }

    /// Everything queued, in order, leaving the queue empty.
    pub(super) fn take(&self) -> Vec<AuditEvent> {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::RequestContext;

    fn event(n: u64) -> AuditEvent {
        let ctx = RequestContext {
            request_id: Some(format!("req-{n}")),
            source: None,
            channel: None,
        };
        let admin = crate::auth::Principal {
            token_id: "adm_test".into(),
            name: "admin".into(),
            kind: crate::crypto::token::TokenKind::Admin,
            connections: Vec::new(),
            access: crate::auth::TokenAccess::Token,
            proxy_paths: Vec::new(),
        };
        AuditEvent::audit_read(&admin, crate::audit::ReadKind::Query, None, &ctx)
    }

    #[test]
    fn the_first_completion_asks_for_a_write_and_take_empties_in_order() {
        let c = Completions::default();
        assert_eq!(c.push(event(1)), Queued::First);
        assert_eq!(c.push(event(2)), Queued::Waiting, "already scheduled");
        let taken = c.take();
        let ids: Vec<_> = taken.iter().map(|e| e.request_id.clone()).collect();
        assert_eq!(ids, [Some("req-1".into()), Some("req-2".into())]);
        assert!(c.take().is_empty());
        assert_eq!(c.push(event(3)), Queued::First, "empty again");
    }

    #[test]
    fn a_full_batch_asks_to_be_written_at_once() {
        let c = Completions::default();
        let pushed: Vec<Queued> = (0..BATCH as u64).map(|n| c.push(event(n))).collect();
        assert_eq!(pushed.last(), Some(&Queued::Full));
        assert_eq!(c.take().len(), BATCH);
    }
}
