//! The proxy's two events: the request, written before it leaves for Zoho,
//! and its outcome. Neither carries a body, a query value or a header
//! value: the method, the path without its query string, and numbers.

use super::{AuditAction, AuditEvent, Outcome, RequestContext};
use crate::auth::Principal;

/// What a finished proxied request did, for [`AuditEvent::proxy_completed`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyOutcome {
    /// The status the caller got (Zoho's, or the vault's own 4xx/5xx).
    pub status: u16,
    /// Whether Zoho answered (else the status is the vault's own).
    pub upstream_answered: bool,
    /// From the request's arrival to the answer's last byte.
    pub duration_ms: u64,
    /// Request body bytes sent to Zoho.
    pub request_bytes: u64,
    /// Response body bytes passed back.
    pub response_bytes: u64,
    /// Whether a dead-token 401 made the vault refresh and retry.
    pub retried: bool,
}

impl AuditEvent {
    /// `actor` is about to send `method path` (no query string) to
    /// connection `connection`'s Zoho API.
    pub fn proxy_request(
        actor: &Principal,
        connection: &str,
        method: &str,
        path: &str,
        ctx: &RequestContext,
    ) -> Self {
        Self::new(
            AuditAction::ProxyRequest,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .connection(connection)
        .by(actor)
        .text("method", method)
        .text("path", path)
    }

    /// The proxied request with the same request id ended as `outcome`
    /// says; a status of 400 or more is a failure.
    pub fn proxy_completed(
        actor: &Principal,
        connection: &str,
        outcome: ProxyOutcome,
        ctx: &RequestContext,
    ) -> Self {
        let result = if outcome.status < 400 {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self::new(AuditAction::ProxyCompleted, actor.actor(), result, ctx)
            .connection(connection)
            .by(actor)
            .int("status", i64::from(outcome.status))
            .flag("upstream", outcome.upstream_answered)
            .int("duration_ms", clamp(outcome.duration_ms))
            .int("request_bytes", clamp(outcome.request_bytes))
            .int("response_bytes", clamp(outcome.response_bytes))
            .flag("retried", outcome.retried)
    }
}
