//! Audit events: a closed set of actions, one constructor per kind.
//!
//! An [`AuditEvent`] is what a caller hands to [`super::AuditLog::append`];
//! the writer turns it into an [`AuditRecord`] by giving it a sequence
//! number and chaining it (`prev`, `hash`). Constructors are the only way to
//! build an event, so every field that reaches disk was chosen here: ids,
//! names, statuses and HMAC fingerprints, never a secret. Free-text inputs (reasons, routes) are clipped to a few hundred bytes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::auth::Principal;

/// Longest stored free-text value (reason, route, ids), in bytes.
const MAX_TEXT: usize = 200;
/// Actor recorded when nobody was authenticated.
pub const ANONYMOUS: &str = "anonymous";
/// Actor recorded for offline commands run by the operator on the host.
pub const OPERATOR: &str = "operator";
/// Actor recorded for the vault's own background work (refresh ahead,
/// keep-alive).
pub const SYSTEM: &str = "system";

/// What happened. WARNING: the snake_case names are stored, indexed and
/// hashed; never rename a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// An access token was handed to a caller.
    TokenIssued,
    /// A request was refused with 401 or 403.
    AccessDenied,
    /// An unseal attempt (success or failure).
    Unseal,
    /// The vault was sealed.
    Seal,
    /// The passphrase was changed.
    Rekey,
    /// A connection was created (code exchange, import or redirect flow).
    ConnectionCreated,
    /// A connection's access token was refreshed at Zoho.
    ConnectionRefreshed,
    /// Zoho refused the refresh token; the connection needs re-authorisation.
    ConnectionNeedsReauth,
    /// A connection was deleted.
    ConnectionDeleted,
    /// A service token was created.
    ServiceTokenCreated,
    /// A service token was revoked.
    ServiceTokenRevoked,
    /// The audit trail was read (query, verify, export, fingerprint lookup).
    AuditRead,
    /// A prefix of the audit trail was pruned after an export.
    AuditPruned,
    /// An admin token was created.
    AdminTokenCreated,
    /// An admin token was revoked.
    AdminTokenRevoked,
    /// A backup of the store was taken (online, or offline by the operator).
    BackupTaken,
}

impl AuditAction {
    /// Every action, for parsing and docs.
    pub const ALL: [AuditAction; 16] = [
        AuditAction::TokenIssued,
        AuditAction::AccessDenied,
        AuditAction::Unseal,
        AuditAction::Seal,
        AuditAction::Rekey,
        AuditAction::ConnectionCreated,
        AuditAction::ConnectionRefreshed,
        AuditAction::ConnectionNeedsReauth,
        AuditAction::ConnectionDeleted,
        AuditAction::ServiceTokenCreated,
        AuditAction::ServiceTokenRevoked,
        AuditAction::AuditRead,
        AuditAction::AuditPruned,
        AuditAction::AdminTokenCreated,
        AuditAction::AdminTokenRevoked,
        AuditAction::BackupTaken,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::TokenIssued => "token_issued",
            AuditAction::AccessDenied => "access_denied",
            AuditAction::Unseal => "unseal",
            AuditAction::Seal => "seal",
            AuditAction::Rekey => "rekey",
            AuditAction::ConnectionCreated => "connection_created",
            AuditAction::ConnectionRefreshed => "connection_refreshed",
            AuditAction::ConnectionNeedsReauth => "connection_needs_reauth",
            AuditAction::ConnectionDeleted => "connection_deleted",
            AuditAction::ServiceTokenCreated => "service_token_created",
            AuditAction::ServiceTokenRevoked => "service_token_revoked",
            AuditAction::AuditRead => "audit_read",
            AuditAction::AuditPruned => "audit_pruned",
            AuditAction::AdminTokenCreated => "admin_token_created",
            AuditAction::AdminTokenRevoked => "admin_token_revoked",
            AuditAction::BackupTaken => "backup_taken",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Tried and failed (wrong passphrase, upstream refusal).
    Failure,
    /// Refused by authorisation (401/403).
    Denied,
}

/// One detail value: small and typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Detail {
    /// A flag.
    Bool(bool),
    /// A count, status code or sequence number.
    Int(i64),
    /// A short text (ids, names, RFC 3339 times, fingerprints).
    Text(String),
}

