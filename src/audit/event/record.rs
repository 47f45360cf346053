//! The stored, chained record and the bytes its hash covers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AuditAction, AuditEvent, Detail, Details, Outcome};

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
