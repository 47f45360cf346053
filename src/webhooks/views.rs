//! What the webhook routes take and answer: the create request, endpoint
//! views (URL redacted), the delivery log, and an expiring token notice.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::endpoint::Format;
use super::outbox::Attempt;

/// `POST /v1/webhooks`. No `Debug`: the URL may carry credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where to deliver: `https://...` (`http://` only with
    /// `webhooks.allow_http`). Stored sealed; shown redacted.
    pub url: String,
    /// Event types to receive, or `"*"` for all.
    pub events: Vec<String>,
    /// Free text for operators.
    #[serde(default)]
    pub description: Option<String>,
    /// `json` (default) or `slack`.
    #[serde(default)]
    pub format: Format,
}

/// An endpoint as admins see it: the URL redacted, never the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// The endpoint's id.
    pub id: String,
    /// The URL with user information and query replaced by `***`.
    pub url: String,
    /// Subscribed event types.
    pub events: Vec<String>,
    /// Free text.
    pub description: Option<String>,
    /// Body shape.
    pub format: Format,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Deliveries waiting or being retried.
    pub pending: usize,
    /// The error of the latest attempt, if it failed.
    pub last_error: Option<String>,
    /// Since when every attempt has failed (absent while delivering).
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
    /// True once it has been failing for over an hour.
    pub failing: bool,
}

/// A new endpoint and its signing secret (shown this once).
pub struct Created {
    /// The endpoint.
    pub view: EndpointView,
    /// `whsec_...`.
    pub secret: SecretString,
}

/// `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryLog {
    /// Recent attempts, newest first.
    pub attempts: Vec<Attempt>,
    /// Deliveries not finished yet.
    pub pending: Vec<PendingDelivery>,
}

/// A delivery not finished yet.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PendingDelivery {
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
}

/// How long before a service token's expiry `service_token.expiring` is
/// sent.
pub const EXPIRING_NOTICE_SECS: i64 = 24 * 3600;

/// A service token with a lifetime, as the expiry notice needs it (never
/// the token).
pub struct ExpiringToken {
    /// Its id (`tok_...`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it expires.
    pub expires_at: OffsetDateTime,
}
