//! Settings of the fake server: what a test can tune to mimic one Zoho
//! behaviour or another. Defaults follow Zoho's documented behaviour (token
//! endpoint, errors and limits; sources in `docs/fake-zoho.md`); knobs exist
//! where Zoho's own sources disagree.

use serde::{Deserialize, Serialize};

/// Which HTTP status a throttled token request gets. Zoho's sources disagree
/// on the status of the "Access Denied" answer, so both are available.
pub const THROTTLE_STATUSES: [u16; 2] = [200, 400];

/// Settings of one fake Zoho instance. `Default` gives Zoho-like values.
///
/// Change them at run time with [`crate::fake_zoho::FakeZoho::update_config`]
/// or `PUT /_fake/config` (a [`ConfigPatch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeZohoConfig {
    /// Lifetime of minted access tokens, and the `expires_in` answered (3600).
    pub access_token_ttl_secs: i64,
    /// HTTP status of the throttle answer: 200 (default) or 400.
    pub throttle_http_status: u16,
    /// Access-token mints allowed per refresh token per window (10).
    pub mint_limit: usize,
    /// Length of the rolling mint window in seconds (600).
    pub mint_window_secs: i64,
    /// Live access tokens kept per refresh token; the oldest is evicted (10).
    pub live_token_cap: usize,
    /// Refresh tokens kept per (user, client); the oldest is evicted (20).
    pub refresh_token_cap: usize,
    /// Answer the pre-2019 shape: `expires_in` in ms plus `expires_in_sec`.
    pub legacy_expires: bool,
    /// Include a space-joined `scope` in token answers (true).
    pub include_scope: bool,
    /// `api_domain` in token answers; `None` means the fake's own base URL,
    /// so the fake Invoice API is reachable.
    pub api_domain: Option<String>,
    /// The `location` (data-centre code) put in the redirect callback (`us`).
    pub location: String,
    /// Delay added to every token and revoke answer, in milliseconds (0).
    pub latency_ms: u64,
    /// How long a `timeout` fault holds the request, in seconds (60).
    pub timeout_fault_secs: u64,
    /// Lifetime of codes minted by the browser consent page (120 s, §3).
    pub redirect_code_ttl_secs: i64,
    /// Reject a `redirect_uri` sent in a self-client code exchange with
    /// `invalid_redirect_uri` (true). Zoho's behaviour is UNCONFIRMED (§1.2);
    /// strict by default so clients that send one are caught.
    pub reject_redirect_uri_for_self_client: bool,
    /// Make the Invoice API answer code 57 when the token lacks the scope the
    /// call needs (true; §6 says Zoho does this).
    pub enforce_scopes: bool,
    /// Organization listed by `GET /invoice/v3/organizations`.
    pub organization_id: String,
    /// Data API calls the organization may have in flight at once; the
    /// next one gets Zoho's 429 body (0: no limit).
    #[serde(default)]
    pub max_concurrent_per_org: usize,
}

impl Default for FakeZohoConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 3600,
            throttle_http_status: 200,
            mint_limit: 10,
            mint_window_secs: 600,
            live_token_cap: 10,
            refresh_token_cap: 20,
            legacy_expires: false,
            include_scope: true,
            api_domain: None,
            location: "us".to_owned(),
            latency_ms: 0,
            timeout_fault_secs: 60,
            redirect_code_ttl_secs: 120,
            reject_redirect_uri_for_self_client: true,
            enforce_scopes: true,
            organization_id: "10234695".to_owned(),
            max_concurrent_per_org: 0,
        }
    }
}

/// A partial update of [`FakeZohoConfig`]: every field is optional and only
/// the given ones change. `api_domain: ""` resets it to the fake's base URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mint_limit: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mint_window_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_token_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_expires: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_scope: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_fault_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_code_ttl_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_redirect_uri_for_self_client: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_scopes: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_per_org: Option<usize>,
}

/// Why a [`ConfigPatch`] was refused; nothing is changed then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("throttle_http_status must be 200 or 400")]
    ThrottleStatus,
    #[error("{0} must be positive")]
    NotPositive(&'static str),
}

impl FakeZohoConfig {
    /// Applies `patch` after checking it; on error `self` is unchanged.
    pub fn apply(&mut self, patch: ConfigPatch) -> Result<(), ConfigError> {
        let mut next = self.clone();
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = patch.$f { next.$f = v; } )* };
        }
        set!(
            access_token_ttl_secs,
            throttle_http_status,
            mint_limit,
            mint_window_secs,
            live_token_cap,
            refresh_token_cap,
            legacy_expires,
            include_scope,
            location,
            latency_ms,
            timeout_fault_secs,
            redirect_code_ttl_secs,
            reject_redirect_uri_for_self_client,
            enforce_scopes,
            organization_id,
            max_concurrent_per_org
        );
        if let Some(domain) = patch.api_domain {
            next.api_domain = (!domain.is_empty()).then_some(domain);
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// Checks the values a handler relies on (positive caps and windows).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !THROTTLE_STATUSES.contains(&self.throttle_http_status) {
            return Err(ConfigError::ThrottleStatus);
        }
        let positive: [(&'static str, bool); 5] = [
            ("access_token_ttl_secs", self.access_token_ttl_secs > 0),
            ("mint_window_secs", self.mint_window_secs > 0),
            ("live_token_cap", self.live_token_cap > 0),
            ("refresh_token_cap", self.refresh_token_cap > 0),
            ("redirect_code_ttl_secs", self.redirect_code_ttl_secs > 0),
        ];
        match positive.iter().find(|(_, ok)| !ok) {
            Some((name, _)) => Err(ConfigError::NotPositive(name)),
            None => Ok(()),
        }
    }
}