/// The details of an event, sorted by key (so the canonical bytes are
/// stable).
pub type Details = BTreeMap<String, Detail>;

/// Where a request came from; both fields are optional because offline
/// commands have neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id (from `X-Request-Id` when well-formed, else generated).
    pub request_id: Option<String>,
    /// The client's IP address (the TCP peer; forwarding headers are not
    /// trusted).
    pub source: Option<String>,
}

impl RequestContext {
    /// A context for commands run on the host (no request, no peer).
    pub fn local() -> Self {
        Self::default()
    }
}

/// How a connection was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMethod {
    /// A self-client code was exchanged.
    Exchange,
    /// An existing refresh token was imported.
    Import,
    /// The browser redirect flow finished.
    Redirect,
}

/// Where an issued access token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The shared cached token was still valid.
    Cached,
    /// The token was refreshed at Zoho for this request.
    Refreshed,
}

/// What kind of audit read happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// `GET /v1/audit`.
    Query,
    /// `GET /v1/audit/verify` or `POST /v1/audit/verify-export`.
    Verify,
    /// `GET /v1/audit/export`.
    Export,
    /// `POST /v1/audit/fingerprint`.
    Fingerprint,
}

impl ReadKind {
    fn as_str(self) -> &'static str {
        match self {
            ReadKind::Query => "query",
            ReadKind::Verify => "verify",
            ReadKind::Export => "export",
            ReadKind::Fingerprint => "fingerprint",
        }
    }
}

/// An event before it is sequenced and chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// When it happened (RFC 3339, UTC).
    pub time: String,
    /// What happened.
    pub action: AuditAction,
    /// Who: `admin:<id>`, `service:<id>`, `anonymous` or `operator`.
    pub actor: String,
    /// The connection concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Action-specific details.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: Details,
    /// The request id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client IP, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Clips free text to [`MAX_TEXT`] bytes on a character boundary.
fn clip(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Keeps a value only if it looks like `Keyring::fingerprint` output
/// (`fp_` + 32 hex digits), so a token passed by mistake never lands in the
/// trail.
fn checked_fingerprint(fp: &str) -> String {
    let ok = fp.len() == 35
        && fp.starts_with("fp_")
        && fp[3..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        fp.to_string()
    } else {
        tracing::error!("an audit event was given something that is not a fingerprint; dropped");
        "invalid".into()
    }
}

impl AuditEvent {
    fn new(action: AuditAction, actor: String, outcome: Outcome, ctx: &RequestContext) -> Self {
        Self {
            time: now_rfc3339(),
            action,
            actor: clip(&actor),
            connection: None,
            outcome,
            details: Details::new(),
            request_id: ctx.request_id.as_deref().map(clip),
            source: ctx.source.as_deref().map(clip),
        }
    }

    fn connection(mut self, name: &str) -> Self {
        self.connection = Some(clip(name));
        self
    }

    fn text(mut self, key: &str, value: &str) -> Self {
        self.details.insert(key.into(), Detail::Text(clip(value)));
        self
    }

    fn flag(mut self, key: &str, value: bool) -> Self {
        self.details.insert(key.into(), Detail::Bool(value));
        self
    }

    fn int(mut self, key: &str, value: i64) -> Self {
        self.details.insert(key.into(), Detail::Int(value));
        self
    }

    fn by(self, who: &Principal) -> Self {
        self.text("actor_name", &who.name)
    }

    /// An access token for `connection` was handed to `actor`. Append it
    /// (and await the append) BEFORE returning the token: if the append
    /// fails, answer 503 and hand nothing out (no audit, no token).
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
    pub fn access_denied(
        status: u16,
        reason: &str,
        actor: Option<&Principal>,
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

    /// The fingerprint detail, if any (indexed).
    pub fn fingerprint(&self) -> Option<&str> {
        match self.details.get("fingerprint") {
            Some(Detail::Text(t)) => Some(t),
            _ => None,
        }
    }
}

/// A stored, chained event: the JSON line of exports and query answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the trail, from 1, without gaps.
    pub seq: u64,
    /// When it happened (RFC 3339, UTC).
    pub time: String,
    /// What happened.
    pub action: AuditAction,
    /// Who.
    pub actor: String,
    /// The connection concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Action-specific details.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, Detail>)]
    pub details: Details,
    /// The request id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client IP, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `hash` of the previous record (64 zeros for the first, or the
    /// checkpoint's hash after a prune), hex.
    pub prev: String,
    /// HMAC-SHA256 under the audit key of the record's canonical bytes
    /// (everything but `hash`), hex.
    pub hash: String,
}

/// The hashed part of a record: every field but `hash`, in a fixed order.
#[derive(Serialize)]
pub(crate) struct Unhashed<'a> {
    seq: u64,
    time: &'a str,
    action: AuditAction,
    actor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<&'a str>,
    outcome: Outcome,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    details: &'a Details,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    prev: &'a str,
}

