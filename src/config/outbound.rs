//! Settings of the vault's outbound features: the proxy to Zoho's APIs and
//! the webhooks it sends.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The proxy `ANY /v1/proxy/{name}/{path...}` (see docs/http-api.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    /// Largest request or response body the proxy passes, in bytes
    /// (`proxy.max_body_bytes`); a larger request answers 413.
    pub max_body_bytes: u64,
    /// How long Zoho may take to answer, in milliseconds
    /// (`proxy.timeout_ms`); then 504.
    pub timeout_ms: u64,
    /// Requests in flight to Zoho per connection
    /// (`proxy.max_concurrent_per_connection`); Zoho's own per-organization
    /// concurrency ceiling is of this order.
    pub max_concurrent_per_connection: u32,
    /// How long a request over that cap waits for a free place before 429,
    /// in milliseconds (`proxy.queue_wait_ms`).
    pub queue_wait_ms: u64,
    /// Request bodies up to this size are buffered so the request can be
    /// retried once after Zoho refuses a dead access token
    /// (`proxy.replay_limit_bytes`); larger ones are streamed, not retried.
    pub replay_limit_bytes: u64,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            timeout_ms: 30_000,
            max_concurrent_per_connection: 10,
            queue_wait_ms: 2_000,
            replay_limit_bytes: 1024 * 1024,
        }
    }
}

/// Outgoing webhooks (`webhooks.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Accept `http://` endpoint URLs (`webhooks.allow_http`,
    /// `ZOHO_VAULT_WEBHOOKS__ALLOW_HTTP`). For tests and receivers on the
    /// same host only: the payload and signature then travel in the clear.
    pub allow_http: bool,
    /// Whole-request timeout of one delivery, in milliseconds
    /// (`webhooks.timeout_ms`, `ZOHO_VAULT_WEBHOOKS__TIMEOUT_MS`); only a
    /// 2xx answer within it counts as delivered.
    pub timeout_ms: u64,
    /// How long an event is retried before it is marked failed
    /// (`webhooks.max_age`, `ZOHO_VAULT_WEBHOOKS__MAX_AGE`): whole seconds
    /// or a duration such as `"24h"` or `"90m"`. Unset: 24 h. Read it with
    /// [`WebhookSettings::max_age`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Age>,
    /// Deprecated alias of `max_age`, in seconds (`webhooks.max_age_secs`,
    /// `ZOHO_VAULT_WEBHOOKS__MAX_AGE_SECS`); setting both is an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
    /// How often the delivery worker looks for due deliveries, in
    /// milliseconds (`webhooks.poll_ms`, `ZOHO_VAULT_WEBHOOKS__POLL_MS`).
    pub poll_ms: u64,
    /// Deliveries in flight at once per endpoint
    /// (`webhooks.per_endpoint_concurrency`), so a hanging receiver holds
    /// at most this many and never the others.
    pub per_endpoint_concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_http: false,
            timeout_ms: 10_000,
            max_age: None,
            max_age_secs: None,
            poll_ms: 1_000,
            per_endpoint_concurrency: 4,
        }
    }
}

/// How long an event is retried when `webhooks.max_age` is not set.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

impl WebhookSettings {
    /// How long an event is retried before it is marked failed:
    /// `max_age`, else the deprecated `max_age_secs`, else 24 h.
    pub fn max_age(&self) -> Duration {
        match (self.max_age, self.max_age_secs) {
            (Some(age), _) => age.0,
            (None, Some(secs)) => Duration::from_secs(secs),
            (None, None) => DEFAULT_MAX_AGE,
        }
    }

    /// Refuses settings that say one thing twice.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.max_age.is_some() && self.max_age_secs.is_some() {
            return Err(
                "`webhooks.max_age` and its deprecated alias `webhooks.max_age_secs` \
                 (ZOHO_VAULT_WEBHOOKS__MAX_AGE / ZOHO_VAULT_WEBHOOKS__MAX_AGE_SECS) are both set: \
                 keep only `webhooks.max_age`"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A length of time given as whole seconds (`86400`) or as a duration
/// string (`"24h"`, `"90m"`, `"1h 30m"`, read by `humantime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(pub Duration);

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Secs(u64),
            Text(String),
        }
        match Given::deserialize(d)? {
            Given::Secs(secs) => Ok(Self(Duration::from_secs(secs))),
            Given::Text(text) => {
                let text = text.trim();
                if let Ok(secs) = text.parse::<u64>() {
                    return Ok(Self(Duration::from_secs(secs)));
                }
                humantime::parse_duration(text).map(Self).map_err(|e| {
                    serde::de::Error::custom(format!(
                        "`{text}` is not a duration: give whole seconds (86400) or a duration such as \"24h\" or \"90m\" ({e})"
                    ))
                })
            }
        }
    }
}

impl Serialize for Age {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}
