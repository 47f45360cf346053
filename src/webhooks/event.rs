//! Event types and the payload every receiver gets:
//! `{"type", "timestamp", "data"}`. Data never holds a secret, a token or a
//! fingerprint of one: connection events carry the name, the state, the
//! previous state, the last error's code and message and the fix as data.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::model::connection::{HealthState, LastError};
use crate::model::Fix;

/// What happened. The wire names are part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A connection was created (uploaded, imported or authorized).
    #[serde(rename = "connection.created")]
    ConnectionCreated,
    /// A connection was deleted.
    #[serde(rename = "connection.deleted")]
    ConnectionDeleted,
    /// A connection's refresh token or client stopped working.
    #[serde(rename = "connection.needs_reauth")]
    ConnectionNeedsReauth,
    /// Zoho throttled a connection's refresh.
    #[serde(rename = "connection.throttled")]
    ConnectionThrottled,
    /// A connection's refresh failed transiently.
    #[serde(rename = "connection.degraded")]
    ConnectionDegraded,
    /// A connection is active again after any other state.
    #[serde(rename = "connection.recovered")]
    ConnectionRecovered,
    /// A service token with a lifetime has under 24 hours left.
    #[serde(rename = "service_token.expiring")]
    ServiceTokenExpiring,
    /// The audit trail could not be written for a while (sent once it
    /// works again).
    #[serde(rename = "audit.unavailable")]
    AuditUnavailable,
    /// Sent on demand, to try an endpoint.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 9] = [
        EventType::ConnectionCreated,
        EventType::ConnectionDeleted,
        EventType::ConnectionNeedsReauth,
        EventType::ConnectionThrottled,
        EventType::ConnectionDegraded,
        EventType::ConnectionRecovered,
        EventType::ServiceTokenExpiring,
        EventType::AuditUnavailable,
        EventType::WebhookTest,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConnectionCreated => "connection.created",
            EventType::ConnectionDeleted => "connection.deleted",
            EventType::ConnectionNeedsReauth => "connection.needs_reauth",
            EventType::ConnectionThrottled => "connection.throttled",
            EventType::ConnectionDegraded => "connection.degraded",
            EventType::ConnectionRecovered => "connection.recovered",
            EventType::ServiceTokenExpiring => "service_token.expiring",
            EventType::AuditUnavailable => "audit.unavailable",
            EventType::WebhookTest => "webhook.test",
        }
    }

    /// The type with this wire name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The event a connection's move into `state` announces, if any.
    pub fn for_state(state: HealthState) -> Option<EventType> {
        match state {
            HealthState::NeedsReauth => Some(EventType::ConnectionNeedsReauth),
            HealthState::Throttled => Some(EventType::ConnectionThrottled),
            HealthState::Degraded => Some(EventType::ConnectionDegraded),
            HealthState::Active => Some(EventType::ConnectionRecovered),
            HealthState::PendingAuthorization => None,
        }
    }
}

/// One event, as kept in the outbox until every subscribed endpoint has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id: the `webhook-id` header on every attempt. Time ordered
    /// (the creation time in hex, then random bits), so the outbox drains
    /// oldest first.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What about (never a secret).
    pub data: Value,
}

impl Event {
    /// A new event with a fresh id.
    pub fn new(kind: EventType, at: OffsetDateTime, data: Value) -> Self {
        let nanos = u64::try_from(at.unix_timestamp_nanos()).unwrap_or(0);
        let id = format!("msg_{nanos:016x}{:016x}", rand::thread_rng().next_u64());
        Self { id, kind, at, data }
    }

    /// A connection event: the name, the state it is in now and the one
    /// before, the last error's code and message, the fix as data.
    pub fn connection(
        kind: EventType,
        at: OffsetDateTime,
        connection: &str,
        state: Option<HealthState>,
        previous: Option<HealthState>,
        last_error: Option<&LastError>,
        fix: Option<&Fix>,
    ) -> Self {
        let data = json!({
            "connection": connection,
            "state": state.map(HealthState::as_str),
            "previous_state": previous.map(HealthState::as_str),
            "error_code": last_error.map(|e| e.code.as_str()),
            "error_message": last_error.map(|e| e.message.as_str()),
            "fix": fix,
        });
        Self::new(kind, at, data)
    }

