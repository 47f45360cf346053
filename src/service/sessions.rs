//! Admin console sessions: a login trades an admin token for a random
//! session id, kept by the browser in a cookie; the vault keeps only the
//! SHA-256 of the id, with the admin's principal, the session's CSRF token
//! and its expiry. Sessions live in this process's memory (a restart or a
//! seal logs everyone out).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::auth::{AuthError, Principal};

use super::*;

/// Most sessions held at once; a login past it drops the oldest.
const MAX_SESSIONS: usize = 4096;

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

/// The sessions of this process, by the hash of their id.
pub(super) struct Sessions {
    ttl: Duration,
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            by_hash: Mutex::new(HashMap::new()),
        }
    }

    fn start(&self, principal: Principal, now: OffsetDateTime) -> (String, Session) {
        let id = random_hex();
        let session = Session {
            principal,
            csrf: random_hex(),
            expires_at: now + self.ttl,
        };
        let mut map = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| s.expires_at > now);
        if map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(hash(&id), session.clone());
        (id, session)
    }

    fn get(&self, id: &str, now: OffsetDateTime) -> Option<Session> {
        let key = hash(id);
        let mut map = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(&key) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    fn end(&self, id: &str) {
        self.by_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&hash(id));
    }

    pub(super) fn end_all(&self) {
        self.by_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl VaultService {
    /// Logs an admin into the console with an admin token: answers the new
    /// session's id (for the cookie) and the session. A service token is
    /// refused (`Forbidden`); the caller records refusals as the API does.
    pub async fn console_login(
        &self,
        token: &str,
    ) -> Result<(String, Session), (ServiceAuthError, Option<Principal>)> {
        let principal = self.authenticate(token).await.map_err(|e| (e, None))?;
        if !principal.is_admin() {
            let e = AuthError::Forbidden("the console needs an admin token".into());
            return Err((e.into(), Some(principal)));
        }
        Ok(self.sessions.start(principal, crate::clock::now()))
    }

    /// The live session with this id: not expired, and its admin token
    /// still exists and has not expired (a revoked admin is logged out).
    pub async fn console_session(&self, id: &str) -> Option<Session> {
        let now = crate::clock::now();
        let session = self.sessions.get(id, now)?;
        let keyring = self.vault.keyring().ok()?;
        match self
            .tokens
            .get_by_id(keyring.data_key(), &session.principal.token_id)
            .await
        {
            Ok(Some(r)) if !r.is_expired(now) => Some(session),
            Ok(_) => {
                self.sessions.end(id);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot check a console session's admin token");
                None
            }
        }
    }

    /// Ends a console session.
    pub fn console_logout(&self, id: &str) {
        self.sessions.end(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::token::TokenKind;

    fn admin() -> Principal {
        Principal {
            token_id: "tok_0000000000000001".into(),
            name: "root".into(),
            kind: TokenKind::Admin,
            connections: vec![],
            access: Default::default(),
            proxy_paths: vec![],
        }
    }

    #[test]
    fn a_session_is_found_by_its_id_until_it_expires() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = OffsetDateTime::now_utc();
        let (id, s) = sessions.start(admin(), now);
        assert_eq!(id.len(), 64);
        assert!(sessions.get(&id, now).is_some());
        assert!(sessions.get(&id, now + Duration::from_secs(61)).is_none());
        assert!(
            sessions.get(&id, now).is_none(),
            "expired sessions are dropped"
        );
        assert!(s.csrf_matches(s.csrf()));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches(&id));
    }

    #[test]
    fn only_the_hash_of_the_id_is_kept() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (id, _) = sessions.start(admin(), OffsetDateTime::now_utc());
        let map = sessions.by_hash.lock().expect("lock");
        assert!(map.contains_key(&hash(&id)));
        assert!(!map.keys().any(|k| hex::encode(k) == id));
    }

    #[test]
    fn logout_and_seal_end_sessions() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = OffsetDateTime::now_utc();
        let (a, _) = sessions.start(admin(), now);
        let (b, _) = sessions.start(admin(), now);
        sessions.end(&a);
        assert!(sessions.get(&a, now).is_none());
        assert!(sessions.get(&b, now).is_some());
        sessions.end_all();
        assert!(sessions.get(&b, now).is_none());
    }
}
