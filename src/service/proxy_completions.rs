//! `proxy_completed` events wait to be written behind the next proxied
//! call's `proxy_request` instead of in front of it.
//!
//! Nothing is acknowledged by a `proxy_completed` event: the caller already
//! has Zoho's answer, and the `proxy_request` event before it was durable
//! before Zoho was called. Written as soon as the answer is out, each
//! completion's flush is under way just when the caller's next request
//! arrives, and that request's `proxy_request` queues behind it: two
//! flushes per call for a caller that sends one at a time. So a completion
//! waits here until the next `proxy_request` is durable and is then written
//! while that call is with Zoho (at high concurrency, in one batch with
//! other calls' events); or until the trail is read or the vault sealed or
//! stopped; or at most [`LINGER`].
//!
//! A crash in that window loses the completions waiting here, never a
//! `proxy_request`: the trail then shows the request without its outcome.

use std::sync::Mutex;
use std::time::Duration;

use crate::audit::AuditEvent;

/// The longest a completion waits for a write to ride with.
pub(super) const LINGER: Duration = Duration::from_millis(20);

/// Completions waiting to be written, oldest first.
#[derive(Default)]
pub(super) struct Completions {
    queued: Mutex<Vec<AuditEvent>>,
}

impl Completions {
    /// Queues `event`. `true` when the queue was empty, i.e. no flush is
    /// scheduled yet: the caller schedules one after [`LINGER`].
    pub(super) fn push(&self, event: AuditEvent) -> bool {
        let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        queued.push(event);
        queued.len() == 1
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
    fn the_first_completion_asks_for_a_flush_and_take_empties_in_order() {
        let c = Completions::default();
        assert!(c.push(event(1)), "an empty queue needs a flush scheduled");
        assert!(!c.push(event(2)), "one is already scheduled");
        let taken = c.take();
        let ids: Vec<_> = taken.iter().map(|e| e.request_id.clone()).collect();
        assert_eq!(ids, [Some("req-1".into()), Some("req-2".into())]);
        assert!(c.take().is_empty());
        assert!(c.push(event(3)), "empty again: the next one schedules");
    }
}
