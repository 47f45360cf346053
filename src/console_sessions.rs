//! Admin console sessions kept in the store, so that every replica of a
//! cluster serves every session (the embedded store's single process keeps
//! them in memory instead: see `service::sessions`).
//!
//! A session id is 32 random bytes (64 hex characters) held only by the
//! browser's cookie. The record lives in [`Tree::ConsoleSessions`] under
//! the SHA-256 of the id and is sealed like every record (AEAD bound to
//! tree, key and schema): it holds the admin token's public id, the
//! creation time and the expiry, never the id or a token. The CSRF token
//! of a session is not stored at all: it is an HMAC of the id under a key
//! derived from the data key, so every unsealed replica computes the same
//! one and a sealed replica none.
//!
//! A session may hold one "flash": a secret the next page shows once (a
//! new service token, after the form that made it redirected). It is
//! sealed in the record like the rest, and taken out with a
//! compare-and-swap, so two replicas answering two reloads at once show it
//! once between them.

use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::crypto::keys::DataKey;
use crate::store::records::{open_value, seal_op, SealedRecord, SealedSecret};
use crate::store::{AsyncStore, Op, Scan, StoreError, Tree};

/// WARNING: a subkey label; changing it logs every admin out (their forms'
/// tokens stop matching), so never change it.
const CSRF_LABEL: &str = "console-csrf";

/// Most sessions looked at by one sweep (above the cap, so a full table
/// is still seen whole).
const SWEEP_LIMIT: usize = 10_000;

/// A new random session id: 64 hex characters.
pub fn new_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The key a session is found by: the SHA-256 of its id.
pub fn id_hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The CSRF token of session `id`: HMAC-SHA256 under a subkey of the data
/// key, in hex. The same on every replica; nothing to store.
pub fn csrf_token(data_key: &DataKey, id: &str) -> String {
    hex::encode(data_key.derive_subkey(CSRF_LABEL).mac(id.as_bytes()))
}

/// One session as stored (sealed). Holds no secret: the admin token is
/// named by its public id. Unknown fields are ignored, not refused: during
/// a rolling upgrade an older replica must still read the rows a newer one
/// wrote, or every session would end on it (a change that older replicas
/// must not read raises `SCHEMA`, which the seal binds).
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Public id of the admin token that logged in.
    pub token_id: String,
    /// When the session started.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it ends.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// A secret to show on the next page, once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<SealedSecret>,
}

impl SealedRecord for SessionRecord {
    const TREE: Tree = Tree::ConsoleSessions;
    const SCHEMA: u8 = 1;
}

/// The sessions in the store, shared by every replica.
#[derive(Clone)]
pub struct StoredSessions {
    store: AsyncStore,
    ttl: std::time::Duration,
    max: usize,
}

impl StoredSessions {
    /// Sessions of `ttl` in `store`, at most about `max` at once.
    pub fn new(store: AsyncStore, ttl: std::time::Duration, max: usize) -> Self {
        Self {
            store,
            ttl,
            max: max.max(1),
        }
    }

    /// Starts a session for admin token `token_id`: answers its id and
    /// record. When the table is full, expired sessions are swept and, if
    /// it still is, the ones that end soonest make room.
    pub async fn start(
        &self,
        data_key: &DataKey,
        token_id: &str,
        now: OffsetDateTime,
    ) -> Result<(String, SessionRecord), StoreError> {
        let rows = self.rows().await?;
        // Opening a row costs a decryption: only a full table is opened
        // (the periodic sweep and lookups delete expired rows meanwhile).
        let live = if rows.len() >= self.max {
            self.drop_expired(data_key, rows, now).await?
        } else {
            Vec::new()
        };
        if live.len() >= self.max {
            let mut live = live;
            live.sort_by_key(|(_, expires_at)| *expires_at);
            let drop = live.len() + 1 - self.max;
            let ops = live
                .into_iter()
                .take(drop)
                .map(|(key, _)| Op::Delete {
                    tree: Tree::ConsoleSessions,
                    key,
                })
                .collect();
            self.store.apply(ops).await?;
        }
        let id = new_id();
        let record = SessionRecord {
            token_id: token_id.to_string(),
            created_at: now,
            expires_at: now + self.ttl,
            flash: None,
        };
        self.store
            .put_sealed(data_key, &id_hash(&id), &record)
            .await?;
        Ok((id, record))
    }

