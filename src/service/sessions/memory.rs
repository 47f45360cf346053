//! Console sessions in this process's memory (the embedded store: one
//! process serves the vault). A restart or a seal logs everyone out.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use secrecy::SecretString;
use time::OffsetDateTime;

use super::Session;
use crate::auth::Principal;
use crate::console_sessions::{id_hash, new_id};

/// The sessions of this process, by the hash of their id.
pub(in crate::service) struct MemorySessions {
    ttl: Duration,
    max: usize,
    by_hash: Mutex<HashMap<[u8; 32], Entry>>,
}

/// A session and the secret its next page shows once.
struct Entry {
    session: Session,
    flash: Option<SecretString>,
}

impl MemorySessions {
    pub(super) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max,
            by_hash: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn start(&self, principal: Principal, now: OffsetDateTime) -> (String, Session) {
        let id = new_id();
        let session = Session {
            principal,
            // Random: this process alone ever checks it.
            csrf: new_id(),
            expires_at: now + self.ttl,
        };
        let mut map = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, e| e.session.expires_at > now);
        if map.len() >= self.max {
            let oldest = map
                .iter()
                .min_by_key(|(_, e)| e.session.expires_at)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let entry = Entry {
            session: session.clone(),
            flash: None,
        };
        map.insert(id_hash(&id), entry);
        (id, session)
    }

    pub(super) fn get(&self, id: &str, now: OffsetDateTime) -> Option<Session> {
        let key = id_hash(id);
        let mut map = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(&key) {
            Some(e) if e.session.expires_at > now => Some(e.session.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Holds `secret` for session `id`'s next page; false without a live
    /// session, or while an earlier secret waits to be shown (the caller
    /// then shows this one at once: neither is lost).
    pub(super) fn put_flash(&self, id: &str, secret: SecretString, now: OffsetDateTime) -> bool {
        let mut map = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(&id_hash(id)) {
            Some(e) if e.session.expires_at > now && e.flash.is_none() => {
                e.flash = Some(secret);
                true
            }
            _ => false,
        }
    }

    /// Takes session `id`'s flash: answered once.
    pub(super) fn take_flash(&self, id: &str, now: OffsetDateTime) -> Option<SecretString> {
        let mut map = self.by_hash.lock().unwrap_or_else(PoisonError::into_inner);
        let e = map.get_mut(&id_hash(id))?;
        (e.session.expires_at > now)
            .then(|| e.flash.take())
            .flatten()
    }

    pub(super) fn end(&self, id: &str) {
        self.by_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id_hash(id));
    }

    pub(super) fn end_all(&self) {
        self.by_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
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

    fn sessions() -> MemorySessions {
        MemorySessions::new(Duration::from_secs(60), 4096)
    }

    #[test]
    fn a_session_is_found_by_its_id_until_it_expires() {
        let sessions = sessions();
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
        let sessions = sessions();
        let (id, _) = sessions.start(admin(), OffsetDateTime::now_utc());
        let map = sessions.by_hash.lock().expect("lock");
        assert!(map.contains_key(&id_hash(&id)));
        assert!(!map.keys().any(|k| hex::encode(k) == id));
    }

    #[test]
    fn logout_and_seal_end_sessions() {
        let sessions = sessions();
        let now = OffsetDateTime::now_utc();
        let (a, _) = sessions.start(admin(), now);
        let (b, _) = sessions.start(admin(), now);
        sessions.end(&a);
        assert!(sessions.get(&a, now).is_none());
        assert!(sessions.get(&b, now).is_some());
        sessions.end_all();
        assert!(sessions.get(&b, now).is_none());
    }

    #[test]
    fn a_flash_is_taken_once() {
        use secrecy::ExposeSecret;
        let sessions = sessions();
        let now = OffsetDateTime::now_utc();
        let (id, _) = sessions.start(admin(), now);
        assert!(sessions.put_flash(&id, SecretString::from("zvs_x".to_string()), now));
        let taken = sessions.take_flash(&id, now).expect("a flash");
        assert_eq!(taken.expose_secret(), "zvs_x");
        assert!(sessions.take_flash(&id, now).is_none());
        sessions.end(&id);
        assert!(!sessions.put_flash(&id, SecretString::from("zvs_y".to_string()), now));
    }

    #[test]
    fn a_second_secret_never_replaces_one_not_yet_shown() {
        use secrecy::ExposeSecret;
        let sessions = sessions();
        let now = OffsetDateTime::now_utc();
        let (id, _) = sessions.start(admin(), now);
        assert!(sessions.put_flash(&id, SecretString::from("zvs_1".to_string()), now));
        assert!(
            !sessions.put_flash(&id, SecretString::from("zvs_2".to_string()), now),
            "refused, so the caller shows it at once"
        );
        let taken = sessions.take_flash(&id, now).expect("a flash");
        assert_eq!(taken.expose_secret(), "zvs_1");
        assert!(sessions.put_flash(&id, SecretString::from("zvs_3".to_string()), now));
    }

    #[test]
    fn past_the_cap_the_oldest_session_is_dropped() {
        let sessions = MemorySessions::new(Duration::from_secs(60), 2);
        let now = OffsetDateTime::now_utc();
        let (a, _) = sessions.start(admin(), now);
        let (b, _) = sessions.start(admin(), now + Duration::from_secs(1));
        let (c, _) = sessions.start(admin(), now + Duration::from_secs(2));
        assert!(sessions.get(&a, now).is_none(), "the oldest made room");
        assert!(sessions.get(&b, now).is_some());
        assert!(sessions.get(&c, now).is_some());
    }
}
