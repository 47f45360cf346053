//! Stored connection records, their health, the cached access token, and
//! the public (secret-free) view of a connection.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::records::{SealedRecord, SealedSecret};
use crate::store::Tree;
use crate::zoho::DataCenter;

use super::fix::Fix;

/// A connection's health, as shown to admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Refreshes work.
    Active,
    /// The last refresh failed transiently (network, timeout, 5xx).
    Degraded,
    /// Zoho throttled the last refresh; the vault waits before trying again.
    Throttled,
    /// The refresh token is dead or the client credentials are wrong: an
    /// admin must act (`fix` says how).
    NeedsReauth,
    /// Created for the browser redirect flow and not authorized yet: there
    /// is no refresh token until someone opens the authorization link and
    /// accepts (`fix` says how).
    PendingAuthorization,
}

impl HealthState {
    /// Every state, for metrics.
    pub const ALL: [HealthState; 5] = [
        HealthState::Active,
        HealthState::Degraded,
        HealthState::Throttled,
        HealthState::NeedsReauth,
        HealthState::PendingAuthorization,
    ];

    /// The state's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Active => "active",
            HealthState::Degraded => "degraded",
            HealthState::Throttled => "throttled",
            HealthState::NeedsReauth => "needs_reauth",
            HealthState::PendingAuthorization => "pending_authorization",
        }
    }
}

/// The last failure seen for a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastError {
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Stable error code, as in the HTTP error shape.
    pub code: String,
    /// What happened (never a secret).
    pub message: String,
}

/// Health and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ConnectionHealth)]
pub struct Health {
    /// Current state.
    pub state: HealthState,
    /// Last successful exchange or refresh.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_success_at: Option<OffsetDateTime>,
    /// Last failure, if any since the last success.
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// The exact fix for the admin, in words, when one is needed. The
    /// HTTP API fills it from `action` when it answers; records written by
    /// earlier releases hold their own text here.
    #[serde(default)]
    pub fix: Option<String>,
    /// The same fix as data (the `fix` object of the error body). Added
    /// after the first release: absent in older records, and a code this
    /// release does not know reads as none.
    #[serde(
        default,
        deserialize_with = "Fix::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub action: Option<Fix>,
    /// While throttled: no refresh is attempted before this moment.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub throttled_until: Option<OffsetDateTime>,
}

impl Health {
    /// Healthy as of `now`.
    pub fn active(now: OffsetDateTime) -> Self {
        Self {
            state: HealthState::Active,
            last_success_at: Some(now),
            last_error: None,
            fix: None,
            action: None,
            throttled_until: None,
        }
    }

    /// Waiting for the browser redirect flow; `action` tells the admin how
    /// to finish it.
    pub fn pending(action: Fix) -> Self {
        Self {
            state: HealthState::PendingAuthorization,
            last_success_at: None,
            last_error: None,
            fix: None,
            action: Some(action),
            throttled_until: None,
        }
    }
}

/// How the connection was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A self_client.json upload (code exchanged at once).
    SelfClient,
    /// An imported refresh token.
    RefreshToken,
    /// The browser redirect flow (server-based client); pending until the
    /// authorization link is accepted.
    Redirect,
}

/// A stored connection. Sealed as a whole; secrets also typed as such.
///
/// Schema 1 throughout: `refresh_token` became optional (absent while a
/// browser-flow connection is pending) and `redirect_uri` was added, both
/// with serde defaults, so records written before read unchanged.
/// `redirect_uri` is left out of the encoding when unset, so records of
/// self-client and imported connections stay byte-compatible with older
/// binaries; a pending record is not readable by them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRecord {
    /// Name (the record key).
    pub name: String,
    /// Zoho client id (not secret, but sealed with the rest).
    pub client_id: String,
    /// Zoho client secret.
    pub client_secret: SealedSecret,
    /// The refresh token; `None` while the connection is pending
    /// authorization.
    #[serde(default)]
    pub refresh_token: Option<SealedSecret>,
    /// The redirect URI registered for a server-based client, used by the
    /// browser flow (authorize and code exchange). Absent for self clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// Scopes the code was generated for.
    pub scopes: Vec<String>,
    /// The data center, unless a custom accounts URL is used.
    pub data_center: Option<DataCenter>,
    /// Accounts server base URL.
    pub accounts_url: String,
    /// API host for calls with the access token.
    pub api_domain: String,
    /// How it was created.
    pub source: Source,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change (refresh outcome, rotation).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Health.
    pub health: Health,
    /// Start times of access-token mints (exchange and refreshes, including
    /// attempts whose outcome is unknown) inside the budget window.
    #[serde(default)]
    pub mints: Vec<i64>,
}

impl SealedRecord for ConnectionRecord {
    const TREE: Tree = Tree::Connections;
    const SCHEMA: u8 = 1;
}

/// The shared access token of a connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedToken {
    /// The access token.
    pub access_token: SealedSecret,
    /// API host reported with it.
    pub api_domain: String,
    /// When the vault stops handing it out (Zoho's expiry minus the margin,
    /// counted from when the request was sent).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was minted.
    #[serde(with = "time::serde::rfc3339")]
    pub minted_at: OffsetDateTime,
}

impl SealedRecord for CachedToken {
    const TREE: Tree = Tree::AccessTokens;
    const SCHEMA: u8 = 1;
}

/// Budget figures for the view.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BudgetView {
    /// Mints in the current window.
    pub used: usize,
    /// Mints allowed per window.
    pub limit: u32,
    /// Window length.
    pub window_secs: u64,
}

/// Cached-token figures for the view.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// Expiry of the cached token.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was minted.
    #[serde(with = "time::serde::rfc3339")]
    pub minted_at: OffsetDateTime,
}

/// What admins see of a connection: metadata and health, never a secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    /// Name.
    pub name: String,
    /// Zoho client id.
    pub client_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Data center code, when not custom.
    pub data_center: Option<DataCenter>,
    /// Accounts server.
    pub accounts_url: String,
    /// API host.
    pub api_domain: String,
    /// How it was created.
    pub source: Source,
    /// The redirect URI of the browser flow, when the connection has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Health.
    pub health: Health,
    /// The cached access token's timing, if one is cached.
    pub token: Option<TokenView>,
    /// Refresh budget use.
    pub budget: BudgetView,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the first release wrote it (no `redirect_uri`, a plain
    /// refresh token) must still read.
    #[test]
    fn records_written_before_the_browser_flow_still_read() {
        let old = r#"{"name":"acme","client_id":"1000.X","client_secret":"s","refresh_token":"1000.r.t",
            "scopes":["A.b.READ"],"data_center":"eu","accounts_url":"https://accounts.zoho.eu",
            "api_domain":"https://www.zohoapis.eu","source":"self_client",
            "created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z",
            "health":{"state":"active","last_success_at":"2026-01-01T00:00:00Z"},"mints":[1]}"#;
        let rec: ConnectionRecord = serde_json::from_str(old).expect("old record");
        assert!(rec.refresh_token.is_some());
        assert_eq!(rec.redirect_uri, None);
        let again = serde_json::to_string(&rec).expect("encode");
        assert!(!again.contains("redirect_uri"), "{again}");
    }

    #[test]
    fn pending_health_serializes_in_snake_case() {
        let h = Health::pending(Fix::AuthorizeInBrowser {
            connection: "acme".into(),
        });
        let json = serde_json::to_value(&h).expect("json");
        assert_eq!(json["state"], "pending_authorization");
        assert_eq!(
            serde_json::to_value(Source::Redirect).expect("json"),
            "redirect"
        );
    }
}
