//! The bearer-token registry over the store: create, verify, list and
//! revoke admin (`zva_`) and service (`zvs_`) tokens.

use std::sync::Arc;

use time::OffsetDateTime;

use super::cache::VerificationCache;
use super::fill::Fills;
use super::last_use::LastUseWriter;
use super::new_token::NewToken;
use super::principal::Principal;
use super::record::{make_token, TokenRecord};
use super::AuthError;
use crate::coord::Coordinator;
use crate::crypto::keys::DataKey;
use crate::crypto::token::{parse_bearer, PlainToken, TokenKind};
use crate::store::records::open_value;
use crate::store::{AsyncStore, Op, Scan, StoreError, Tree};

/// Why an admin token could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeAdminError {
    /// It is the last admin token that is still valid.
    #[error("the last valid admin token cannot be revoked")]
    LastAdmin,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The registry over the store.
#[derive(Clone)]
pub struct TokenRegistry {
    pub(super) store: AsyncStore,
    cache: Arc<VerificationCache>,
    /// Store reads of verifications in progress, shared by the callers
    /// presenting the same token meanwhile.
    fills: Arc<Fills<Result<Principal, AuthError>>>,
    pub(super) last_use: LastUseWriter,
    /// Serialises admin revocations, so two racing ones cannot both see
    /// "another admin remains" and leave none.
    admin_revoke: Arc<tokio::sync::Mutex<()>>,
    /// Holds admin revocations at their check, to force an interleaving.
    #[cfg(test)]
    pub(super) race: Option<Arc<RaceProbe>>,
}

impl TokenRegistry {
    /// A registry over `store`. Revocations are published on `coord`, and
    /// the ones published there by anyone drop this registry's cached
    /// verifications.
    pub fn new(store: AsyncStore, coord: Arc<dyn Coordinator>) -> Self {
        Self {
            last_use: LastUseWriter::new(store.clone()),
            store,
            cache: Arc::new(VerificationCache::new(coord)),
            fills: Arc::new(Fills::new()),
            admin_revoke: Arc::new(tokio::sync::Mutex::new(())),
            #[cfg(test)]
            race: None,
        }
    }

    /// Creates and stores a token; the plain token is returned once.
    pub async fn create(
        &self,
        data_key: &DataKey,
        new: NewToken,
    ) -> Result<(PlainToken, TokenRecord), StoreError> {
        let (plain, record, ops) = make_token(data_key, new)?;
        self.store.apply(ops).await?;
        Ok((plain, record))
    }

    /// Resolves a presented bearer token to its principal.
    pub async fn authenticate(
        &self,
        data_key: &DataKey,
        presented: &str,
    ) -> Result<Principal, AuthError> {
        let (kind, hash) = parse_bearer(presented).ok_or(AuthError::Malformed)?;
        if let Some(hit) = self.cache.get(hash.as_bytes()) {
            if hit.kind != kind {
                return Err(AuthError::Unknown);
            }
            if hit
                .expires_at
                .is_some_and(|at| at <= OffsetDateTime::now_utc())
            {
                self.cache.forget(hash.as_bytes());
                return Err(AuthError::Expired);
            }
            return Ok(hit.principal);
        }
        let generation = self.cache.generation();
        let read = || self.verify_stored(data_key, kind, hash.as_bytes(), generation);
        self.fills.read(*hash.as_bytes(), generation, read).await
    }

    /// Verifies a token from its stored record and caches the result,
    /// unless a revocation happened since `generation`.
    async fn verify_stored(
        &self,
        data_key: &DataKey,
        kind: TokenKind,
        hash: &[u8; 32],
        generation: u64,
    ) -> Result<Principal, AuthError> {
        let sealed = self
            .store
            .get(Tree::Tokens, hash.to_vec())
            .await?
            .ok_or(AuthError::Unknown)?;
        let record: TokenRecord = open_value(data_key, hash, &sealed)?;
        if record.kind != kind {
            return Err(AuthError::Unknown);
        }
        let now = OffsetDateTime::now_utc();
        if record.is_expired(now) {
            return Err(AuthError::Expired);
        }
        let principal = Principal::from_record(&record);
        self.cache.remember(hash, &record, &principal, generation);
        self.last_use.note_use(data_key, hash, sealed, record, now);
        Ok(principal)
    }

