//! Admin console sessions: a login trades an admin token for a random
//! session id, kept by the browser in a cookie; the vault keeps only the
//! SHA-256 of the id, with the admin token it stands for and its expiry.
//!
//! Where they live depends on the store: with the embedded store one
//! process serves the vault and keeps them in memory ([`memory`]: a
//! restart or a seal logs everyone out); with PostgreSQL every replica
//! must serve every session, so they are sealed records in the database
//! ([`crate::console_sessions`]) and their CSRF tokens are derived from
//! the data key, not stored.

mod memory;

use std::time::Duration;

use secrecy::SecretString;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::auth::{AuthError, Principal, TokenRecord};
use crate::config::StoreBackend;
use crate::console_sessions::{csrf_token, StoredSessions};
use crate::crypto::keys::DataKey;
use crate::crypto::token::TokenKind;
use crate::store::{AsyncStore, StoreError};
use crate::vault::VaultError;

use super::*;

/// Most sessions held at once; a login past it drops the one that ends
/// soonest. In the database, concurrent logins on several replicas may
/// pass it by a few until the next login.
const MAX_SESSIONS: usize = 4096;

/// How often one replica of a cluster deletes expired sessions from the
/// database (a lookup also deletes the expired one it finds, and a login
/// into a full table all of them).
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// A logged-in admin.
#[derive(Clone)]
pub struct Session {
    /// Who logged in (the admin token's principal).
    pub principal: Principal,
    /// The token every state-changing form carries.
    csrf: String,
    /// When the session ends.
    pub expires_at: OffsetDateTime,
}

impl Session {
    /// The CSRF token to put in forms.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether `given` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        given.len() == self.csrf.len() && bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// The sessions, where the store backend wants them.
pub(super) enum Sessions {
    /// This process's memory (the embedded store).
    Memory(memory::MemorySessions),
    /// The database, shared by the replicas (PostgreSQL).
    Stored(StoredSessions),
}

impl Sessions {
    pub(super) fn new(settings: &Settings, store: AsyncStore) -> Self {
        let ttl = settings.ui.session_ttl.0;
        match settings.store.backend {
            StoreBackend::Sled => Sessions::Memory(memory::MemorySessions::new(ttl, MAX_SESSIONS)),
            StoreBackend::Postgres => {
                Sessions::Stored(StoredSessions::new(store, ttl, MAX_SESSIONS))
            }
        }
    }

    /// On seal: the memory's sessions end. Sessions in the database are
    /// left alone: the other replicas still serve them, and this one
    /// refuses every session until it is unsealed.
    pub(super) fn end_all(&self) {
        if let Sessions::Memory(m) = self {
            m.end_all();
        }
    }
}

/// Whether admin token `token` still lets a session live at `now`.
fn still_admin(token: Option<&TokenRecord>, now: OffsetDateTime) -> bool {
    token.is_some_and(|t| t.kind == TokenKind::Admin && !t.is_expired(now))
}

impl VaultService {
    /// Logs an admin into the console with an admin token: answers the new
    /// session's id (for the cookie) and the session. A service token is
    /// refused (`Forbidden`); the caller records refusals as the API does.
    /// A store failure while saving the session is a `Vault(Store)` error
    /// with no principal.
    pub async fn console_login(
        &self,
        token: &str,
    ) -> Result<(String, Session), (ServiceAuthError, Option<Principal>)> {
        let principal = self.authenticate(token).await.map_err(|e| (e, None))?;
        if !principal.is_admin() {
            let e = AuthError::Forbidden("the console needs an admin token".into());
            return Err((e.into(), Some(principal)));
        }
        let now = crate::clock::now();
        let stored = match &self.sessions {
            Sessions::Memory(m) => {
                let (id, session) = m.start(principal, now);
                // A seal between the authentication and here must not leave
                // a session that works again after the next unseal.
                if let Err(e) = self.vault.keyring() {
                    m.end(&id);
                    return Err((e.into(), None));
                }
                return Ok((id, session));
            }
            Sessions::Stored(s) => s,
        };
        let keyring = self.vault.keyring().map_err(|e| (e.into(), None))?;
        let dk = keyring.data_key();
        let (id, record) = stored
            .start(dk, &principal.token_id, now)
            .await
            .map_err(|e| (VaultError::Store(e).into(), None))?;
        let session = Session {
            csrf: csrf_token(dk, &id),
            principal,
            expires_at: record.expires_at,
        };
        Ok((id, session))
    }

