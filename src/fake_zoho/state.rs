//! The fake's whole world: clients, one-time codes, refresh and access tokens,
//! Zoho's limits, injected faults and counters. Plain synchronous logic with
//! the time passed in (`now_ms`, epoch milliseconds), so the limits are unit
//! tested without sleeping; the HTTP layer keeps one `State` in a mutex.
//!
//! Limits modelled (Zoho's token limits page): one-time codes with expiry; at
//! most `mint_limit` mints per refresh token per rolling window; at most
//! `live_token_cap` live access tokens per refresh token, oldest evicted; at
//! most `refresh_token_cap` refresh tokens per (user, client), oldest evicted
//! together with its access tokens.

use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;

use super::config::FakeZohoConfig;

mod tokens;

use super::model::{
    Client, ClientSpec, CodeSpec, Counters, FaultKind, FaultSpec, SelfClientJson, DEFAULT_USER,
};
pub use tokens::{Grant, TokenError, TokenParams};

/// A control-API request that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("unknown client_id")]
    UnknownClient,
    #[error("redirect_uri must be an absolute http(s) URL")]
    BadRedirectUri,
    #[error("{0}")]
    BadValue(&'static str),
}

#[derive(Debug, Clone)]
struct ClientRecord {
    secret: String,
    redirect_uri: Option<String>,
}

#[derive(Debug, Clone)]
struct CodeRecord {
    client_id: String,
    user: String,
    scopes: Vec<String>,
    expires_at_ms: i64,
    /// Set for codes from the browser flow: the exchange must repeat it.
    redirect_uri: Option<String>,
}

#[derive(Debug, Clone)]
struct RefreshRecord {
    client_id: String,
    user: String,
    scopes: Vec<String>,
    seq: u64,
    /// Times of the mints inside the current rolling window.
    mints: VecDeque<i64>,
}

#[derive(Debug, Clone)]
struct AccessRecord {
    refresh_token: String,
    expires_at_ms: i64,
    seq: u64,
}

/// Everything the fake knows. See the module docs.
#[derive(Debug)]
pub struct State {
    pub config: FakeZohoConfig,
    initial_config: FakeZohoConfig,
    clients: HashMap<String, ClientRecord>,
    codes: HashMap<String, CodeRecord>,
    refresh: HashMap<String, RefreshRecord>,
    access: HashMap<String, AccessRecord>,
    faults: VecDeque<FaultKind>,
    counters: Counters,
    /// Creation order, for oldest-first eviction.
    seq: u64,
    /// Added to the wall clock, so tests can skip ahead (`advance_clock`).
    clock_offset_ms: i64,
    /// The next data API calls to answer 401 `INVALID_TOKEN` whatever
    /// their token (a token Zoho refuses although it was just minted).
    pub data_refusals: u32,
}

/// A Zoho-shaped token: `1000.<32hex>.<32hex>` (§1.2, format UNCONFIRMED).
pub fn make_token() -> String {
    let mut rng = rand::thread_rng();
    format!("1000.{:032x}.{:032x}", rng.gen::<u128>(), rng.gen::<u128>())
}

fn make_client_id() -> String {
    let mut rng = rand::thread_rng();
    let tail = Alphanumeric
        .sample_string(&mut rng, 30)
        .to_ascii_uppercase();
    format!("1000.{tail}")
}