    /// Callers waiting on store reads of verifications.
    #[cfg(test)]
    pub(super) fn reading(&self) -> usize {
        self.fills.callers()
    }

    /// Drops every cached verification (on seal).
    pub fn forget_all_verified(&self) {
        self.cache.clear();
    }

    /// Every token of `kind`, without secrets, oldest first.
    pub async fn list(
        &self,
        data_key: &DataKey,
        kind: Option<TokenKind>,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let mut out: Vec<TokenRecord> = self
            .store
            .scan_sealed::<TokenRecord>(data_key, &[], usize::MAX)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .collect();
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The stored hash (record key) of the token with public id `id`.
    async fn hash_of(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(Tree::TokenIds, id.as_bytes().to_vec()).await
    }

    /// Looks a token up by its public id.
    pub async fn get_by_id(
        &self,
        data_key: &DataKey,
        id: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let Some(hash) = self.hash_of(id).await? else {
            return Ok(None);
        };
        self.store.get_sealed::<TokenRecord>(data_key, &hash).await
    }

    /// Deletes a token by id; returns its record if it existed.
    pub async fn revoke(
        &self,
        data_key: &DataKey,
        id: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let Some(hash) = self.hash_of(id).await? else {
            return Ok(None);
        };
        let record = self
            .store
            .get_sealed::<TokenRecord>(data_key, &hash)
            .await?;
        // Forgotten before the delete (no cached verification passes while
        // it runs) and again after it: a verification read from the store
        // in between, which still found the record, is then neither cached
        // nor shared with a later request. Once this returns, no request to
        // this registry passes on the revoked token. Other registries drop
        // it when either published revocation reaches them (the second
        // after the delete, so a read they made in between goes too).
        self.cache.revoked(&hash);
        self.store
            .apply(vec![
                Op::Delete {
                    tree: Tree::Tokens,
                    key: hash.clone(),
                },
                Op::Delete {
                    tree: Tree::TokenIds,
                    key: id.as_bytes().to_vec(),
                },
            ])
            .await?;
        self.cache.revoked(&hash);
        Ok(record)
    }

    /// Revokes an admin token by id unless no other valid (unexpired) admin
    /// token would remain; `Ok(None)` when there is no admin token `id`.
    pub async fn revoke_admin(
        &self,
        data_key: &DataKey,
        id: &str,
    ) -> Result<Option<TokenRecord>, RevokeAdminError> {
        let _serialised = match self.admin_revoke.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                #[cfg(test)]
                if let Some(race) = &self.race {
                    race.contended();
                }
                self.admin_revoke.lock().await
            }
        };
        match self.get_by_id(data_key, id).await? {
            Some(r) if r.kind == TokenKind::Admin => {}
            _ => return Ok(None),
        }
        let now = OffsetDateTime::now_utc();
        let others = self
            .list(data_key, Some(TokenKind::Admin))
            .await?
            .into_iter()
            .filter(|r| r.id != id && !r.is_expired(now))
            .count();
        #[cfg(test)]
        if let Some(race) = &self.race {
            race.counted().await;
        }
        if others == 0 {
            return Err(RevokeAdminError::LastAdmin);
        }
        Ok(self.revoke(data_key, id).await?)
    }

    /// Number of tokens of each kind (cheap: counts the id index).
    pub async fn count(&self) -> Result<usize, StoreError> {
        Ok(self
            .store
            .scan(Scan::prefix(Tree::TokenIds, &[], usize::MAX))
            .await?
            .len())
    }
}

/// Forces the interleaving of two racing admin revocations (tests only):
/// the first to finish counting the other admins waits until the second
/// has counted too (the two raced) or is waiting for the lock (they were
/// serialised). Either way the wait ends, with no timing involved.
#[cfg(test)]
#[derive(Default)]
pub(super) struct RaceProbe {
    /// (revocations that counted, revocations that found the lock taken).
    seen: tokio::sync::watch::Sender<(usize, usize)>,
}

#[cfg(test)]
impl RaceProbe {
    fn contended(&self) {
        self.seen.send_modify(|(_, contended)| *contended += 1);
    }

    async fn counted(&self) {
        self.seen.send_modify(|(counted, _)| *counted += 1);
        let mut seen = self.seen.subscribe();
        seen.wait_for(|&(counted, contended)| counted >= 2 || contended >= 1)
            .await
            .expect("the probe lives as long as the registry");
    }
}
