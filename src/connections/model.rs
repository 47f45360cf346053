//! Stored connection records, the cached access token, and the public
//! (secret-free) view of a connection.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::records::{SealedRecord, SealedSecret};
use crate::store::Tree;
use crate::zoho::DataCenter;

/// A connection's health, as shown to admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// The last failure seen for a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Current state.
    pub state: HealthState,
    /// Last successful exchange or refresh.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_success_at: Option<OffsetDateTime>,
    /// Last failure, if any since the last success.
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// The exact fix for the admin, when one is needed.
    #[serde(default)]
    pub fix: Option<String>,
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
            throttled_until: None,
        }
    }
}

/// How the connection was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A self_client.json upload (code exchanged at once).
    SelfClient,
    /// An imported refresh token.
    RefreshToken,
}

/// A stored connection. Sealed as a whole; secrets also typed as such.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRecord {
    /// Name (the record key).
    pub name: String,
    /// Zoho client id (not secret, but sealed with the rest).
    pub client_id: String,
    /// Zoho client secret.
    pub client_secret: SealedSecret,
    /// The refresh token.
    pub refresh_token: SealedSecret,
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
#[derive(Debug, Clone, Serialize)]
pub struct BudgetView {
    /// Mints in the current window.
    pub used: usize,
    /// Mints allowed per window.
    pub limit: u32,
    /// Window length.
    pub window_secs: u64,
}

/// Cached-token figures for the view.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    /// Expiry of the cached token.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was minted.
    #[serde(with = "time::serde::rfc3339")]
    pub minted_at: OffsetDateTime,
}

/// What admins see of a connection: metadata and health, never a secret.
#[derive(Debug, Clone, Serialize)]
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