    /// The live session with this id: not expired, and its admin token
    /// still exists and has not expired (a revoked admin is logged out).
    pub async fn console_session(&self, id: &str) -> Option<Session> {
        let now = crate::clock::now();
        let keyring = self.vault.keyring().ok()?;
        let dk = keyring.data_key();
        let result = match &self.sessions {
            Sessions::Memory(m) => self.memory_session(m, dk, id, now).await,
            Sessions::Stored(s) => self.stored_session(s, dk, id, now).await,
        };
        result.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot check a console session");
            None
        })
    }

    async fn memory_session(
        &self,
        sessions: &memory::MemorySessions,
        dk: &DataKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        let Some(session) = sessions.get(id, now) else {
            return Ok(None);
        };
        let token = self
            .tokens
            .get_by_id(dk, &session.principal.token_id)
            .await?;
        if still_admin(token.as_ref(), now) {
            return Ok(Some(session));
        }
        sessions.end(id);
        Ok(None)
    }

    /// The principal comes from the admin token's record as it is now.
    async fn stored_session(
        &self,
        sessions: &StoredSessions,
        dk: &DataKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        let Some(record) = sessions.get(dk, id, now).await? else {
            return Ok(None);
        };
        let token = self.tokens.get_by_id(dk, &record.token_id).await?;
        match token {
            Some(t) if still_admin(Some(&t), now) => Ok(Some(Session {
                principal: Principal::from_record(&t),
                csrf: csrf_token(dk, id),
                expires_at: record.expires_at,
            })),
            _ => {
                sessions.end(id).await?;
                Ok(None)
            }
        }
    }

    /// Holds `secret` in session `id` for its next page, once (a form that
    /// made a secret redirects to the page that shows it, so a reload
    /// makes nothing twice). False when the session is gone.
    pub async fn console_put_flash(
        &self,
        id: &str,
        secret: SecretString,
    ) -> Result<bool, ServiceError> {
        let now = crate::clock::now();
        match &self.sessions {
            Sessions::Memory(m) => Ok(m.put_flash(id, secret, now)),
            Sessions::Stored(s) => {
                let keyring = self.vault.keyring()?;
                Ok(s.put_flash(keyring.data_key(), id, secret, now).await?)
            }
        }
    }

    /// Takes the secret held in session `id`: answered once.
    pub async fn console_take_flash(&self, id: &str) -> Option<SecretString> {
        let now = crate::clock::now();
        match &self.sessions {
            Sessions::Memory(m) => m.take_flash(id, now),
            Sessions::Stored(s) => {
                let keyring = self.vault.keyring().ok()?;
                s.take_flash(keyring.data_key(), id, now)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "cannot read a console session's flash");
                        None
                    })
            }
        }
    }

    /// Ends a console session, on every replica.
    pub async fn console_logout(&self, id: &str) -> Result<(), ServiceError> {
        match &self.sessions {
            Sessions::Memory(m) => m.end(id),
            Sessions::Stored(s) => s.end(id).await?,
        }
        Ok(())
    }

    /// Deletes expired console sessions from the database every
    /// [`SWEEP_EVERY`], on one replica of the cluster; returns at once
    /// when sessions live in memory.
    pub async fn sweep_console_sessions_periodically(self: Arc<Self>) {
        let Sessions::Stored(sessions) = &self.sessions else {
            return;
        };
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(keyring) = self.vault.keyring() else {
                continue;
            };
            if !self
                .claimed("console_sessions", "#console-sessions", SWEEP_EVERY)
                .await
            {
                continue;
            }
            let now = crate::clock::now();
            if let Err(e) = sessions.sweep(keyring.data_key(), now).await {
                tracing::warn!(error = %e, "cannot sweep expired console sessions");
            }
        }
    }
}