impl AuditRecord {
    /// An unhashed record for `event` at `seq` after `prev`.
    pub(crate) fn unhashed(seq: u64, event: AuditEvent, prev: String) -> Self {
        Self {
            seq,
            time: event.time,
            action: event.action,
            actor: event.actor,
            connection: event.connection,
            outcome: event.outcome,
            details: event.details,
            request_id: event.request_id,
            source: event.source,
            prev,
            hash: String::new(),
        }
    }

    pub(crate) fn hashed_part(&self) -> Unhashed<'_> {
        Unhashed {
            seq: self.seq,
            time: &self.time,
            action: self.action,
            actor: &self.actor,
            connection: self.connection.as_deref(),
            outcome: self.outcome,
            details: &self.details,
            request_id: self.request_id.as_deref(),
            source: self.source.as_deref(),
            prev: &self.prev,
        }
    }

    /// The fingerprint detail, if any (indexed).
    pub fn fingerprint(&self) -> Option<&str> {
        match self.details.get("fingerprint") {
            Some(Detail::Text(t)) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::token::TokenKind;

    fn admin() -> Principal {
        Principal {
            token_id: "abc123".into(),
            name: "ops".into(),
            kind: TokenKind::Admin,
            connections: vec![],
        }
    }

    #[test]
    fn action_names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
            let json = serde_json::to_string(&a).expect("json");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
    }

    #[test]
    fn a_token_passed_as_fingerprint_is_not_stored() {
        let ctx = RequestContext::default();
        let good = "fp_0123456789abcdef0123456789abcdef";
        let e = AuditEvent::token_issued(
            &admin(),
            "acme",
            TokenSource::Cached,
            OffsetDateTime::now_utc(),
            good,
            &ctx,
        );
        assert_eq!(e.fingerprint(), Some(good));
        let json = serde_json::to_string(&e).expect("json");
        assert!(json.len() < 400, "{json}");
        let leaked = "zvs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let e = AuditEvent::token_issued(
            &admin(),
            "acme",
            TokenSource::Refreshed,
            OffsetDateTime::now_utc(),
            leaked,
            &ctx,
        );
        assert_eq!(e.fingerprint(), Some("invalid"));
        assert!(!serde_json::to_string(&e).expect("json").contains(leaked));
    }

    #[test]
    fn free_text_is_clipped() {
        let long = "é".repeat(500);
        let e = AuditEvent::access_denied(401, &long, None, "/x", &RequestContext::default());
        match e.details.get("reason") {
            Some(Detail::Text(t)) => assert!(t.len() <= MAX_TEXT),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.actor, ANONYMOUS);
        assert_eq!(e.outcome, Outcome::Denied);
    }
}
