//! Audit events: a closed set of actions, one constructor per kind.
//!
//! An [`AuditEvent`] is what a caller hands to [`super::AuditLog::append`];
//! the writer turns it into an [`AuditRecord`] by giving it a sequence
//! number and chaining it (`prev`, `hash`). Constructors are the only way to
//! build an event, so every field that reaches disk was chosen here: ids,
//! names, statuses and HMAC fingerprints, never a secret, so the trail can be
//! exported and read by anyone who audits the vault. Free-text inputs
//! (reasons, routes) are clipped to a few hundred bytes.
//!
//! - [`kinds`]: the closed vocabulary (actions, outcomes, details).
//! - [`context`]: where a request came from.
//! - `constructors`: one constructor per action.
//! - [`record`]: the sequenced, chained record and its hashed bytes.

mod constructors;
pub mod context;
pub mod kinds;
mod operator;
mod proxy;
pub mod record;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::auth::Principal;

pub use context::RequestContext;
pub use kinds::{AuditAction, CreateMethod, Detail, Details, Outcome, ReadKind, TokenSource};
pub use proxy::ProxyOutcome;
pub use record::AuditRecord;

/// Longest stored free-text value (reason, route, ids), in bytes.
const MAX_TEXT: usize = 200;
/// Actor recorded when nobody was authenticated.
pub const ANONYMOUS: &str = "anonymous";
/// Actor recorded for offline commands run by the operator on the host.
pub const OPERATOR: &str = "operator";
/// Actor recorded for the vault's own background work (refresh ahead,
/// keep-alive).
pub const SYSTEM: &str = "system";

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
    // The process's clock, so an event's time agrees with the token path's
    // (the same as the system clock outside test builds).
    crate::clock::now()
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
        let mut details = Details::new();
        if let Some(channel) = ctx.channel {
            details.insert("channel".into(), Detail::Text(channel.into()));
        }
        Self {
            time: now_rfc3339(),
            action,
            actor: clip(&actor),
            connection: None,
            outcome,
            details,
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

    /// The fingerprint detail, if any (indexed).
    pub fn fingerprint(&self) -> Option<&str> {
        match self.details.get("fingerprint") {
            Some(Detail::Text(t)) => Some(t),
            _ => None,
        }
    }
}