fn make_client_secret() -> String {
    let mut rng = rand::thread_rng();
    (0..42)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn valid_redirect_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

impl State {
    /// A fresh world with `config` (also what [`State::reset`] returns to).
    pub fn new(config: FakeZohoConfig) -> Self {
        Self {
            initial_config: config.clone(),
            config,
            clients: HashMap::new(),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            access: HashMap::new(),
            faults: VecDeque::new(),
            counters: Counters::default(),
            seq: 0,
            clock_offset_ms: 0,
            data_refusals: 0,
        }
    }

    /// Forgets everything and restores the start-up config and clock.
    pub fn reset(&mut self) {
        *self = Self::new(self.initial_config.clone());
    }

    /// The fake's clock: wall clock plus any [`State::advance_clock`].
    pub fn now_ms(&self) -> i64 {
        wall_clock_ms().saturating_add(self.clock_offset_ms)
    }

    /// Moves the fake's clock forward, to expire codes, tokens and windows
    /// without sleeping.
    pub fn advance_clock(&mut self, secs: i64) {
        self.clock_offset_ms = self
            .clock_offset_ms
            .saturating_add(secs.saturating_mul(1000));
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Registers (or replaces) a client; absent fields are generated.
    pub fn register_client(&mut self, spec: ClientSpec) -> Result<Client, ControlError> {
        if let Some(uri) = &spec.redirect_uri {
            if !valid_redirect_uri(uri) {
                return Err(ControlError::BadRedirectUri);
            }
        }
        let client = Client {
            client_id: spec.client_id.unwrap_or_else(make_client_id),
            client_secret: spec.client_secret.unwrap_or_else(make_client_secret),
            redirect_uri: spec.redirect_uri,
        };
        if client.client_id.is_empty() || client.client_secret.is_empty() {
            return Err(ControlError::BadValue(
                "client_id and client_secret must not be empty",
            ));
        }
        self.clients.insert(
            client.client_id.clone(),
            ClientRecord {
                secret: client.client_secret.clone(),
                redirect_uri: client.redirect_uri.clone(),
            },
        );
        Ok(client)
    }

    /// The registered redirect URI of `client_id`: `Err` for an unknown
    /// client, `Ok(None)` for a self client.
    pub fn client_redirect_uri(&self, client_id: &str) -> Result<Option<String>, ControlError> {
        self.clients
            .get(client_id)
            .map(|c| c.redirect_uri.clone())
            .ok_or(ControlError::UnknownClient)
    }

    /// Issues a self-client code, as Zoho's console "Generate Code" does, and
    /// answers the matching `self_client.json`.
    pub fn issue_code(
        &mut self,
        spec: CodeSpec,
        now_ms: i64,
    ) -> Result<SelfClientJson, ControlError> {
        let client = self
            .clients
            .get(&spec.client_id)
            .ok_or(ControlError::UnknownClient)?;
        let client_secret = client.secret.clone();
        let code = make_token();
        let expiry_time = now_ms.saturating_add(spec.ttl_secs.saturating_mul(1000));
        self.codes.insert(
            code.clone(),
            CodeRecord {
                client_id: spec.client_id.clone(),
                user: spec.user.unwrap_or_else(|| DEFAULT_USER.to_owned()),
                scopes: spec.scope.clone(),
                expires_at_ms: expiry_time,
                redirect_uri: None,
            },
        );
        Ok(SelfClientJson {
            scope: spec.scope,
            expiry_time,
            client_id: spec.client_id,
            client_secret,
            code,
            grant_type: "authorization_code".to_owned(),
        })
    }

    /// Issues a code from the browser consent page, bound to `redirect_uri`.
    pub fn issue_redirect_code(
        &mut self,
        client_id: &str,
        scopes: Vec<String>,
        redirect_uri: &str,
        now_ms: i64,
    ) -> String {
        let code = make_token();
        let ttl_ms = self.config.redirect_code_ttl_secs.saturating_mul(1000);
        self.codes.insert(
            code.clone(),
            CodeRecord {
                client_id: client_id.to_owned(),
                user: DEFAULT_USER.to_owned(),
                scopes,
                expires_at_ms: now_ms.saturating_add(ttl_ms),
                redirect_uri: Some(redirect_uri.to_owned()),
            },
        );
        code
    }

    /// Creates a refresh token directly, as if a code had been exchanged
    /// earlier (no mint counted). For tests that import a refresh token.
    pub fn mint_refresh_token(
        &mut self,
        client_id: &str,
        scopes: Vec<String>,
        user: &str,
    ) -> Result<String, ControlError> {
        if !self.clients.contains_key(client_id) {
            return Err(ControlError::UnknownClient);
        }
        Ok(self.new_refresh_token(client_id, user, scopes))
    }

    /// Revokes a refresh token (with its access tokens) or an access token.
    /// `false` if the token is unknown.
    pub fn revoke(&mut self, token: &str) -> bool {
        let known = if self.refresh.contains_key(token) {
            self.remove_refresh_token(token);
            true
        } else {
            self.access.remove(token).is_some()
        };
        if known {
            self.counters.revocations += 1;
        }
        known
    }

    /// The scopes of a live access token, `None` if it is unknown, expired,
    /// revoked or evicted.
    pub fn access_token_scopes(&self, token: &str, now_ms: i64) -> Option<&[String]> {
        let access = self
            .access
            .get(token)
            .filter(|a| a.expires_at_ms > now_ms)?;
        self.refresh
            .get(&access.refresh_token)
            .map(|r| r.scopes.as_slice())
    }

    /// Whether `token` is a live refresh token.
    pub fn is_refresh_token_live(&self, token: &str) -> bool {
        self.refresh.contains_key(token)
    }

    /// Makes every current access token dead (as if an hour had passed).
    pub fn expire_access_tokens(&mut self, now_ms: i64) {
        for access in self.access.values_mut() {
            access.expires_at_ms = access.expires_at_ms.min(now_ms);
        }
    }

    /// Queues `spec.count` faults for the next token-endpoint requests.
    pub fn push_fault(&mut self, spec: FaultSpec) {
        self.faults
            .extend(std::iter::repeat_n(spec.kind, spec.count as usize));
    }

    /// Takes the next queued fault, if any, and counts it.
    pub fn take_fault(&mut self) -> Option<FaultKind> {
        let kind = self.faults.pop_front()?;
        *self
            .counters
            .faults
            .entry(kind.as_str().to_owned())
            .or_default() += 1;
        Some(kind)
    }

    /// Counts one token-endpoint request.
    pub fn count_token_request(&mut self) {
        self.counters.token_requests += 1;
    }

    /// Counts one Invoice API request.
    /// Makes one access token dead (as if revoked); `false` if unknown.
    pub fn revoke_access_token(&mut self, token: &str) -> bool {
        self.access.remove(token).is_some()
    }

    pub fn count_invoice_call(&mut self) {
        self.counters.invoice_calls += 1;
    }

    /// A snapshot of the counters, with the live-token gauges at `now_ms`.
    pub fn counters(&self, now_ms: i64) -> Counters {
        let mut counters = self.counters.clone();
        let live = self.access.values().filter(|a| a.expires_at_ms > now_ms);
        counters.live_access_tokens = live.count() as u64;
        counters.live_refresh_tokens = self.refresh.len() as u64;
        counters
    }
}

#[cfg(test)]
mod tests;
