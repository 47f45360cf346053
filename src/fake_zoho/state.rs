//! The fake's whole world: clients, one-time codes, refresh and access tokens,
//! Zoho's limits, injected faults and counters. Plain synchronous logic with
//! the time passed in (`now_ms`, epoch milliseconds), so the limits are unit
//! tested without sleeping; the HTTP layer keeps one `State` in a mutex.
//!
//! Limits modelled (docs/zoho-oauth.md §3): one-time codes with expiry; at
//! most `mint_limit` mints per refresh token per rolling window; at most
//! `live_token_cap` live access tokens per refresh token, oldest evicted; at
//! most `refresh_token_cap` refresh tokens per (user, client), oldest evicted
//! together with its access tokens.

use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;

use super::config::FakeZohoConfig;
use super::model::{
    Client, ClientSpec, CodeSpec, Counters, FaultKind, FaultSpec, SelfClientJson, DEFAULT_USER,
};

/// Parameters of one token-endpoint request, merged from query and body.
#[derive(Debug, Clone, Default)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub refresh_token: Option<String>,
}

/// A successful mint: what the token endpoint answers, before formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub access_token: String,
    /// Present on code exchange only: Zoho never rotates refresh tokens (§1.3).
    pub refresh_token: Option<String>,
    pub scopes: Vec<String>,
    pub expires_in_secs: i64,
}

