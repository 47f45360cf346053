//! Constructors for the operator-facing events: the vault's creation,
//! refused admin actions, and the per-address summary of denials.

use time::OffsetDateTime;

use super::{rfc3339, AuditAction, AuditEvent, Outcome, RequestContext, ANONYMOUS, OPERATOR};
use crate::auth::Principal;

impl AuditEvent {
    /// The vault was created by the operator on the host (`init`, or
    /// `serve --init`): the first event of every trail.
    pub fn vault_initialized(ctx: &RequestContext) -> Self {
        Self::new(
            AuditAction::VaultInitialized,
            OPERATOR.into(),
            Outcome::Success,
            ctx,
        )
    }

    /// `actor` attempted `action` (e.g. `connection_created`) and was
    /// refused with `status` and error `code`; `connection` is the
    /// connection's name when the request named a valid one. The event
    /// has the action that was attempted, outcome `failure`.
    pub fn admin_refused(
        action: AuditAction,
        actor: &Principal,
        connection: Option<&str>,
        status: u16,
        code: &str,
        ctx: &RequestContext,
    ) -> Self {
        let event = Self::new(action, actor.actor(), Outcome::Failure, ctx)
            .by(actor)
            .int("status", i64::from(status))
            .text("error", code);
        match connection {
            Some(name) => event.connection(name),
            None => event,
        }
    }

    /// `count` denials (401/403) from `source` were counted, not written,
    /// in the window that began at `window_start` and lasts `window_secs`
    /// seconds (the first few of the window were written as
    /// `access_denied`).
    pub fn auth_denied_summary(
        source: &str,
        count: u64,
        window_start: OffsetDateTime,
        window_secs: u64,
    ) -> Self {
        let ctx = RequestContext {
            request_id: None,
            source: Some(source.to_string()),
            channel: None,
        };
        Self::new(
            AuditAction::AuthDeniedSummary,
            ANONYMOUS.into(),
            Outcome::Denied,
            &ctx,
        )
        .int("count", i64::try_from(count).unwrap_or(i64::MAX))
        .text("window_start", &rfc3339(window_start))
        .int(
            "window_secs",
            i64::try_from(window_secs).unwrap_or(i64::MAX),
        )
    }
}