    /// The JSON body receivers get: `{"type", "timestamp", "data"}`.
    pub fn body(&self) -> Vec<u8> {
        let body = json!({
            "type": self.kind.as_str(),
            "timestamp": rfc3339(self.at),
            "data": self.data,
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The body for a Slack incoming webhook: `{"text": ...}` with one
    /// readable line (Slack ignores the signature headers).
    pub fn slack_body(&self) -> Vec<u8> {
        let d = &self.data;
        let field = |k: &str| d.get(k).and_then(Value::as_str);
        let mut text = format!("zoho-vault: {}", self.kind.as_str());
        if let Some(c) = field("connection") {
            text.push_str(&format!(" — connection `{c}`"));
        }
        if let (Some(prev), Some(now)) = (field("previous_state"), field("state")) {
            text.push_str(&format!(" ({prev} → {now})"));
        }
        if let Some(code) = field("error_code") {
            text.push_str(&format!(": {code}"));
        }
        if let Some(msg) = field("error_message") {
            text.push_str(&format!(" — {msg}"));
        }
        if let Some(fix) = d
            .get("fix")
            .and_then(|f| f.get("code"))
            .and_then(Value::as_str)
        {
            text.push_str(&format!(" (fix: {fix})"));
        }
        if let Some(name) = field("name") {
            text.push_str(&format!(" `{name}`"));
        }
        serde_json::to_vec(&json!({ "text": text })).unwrap_or_default()
    }
}

/// RFC 3339 text of a timestamp.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Checks a subscription list: known types or `*`, at least one.
pub fn parse_subscription(events: &[String]) -> Result<Vec<String>, String> {
    if events.is_empty() {
        return Err("`events` must name at least one event type (or \"*\" for all)".into());
    }
    let mut out = Vec::new();
    for e in events {
        let e = e.trim();
        if e != "*" && EventType::parse(e).is_none() {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            return Err(format!(
                "unknown event type `{e}`; known: {} or \"*\"",
                known.join(", ")
            ));
        }
        if !out.iter().any(|o| o == e) {
            out.push(e.to_string());
        }
    }
    Ok(out)
}

/// Whether a subscription list takes events of `kind`. A test event goes
/// only to the endpoint it was sent for, never through subscriptions.
pub fn subscribed(events: &[String], kind: EventType) -> bool {
    kind != EventType::WebhookTest && events.iter().any(|e| e == "*" || e == kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_has_type_timestamp_and_data_only() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("test value");
        let e = Event::connection(
            EventType::ConnectionNeedsReauth,
            at,
            "acme",
            Some(HealthState::NeedsReauth),
            Some(HealthState::Active),
            None,
            None,
        );
        let body: Value = serde_json::from_slice(&e.body()).expect("test value");
        assert_eq!(body["type"], "connection.needs_reauth");
        assert_eq!(body["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(body["data"]["connection"], "acme");
        assert_eq!(body["data"]["previous_state"], "active");
        assert_eq!(body.as_object().expect("test value").len(), 3);
    }

    #[test]
    fn subscriptions_accept_known_types_and_the_wildcard_only() {
        assert!(parse_subscription(&["connection.needs_reauth".into(), "*".into()]).is_ok());
        assert!(parse_subscription(&["connection.exploded".into()]).is_err());
        assert!(parse_subscription(&[]).is_err());
        assert!(subscribed(&["*".into()], EventType::ConnectionDeleted));
        assert!(!subscribed(&["*".into()], EventType::WebhookTest));
        assert!(!subscribed(
            &["connection.created".into()],
            EventType::ConnectionDeleted
        ));
    }

    #[test]
    fn event_ids_sort_by_creation_time() {
        let a = Event::new(
            EventType::WebhookTest,
            OffsetDateTime::from_unix_timestamp(1).expect("test value"),
            Value::Null,
        );
        let b = Event::new(
            EventType::WebhookTest,
            OffsetDateTime::from_unix_timestamp(2).expect("test value"),
            Value::Null,
        );
        assert!(a.id < b.id);
    }
}