/// A token-endpoint failure; every one is answered with an `error` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_code")]
    InvalidCode,
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_client_secret")]
    InvalidClientSecret,
    #[error("invalid_redirect_uri")]
    InvalidRedirectUri,
    /// A guess: Zoho's answer to an unknown grant type is undocumented (§2).
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// The mint limit was hit: the "Access Denied" throttle body.
    #[error("Access Denied")]
    Throttled,
}

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

    /// Handles one token-endpoint request. Counts it and its outcome.
    pub fn token(&mut self, params: &TokenParams, now_ms: i64) -> Result<Grant, TokenError> {
        let result = match params.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(params, now_ms),
            Some("refresh_token") => self.refresh(params, now_ms),
            _ => Err(TokenError::UnsupportedGrantType),
        };
        match &result {
            Ok(grant) if grant.refresh_token.is_some() => self.counters.code_exchanges += 1,
            Ok(_) => self.counters.refreshes += 1,
            Err(TokenError::Throttled) => self.counters.throttled += 1,
            Err(e) => *self.counters.errors.entry(e.to_string()).or_default() += 1,
        }
        result
    }

    fn check_client(&self, params: &TokenParams) -> Result<&ClientRecord, TokenError> {
        let id = params.client_id.as_deref().unwrap_or_default();
        let client = self.clients.get(id).ok_or(TokenError::InvalidClient)?;
        if params.client_secret.as_deref() != Some(client.secret.as_str()) {
            return Err(TokenError::InvalidClientSecret);
        }
        Ok(client)
    }

    fn exchange_code(&mut self, params: &TokenParams, now_ms: i64) -> Result<Grant, TokenError> {
        let client = self.check_client(params)?;
        let sent_uri = params.redirect_uri.as_deref().filter(|u| !u.is_empty());
        match (sent_uri, client.redirect_uri.as_deref()) {
            (Some(sent), Some(registered)) if sent != registered => {
                return Err(TokenError::InvalidRedirectUri)
            }
            (Some(_), None) if self.config.reject_redirect_uri_for_self_client => {
                return Err(TokenError::InvalidRedirectUri)
            }
            _ => {}
        }
        let code_key = params.code.as_deref().unwrap_or_default();
        let code = self.codes.get(code_key).ok_or(TokenError::InvalidCode)?;
        if Some(code.client_id.as_str()) != params.client_id.as_deref() {
            return Err(TokenError::InvalidCode);
        }
        if code.expires_at_ms <= now_ms {
            self.codes.remove(code_key);
            return Err(TokenError::InvalidCode);
        }
        // A browser-flow code must be exchanged with the URI it was issued for.
        if code.redirect_uri.is_some() && code.redirect_uri.as_deref() != sent_uri {
            return Err(TokenError::InvalidRedirectUri);
        }
        if self.config.mint_limit == 0 {
            return Err(TokenError::Throttled);
        }
        let code = self.codes.remove(code_key).ok_or(TokenError::InvalidCode)?;
        let refresh_token = self.new_refresh_token(&code.client_id, &code.user, code.scopes);
        let mut grant = self.mint(&refresh_token, now_ms)?;
        grant.refresh_token = Some(refresh_token);
        Ok(grant)
    }

    fn refresh(&mut self, params: &TokenParams, now_ms: i64) -> Result<Grant, TokenError> {
        self.check_client(params)?;
        let token = params.refresh_token.as_deref().unwrap_or_default();
        match self.refresh.get(token) {
            Some(r) if Some(r.client_id.as_str()) == params.client_id.as_deref() => {}
            _ => return Err(TokenError::InvalidCode),
        }
        self.mint(&token.to_owned(), now_ms)
    }

    fn new_refresh_token(&mut self, client_id: &str, user: &str, scopes: Vec<String>) -> String {
        // The 21st refresh token silently deletes the oldest one (§3).
        loop {
            let siblings = self
                .refresh
                .iter()
                .filter(|(_, r)| r.client_id == client_id && r.user == user);
            let count = siblings.clone().count();
            if count < self.config.refresh_token_cap {
                break;
            }
            let oldest = siblings.min_by_key(|(_, r)| r.seq).map(|(t, _)| t.clone());
            match oldest {
                Some(t) => self.remove_refresh_token(&t),
                None => break,
            }
        }
        let token = make_token();
        let seq = self.next_seq();
        self.refresh.insert(
            token.clone(),
            RefreshRecord {
                client_id: client_id.to_owned(),
                user: user.to_owned(),
                scopes,
                seq,
                mints: VecDeque::new(),
            },
        );
        token
    }

    fn remove_refresh_token(&mut self, token: &str) {
        self.refresh.remove(token);
        self.access.retain(|_, a| a.refresh_token != token);
    }

    /// Mints an access token from `refresh_token`, enforcing the rolling
    /// mint window and the live-token cap.
    fn mint(&mut self, refresh_token: &String, now_ms: i64) -> Result<Grant, TokenError> {
        let window_ms = self.config.mint_window_secs.saturating_mul(1000);
        let (limit, cap) = (self.config.mint_limit, self.config.live_token_cap);
        let ttl_secs = self.config.access_token_ttl_secs;
        let record = self
            .refresh
            .get_mut(refresh_token)
            .ok_or(TokenError::InvalidCode)?;
        // Rolling window: a mint older than the window no longer counts, so
        // the block lasts until the oldest mint in the window ages out.
        while record
            .mints
            .front()
            .is_some_and(|t| *t <= now_ms - window_ms)
        {
            record.mints.pop_front();
        }
        if record.mints.len() >= limit {
            return Err(TokenError::Throttled);
        }
        record.mints.push_back(now_ms);
        let scopes = record.scopes.clone();

        self.access
            .retain(|_, a| a.refresh_token != *refresh_token || a.expires_at_ms > now_ms);
        let mut live: Vec<(u64, String)> = self
            .access
            .iter()
            .filter(|(_, a)| a.refresh_token == *refresh_token)
            .map(|(t, a)| (a.seq, t.clone()))
            .collect();
        live.sort();
        let excess = (live.len() + 1).saturating_sub(cap);
        for (_, token) in live.into_iter().take(excess) {
            self.access.remove(&token);
        }

        let access_token = make_token();
        let seq = self.next_seq();
        self.access.insert(
            access_token.clone(),
            AccessRecord {
                refresh_token: refresh_token.clone(),
                expires_at_ms: now_ms.saturating_add(ttl_secs.saturating_mul(1000)),
                seq,
            },
        );
        Ok(Grant {
            access_token,
            refresh_token: None,
            scopes,
            expires_in_secs: ttl_secs,
        })
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
#[path = "state_tests.rs"]
mod tests;