    /// The session with this id if it has not expired; an expired one is
    /// deleted. A record that does not open is treated as absent.
    pub async fn get(
        &self,
        data_key: &DataKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let key = id_hash(id);
        let Some(sealed) = self.store.get(Tree::ConsoleSessions, key.to_vec()).await? else {
            return Ok(None);
        };
        match open_value::<SessionRecord>(data_key, &key, &sealed) {
            Ok(r) if r.expires_at > now => Ok(Some(r)),
            Ok(_) => {
                self.end(id).await?;
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(error = %e, "a console session record does not open; refused");
                Ok(None)
            }
        }
    }

    /// Holds `secret` in live session `id` for the next page; false when
    /// there is no such session, or while an earlier secret waits to be
    /// shown (the caller then shows this one at once: neither is lost).
    pub async fn put_flash(
        &self,
        data_key: &DataKey,
        id: &str,
        secret: SecretString,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let put = |r: &mut SessionRecord| {
            if r.flash.is_some() {
                return None;
            }
            r.flash = Some(secret.clone().into());
            Some(())
        };
        Ok(self.change(data_key, id, now, put).await?.is_some())
    }

    /// Takes the flash out of live session `id`: it is answered once.
    pub async fn take_flash(
        &self,
        data_key: &DataKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<SecretString>, StoreError> {
        let take = |r: &mut SessionRecord| r.flash.take().map(|f| f.secret().clone());
        self.change(data_key, id, now, take).await
    }

    /// Applies `change` to live session `id` and writes it back only if
    /// the row is still what was read (a logout in between is not undone);
    /// `None` when there is no live session, `change` answers `None`, or
    /// the row kept changing.
    async fn change<T>(
        &self,
        data_key: &DataKey,
        id: &str,
        now: OffsetDateTime,
        change: impl Fn(&mut SessionRecord) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        let key = id_hash(id);
        for _ in 0..3 {
            let Some(sealed) = self.store.get(Tree::ConsoleSessions, key.to_vec()).await? else {
                return Ok(None);
            };
            let mut record = match open_value::<SessionRecord>(data_key, &key, &sealed) {
                Ok(r) if r.expires_at > now => r,
                _ => return Ok(None),
            };
            let Some(out) = change(&mut record) else {
                return Ok(None);
            };
            let Op::Put { value, .. } = seal_op(data_key, &key, &record)? else {
                return Err(StoreError::Backend(
                    "sealing a session did not yield a write".into(),
                ));
            };
            let swapped = self
                .store
                .compare_and_swap(
                    Tree::ConsoleSessions,
                    key.to_vec(),
                    Some(sealed),
                    Some(value),
                )
                .await?;
            if swapped.is_ok() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    /// Ends the session with this id (if there is one).
    pub async fn end(&self, id: &str) -> Result<(), StoreError> {
        self.store
            .apply(vec![Op::Delete {
                tree: Tree::ConsoleSessions,
                key: id_hash(id).to_vec(),
            }])
            .await
    }

    /// Deletes expired (and unreadable) sessions; answers the live ones'
    /// keys and expiries.
    pub async fn sweep(
        &self,
        data_key: &DataKey,
        now: OffsetDateTime,
    ) -> Result<Vec<(Vec<u8>, OffsetDateTime)>, StoreError> {
        let rows = self.rows().await?;
        self.drop_expired(data_key, rows, now).await
    }

    /// Every session row, still sealed.
    async fn rows(&self) -> Result<crate::store::Entries, StoreError> {
        self.store
            .scan(Scan::prefix(Tree::ConsoleSessions, &[], SWEEP_LIMIT))
            .await
    }

    /// Deletes the expired (and unreadable) rows of `entries`; answers the
    /// live ones' keys and expiries.
    async fn drop_expired(
        &self,
        data_key: &DataKey,
        entries: crate::store::Entries,
        now: OffsetDateTime,
    ) -> Result<Vec<(Vec<u8>, OffsetDateTime)>, StoreError> {
        let mut live = Vec::new();
        let mut ops = Vec::new();
        for (key, value) in entries {
            match open_value::<SessionRecord>(data_key, &key, &value) {
                Ok(r) if r.expires_at > now => live.push((key, r.expires_at)),
                _ => ops.push(Op::Delete {
                    tree: Tree::ConsoleSessions,
                    key,
                }),
            }
        }
        if !ops.is_empty() {
            self.store.apply(ops).await?;
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests;
