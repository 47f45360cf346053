//! Plain data types shared by the control API (as JSON) and the in-process
//! [`crate::fake_zoho::FakeZoho`] handle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The user every code belongs to unless a test names another one. Zoho caps
/// refresh tokens per (user, client), so tests of that cap may vary it.
pub const DEFAULT_USER: &str = "user-1";

/// A registered OAuth client, as answered by `POST /_fake/clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    /// Registered redirect URI; `None` for a self client.
    pub redirect_uri: Option<String>,
}

/// Body of `POST /_fake/clients`; every field is generated when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
}

/// Body of `POST /_fake/codes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSpec {
    pub client_id: String,
    #[serde(default)]
    pub scope: Vec<String>,
    /// Code lifetime; Zoho's console default is 3 minutes (§3).
    #[serde(default = "default_code_ttl")]
    pub ttl_secs: i64,
    /// Owner of the code (and of the refresh token it yields).
    #[serde(default)]
    pub user: Option<String>,
}

fn default_code_ttl() -> i64 {
    180
}

/// Exactly the file Zoho's API console downloads (§7), answered by
/// `POST /_fake/codes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfClientJson {
    pub scope: Vec<String>,
    /// Expiry of the code, epoch milliseconds.
    pub expiry_time: i64,
    pub client_id: String,
    pub client_secret: String,
    pub code: String,
    pub grant_type: String,
}

/// How the next token-endpoint requests fail (`POST /_fake/faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// HTTP 500 with an HTML body, as a broken gateway would.
    #[serde(rename = "status_500")]
    Status500,
    /// HTTP 503 with an HTML body.
    #[serde(rename = "status_503")]
    Status503,
    /// Hold the request for `timeout_fault_secs` (60 s), then answer 504.
    Timeout,
    /// Send the response head, then abort the connection mid-body.
    Drop,
    /// HTTP 200 with an HTML page, as a proxy's error page would.
    #[serde(rename = "html_200")]
    Html200,
    /// HTTP 200 with an `error` Zoho does not document (`internal_error`).
    #[serde(rename = "unknown_error_200")]
    UnknownError200,
    /// HTTP 200 with an empty JSON object.
    #[serde(rename = "empty_json_200")]
    EmptyJson200,
    /// HTTP 403 with an HTML page, as a web application firewall would.
    #[serde(rename = "waf_403")]
    Waf403,
    /// The request is served (a token is minted), but `expires_in` is -3600.
    NegativeExpiresIn,
    /// The request is served (a token is minted), but `expires_in` is 0.
    ZeroExpiresIn,
    /// The request is served (a token is minted), but `expires_in` is 1e18.
    HugeExpiresIn,
}

/// Body of `POST /_fake/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// What the fake has seen since start or the last reset (`GET /_fake/counters`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Every request to `POST /oauth/v2/token`, faulted ones included.
    pub token_requests: u64,
    /// Successful code exchanges.
    pub code_exchanges: u64,
    /// Successful refreshes (access tokens minted from a refresh token).
    pub refreshes: u64,
    /// Throttle ("Access Denied") answers.
    pub throttled: u64,
    /// Token-endpoint error answers by `error` value (`invalid_code`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Injected faults served, by kind (`status_500`, `timeout`, ...).
    pub faults: BTreeMap<String, u64>,
    /// Successful revocations.
    pub revocations: u64,
    /// Every request to the data APIs (Invoice, CRM, the echo endpoints),
    /// failed ones included.
    pub invoice_calls: u64,
    /// Access tokens alive right now (not expired, revoked or evicted).
    pub live_access_tokens: u64,
    /// Refresh tokens alive right now.
    pub live_refresh_tokens: u64,
}

impl FaultKind {
    /// The snake_case name used in JSON and in [`Counters::faults`].
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Status500 => "status_500",
            FaultKind::Status503 => "status_503",
            FaultKind::Timeout => "timeout",
            FaultKind::Drop => "drop",
            FaultKind::Html200 => "html_200",
            FaultKind::UnknownError200 => "unknown_error_200",
            FaultKind::EmptyJson200 => "empty_json_200",
            FaultKind::Waf403 => "waf_403",
            FaultKind::NegativeExpiresIn => "negative_expires_in",
            FaultKind::ZeroExpiresIn => "zero_expires_in",
            FaultKind::HugeExpiresIn => "huge_expires_in",
        }
    }

    /// For the faults that serve the request and then lie about the token's
    /// lifetime: the `expires_in` to answer instead. `None` for faults that
    /// replace the whole answer.
    pub fn expires_in_override(self) -> Option<serde_json::Value> {
        match self {
            FaultKind::NegativeExpiresIn => Some(serde_json::json!(-3600)),
            FaultKind::ZeroExpiresIn => Some(serde_json::json!(0)),
            FaultKind::HugeExpiresIn => Some(serde_json::json!(1e18)),
            _ => None,
        }
    }
}
