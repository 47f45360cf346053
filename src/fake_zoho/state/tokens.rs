//! The token endpoint's logic: code exchange, refresh, and the limits a
//! mint must pass (rolling mint window, live access-token cap, refresh-token
//! cap per user and client). See docs/zoho.md

use std::collections::VecDeque;

use super::{AccessRecord, ClientRecord, RefreshRecord, State};
use crate::fake_zoho::state::make_token;

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

impl State {
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

    pub(super) fn new_refresh_token(
        &mut self,
        client_id: &str,
        user: &str,
        scopes: Vec<String>,
    ) -> String {
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

    pub(super) fn remove_refresh_token(&mut self, token: &str) {
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
}
