//! One constructor per action: the only way to build an [`AuditEvent`], so
//! every stored field is chosen here.

use time::OffsetDateTime;

use super::{
    checked_fingerprint, rfc3339, AuditAction, AuditEvent, CreateMethod, Outcome, ReadKind,
    RequestContext, TokenSource, ANONYMOUS, OPERATOR, SYSTEM,
};
use crate::auth::Principal;

impl AuditEvent {
    /// An access token for `connection` was handed to `actor`. Append it
    /// (and await the append) BEFORE returning the token: if the append
    /// fails, answer 503 and hand nothing out: no token leaves without its
    /// record.
    ///
    /// `fingerprint` is `Keyring::fingerprint(token)`, never the token
    /// itself; anything not shaped like `fp_<32 hex>` is stored as
    /// `invalid`. `source` says whether the shared cached token was served
    /// or a refresh happened; `expires_at` is the token's expiry.
    pub fn token_issued(
        actor: &Principal,
        connection: &str,
        source: TokenSource,
        expires_at: OffsetDateTime,
        fingerprint: &str,
        ctx: &RequestContext,
    ) -> Self {
        let source = match source {
            TokenSource::Cached => "cached",
            TokenSource::Refreshed => "refreshed",
        };
        Self::new(
            AuditAction::TokenIssued,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .connection(connection)
        .by(actor)
        .text("source", source)
        .text("expires_at", &rfc3339(expires_at))
        .text("fingerprint", &checked_fingerprint(fingerprint))
    }

    /// A request to `route` (path only, no query string) was refused with
    /// `status` (401 or 403) for `reason` (the error message, which never
    /// holds the presented token). `actor` is the principal when it was
    /// authenticated (403), else `None` (recorded as `anonymous`).
    /// `connection` is the connection the route names (a valid name only),
    /// so that filtering the trail by connection shows its denials too.
    pub fn access_denied(
        status: u16,
        reason: &str,
        actor: Option<&Principal>,
        connection: Option<&str>,
        route: &str,
        ctx: &RequestContext,
    ) -> Self {
        let who = actor.map_or_else(|| ANONYMOUS.to_string(), Principal::actor);
        let mut event = Self::new(AuditAction::AccessDenied, who, Outcome::Denied, ctx)
            .int("status", i64::from(status))
            .text("reason", reason)
            .text("route", route);
        if let Some(p) = actor {
            event = event.by(p);
        }
        if let Some(name) = connection {
            event = event.connection(name);
        }
        event
    }

    /// An unseal attempt: `failure` is `None` on success, else a short
    /// reason such as `wrong_passphrase`. While sealed these go to the
    /// pending tree and are chained at the next unseal.
    pub fn unseal(failure: Option<&str>, ctx: &RequestContext) -> Self {
        let outcome = if failure.is_some() {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let event = Self::new(AuditAction::Unseal, ANONYMOUS.into(), outcome, ctx);
        match failure {
            Some(reason) => event.text("reason", reason),
            None => event,
        }
    }

    /// The vault was sealed by `actor`.
    pub fn seal(actor: &Principal, ctx: &RequestContext) -> Self {
        Self::new(AuditAction::Seal, actor.actor(), Outcome::Success, ctx).by(actor)
    }

    /// The passphrase was changed (offline `zoho-vault rekey`, actor
    /// `operator`); `failure` as for [`AuditEvent::unseal`].
    pub fn rekey(failure: Option<&str>, ctx: &RequestContext) -> Self {
        let outcome = if failure.is_some() {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let event = Self::new(AuditAction::Rekey, OPERATOR.into(), outcome, ctx);
        match failure {
            Some(reason) => event.text("reason", reason),
            None => event,
        }
    }

    /// `actor` created `connection` by `method`; `data_center` is the data
    /// center name or accounts host (no secret).
    pub fn connection_created(
        actor: &Principal,
        connection: &str,
        method: CreateMethod,
        data_center: &str,
        ctx: &RequestContext,
    ) -> Self {
        let method = match method {
            CreateMethod::Exchange => "exchange",
            CreateMethod::Import => "import",
            CreateMethod::Redirect => "redirect",
        };
        Self::new(
            AuditAction::ConnectionCreated,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .connection(connection)
        .by(actor)
        .text("method", method)
        .text("data_center", data_center)
    }

    /// Marks a `connection_created` event as an upload over a connection
    /// that was in `previous` state (`needs_reauth`): its credentials were
    /// replaced in place (detail `replaced`).
    pub fn replacing(self, previous: &str) -> Self {
        self.text("replaced", previous)
    }

    /// `connection`'s access token was refreshed at Zoho (on behalf of
    /// `actor` when a request triggered it, by [`SYSTEM`] otherwise). `rotated` says whether Zoho
    /// sent a new refresh token (stored before anything was handed out).
    pub fn connection_refreshed(
        actor: Option<&Principal>,
        connection: &str,
        expires_at: OffsetDateTime,
        rotated: bool,
        ctx: &RequestContext,
    ) -> Self {
        let who = actor.map_or_else(|| SYSTEM.to_string(), Principal::actor);
        Self::new(AuditAction::ConnectionRefreshed, who, Outcome::Success, ctx)
            .connection(connection)
            .text("expires_at", &rfc3339(expires_at))
            .flag("refresh_token_rotated", rotated)
    }

    /// Zoho refused `connection`'s refresh token with `error_code` (e.g.
    /// `invalid_code`); the connection is now `needs_reauth`. `actor` is the
    /// caller whose request found out, or [`SYSTEM`] for background work.
    pub fn connection_needs_reauth(
        actor: Option<&Principal>,
        connection: &str,
        error_code: &str,
        ctx: &RequestContext,
    ) -> Self {
        let who = actor.map_or_else(|| SYSTEM.to_string(), Principal::actor);
        Self::new(
            AuditAction::ConnectionNeedsReauth,
            who,
            Outcome::Failure,
            ctx,
        )
        .connection(connection)
        .text("error", error_code)
    }

    /// `actor` deleted `connection`; `revoked_upstream` says whether the
    /// refresh token was revoked at Zoho first.
    pub fn connection_deleted(
        actor: &Principal,
        connection: &str,
        revoked_upstream: bool,
        ctx: &RequestContext,
    ) -> Self {
        Self::new(
            AuditAction::ConnectionDeleted,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .connection(connection)
        .by(actor)
        .flag("revoked_upstream", revoked_upstream)
    }

    /// `actor` created service token `token_id` named `name` for
    /// `connections` (never the token itself).
    pub fn service_token_created(
        actor: &Principal,
        token_id: &str,
        name: &str,
        connections: &[String],
        expires_at: Option<OffsetDateTime>,
        ctx: &RequestContext,
    ) -> Self {
        let mut event = Self::new(
            AuditAction::ServiceTokenCreated,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .by(actor)
        .text("token_id", token_id)
        .text("token_name", name)
        .text("connections", &connections.join(","));
        if let Some(t) = expires_at {
            event = event.text("expires_at", &rfc3339(t));
        }
        event
    }

    /// `actor` revoked service token `token_id`.
    pub fn service_token_revoked(actor: &Principal, token_id: &str, ctx: &RequestContext) -> Self {
        Self::new(
            AuditAction::ServiceTokenRevoked,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .by(actor)
        .text("token_id", token_id)
    }

    /// `actor` created admin token `token_id` named `name` (never the
    /// token itself).
    pub fn admin_token_created(
        actor: &Principal,
        token_id: &str,
        name: &str,
        expires_at: Option<OffsetDateTime>,
        ctx: &RequestContext,
    ) -> Self {
        let mut event = Self::new(
            AuditAction::AdminTokenCreated,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .by(actor)
        .text("token_id", token_id)
        .text("token_name", name);
        if let Some(t) = expires_at {
            event = event.text("expires_at", &rfc3339(t));
        }
        event
    }

    /// `actor` created webhook endpoint `id` (its URL redacted, never the
    /// secret).
    pub fn webhook_created(
        actor: &Principal,
        id: &str,
        url: &str,
        events: &[String],
        ctx: &RequestContext,
    ) -> Self {
        Self::new(
            AuditAction::WebhookCreated,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .by(actor)
        .text("webhook_id", id)
        .text("url", url)
        .text("events", &events.join(","))
    }

    /// `actor` deleted webhook endpoint `id`.
    pub fn webhook_deleted(actor: &Principal, id: &str, ctx: &RequestContext) -> Self {
        Self::new(
            AuditAction::WebhookDeleted,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .by(actor)
        .text("webhook_id", id)
    }

    /// `actor` revoked admin token `token_id`.
    pub fn admin_token_revoked(actor: &Principal, token_id: &str, ctx: &RequestContext) -> Self {
        Self::new(
            AuditAction::AdminTokenRevoked,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .by(actor)
        .text("token_id", token_id)
    }

    /// A backup of the store was taken: by `actor` through
    /// `GET /v1/sys/backup` (`mode` `online`), or by the operator on the
    /// host with `zoho-vault backup --offline` (`None`, recorded as
    /// [`OPERATOR`]; pending until the next unseal). Append it (and await
    /// the append) BEFORE the backup starts: no event, no backup.
    pub fn backup_taken(actor: Option<&Principal>, ctx: &RequestContext) -> Self {
        let (who, mode) = match actor {
            Some(p) => (p.actor(), "online"),
            None => (OPERATOR.to_string(), "offline"),
        };
        let event =
            Self::new(AuditAction::BackupTaken, who, Outcome::Success, ctx).text("mode", mode);
        match actor {
            Some(p) => event.by(p),
            None => event,
        }
    }

    /// `actor` read the trail. `filter` is a short description of the
    /// query (field names and values; no secrets can be queried for).
    pub fn audit_read(
        actor: &Principal,
        kind: ReadKind,
        filter: Option<&str>,
        ctx: &RequestContext,
    ) -> Self {
        let event = Self::new(AuditAction::AuditRead, actor.actor(), Outcome::Success, ctx)
            .by(actor)
            .text("kind", kind.as_str());
        match filter {
            Some(f) if !f.is_empty() => event.text("filter", f),
            _ => event,
        }
    }

    /// `actor` pruned every event up to `until_seq` (a checkpoint keeps
    /// the chain verifiable).
    pub fn audit_pruned(actor: &Principal, until_seq: u64, ctx: &RequestContext) -> Self {
        Self::new(
            AuditAction::AuditPruned,
            actor.actor(),
            Outcome::Success,
            ctx,
        )
        .by(actor)
        .int("until_seq", i64::try_from(until_seq).unwrap_or(i64::MAX))
    }
}
