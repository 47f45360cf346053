//! The bearer-token registry: admin (`zva_`) and service (`zvs_`) tokens.
//!
//! A token is stored only as its SHA-256 hash (the record key); the record
//! itself (name, grants, expiry, last use) is sealed like every other
//! record. Tokens also have a short public id, for listing and revoking
//! without the token.
//!
//! Last use is recorded at most once per [`LAST_USE_EVERY`] per token, by a
//! background task that never delays or fails the request, with a
//! compare-and-swap so that a revocation racing it always wins (a revoked
//! token is never written back).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::{AuthError, Principal};
use crate::crypto::keys::DataKey;
use crate::crypto::token::{parse_bearer, PlainToken, TokenKind};
use crate::store::records::{open_value, seal_op, SealedRecord};
use crate::store::{AsyncStore, Op, Scan, StoreError, Tree};

/// Grant that reaches every connection.
pub const ALL_CONNECTIONS: &str = "*";
/// `last_used_at` is written at most this often per token.
pub const LAST_USE_EVERY: Duration = Duration::from_secs(60);
/// Longest token lifetime (`ttl_secs`).
const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;

/// A stored token's metadata. Never holds the token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// Public id (`tok_` + 16 hex), used to list and revoke.
    pub id: String,
    /// Admin or service.
    pub kind: TokenKind,
    /// Human name given at creation.
    pub name: String,
    /// Connections a service token may use (`*` for all); empty for admins.
    pub connections: Vec<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Optional expiry.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
    /// When the token was last accepted, to within [`LAST_USE_EVERY`];
    /// `None` if never. Records from before this field open with `None`.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_used_at: Option<OffsetDateTime>,
}

impl SealedRecord for TokenRecord {
    const TREE: Tree = Tree::Tokens;
    const SCHEMA: u8 = 1;
}

impl TokenRecord {
    /// Whether the token has passed its expiry at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// What a new token should be.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Admin or service.
    pub kind: TokenKind,
    /// Human name.
    pub name: String,
    /// Granted connections (service tokens).
    pub connections: Vec<String>,
    /// Lifetime; `None` for no expiry.
    pub ttl: Option<time::Duration>,
}

impl NewToken {
    /// Validates a service token request; the `Err` is a message for a 400.
    pub fn service(
        name: String,
        connections: Vec<String>,
        ttl_secs: Option<u64>,
    ) -> Result<Self, String> {
        let name = check_token_name(name)?;
        if connections.is_empty() {
            return Err(
                "`connections` must name at least one connection, or be [\"*\"] for all".into(),
            );
        }
        for c in &connections {
            if c != ALL_CONNECTIONS {
                crate::model::ConnectionName::parse(c.as_str())
                    .map_err(|e| format!("`connections`: {e}"))?;
            }
        }
        Ok(Self {
            kind: TokenKind::Service,
            name,
            connections,
            ttl: check_ttl(ttl_secs)?,
        })
    }

    /// Validates an admin token request; the `Err` is a message for a 400.
    pub fn admin(name: String, ttl_secs: Option<u64>) -> Result<Self, String> {
        Ok(Self {
            kind: TokenKind::Admin,
            name: check_token_name(name)?,
            connections: Vec::new(),
            ttl: check_ttl(ttl_secs)?,
        })
    }
}

fn check_token_name(name: String) -> Result<String, String> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 128 {
        return Err("`name` must have 1 to 128 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("`name` may not hold control characters".into());
    }
    Ok(name)
}

fn check_ttl(ttl_secs: Option<u64>) -> Result<Option<time::Duration>, String> {
    match ttl_secs {
        Some(0) => Err("`ttl_secs` must be positive".into()),
        Some(secs) if secs > TEN_YEARS => Err("`ttl_secs` may be at most ten years".into()),
        // At most ten years, so the cast cannot wrap.
        Some(secs) => Ok(Some(time::Duration::seconds(secs as i64))),
        None => Ok(None),
    }
}

/// Whether `id` has the shape of a token id (`tok_` + 16 lowercase hex).
pub fn is_token_id(id: &str) -> bool {
    id.len() == 20
        && id.starts_with("tok_")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

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

fn make_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex = hex::encode(bytes);
    format!("tok_{hex}")
}

/// Builds a token and the writes that store it, for callers that need them
/// in a larger atomic batch (vault initialisation).
pub fn make_token(
    data_key: &DataKey,
    new: NewToken,
) -> Result<(PlainToken, TokenRecord, Vec<Op>), StoreError> {
    let plain = PlainToken::make(new.kind);
    let now = OffsetDateTime::now_utc();
    let record = TokenRecord {
        id: make_id(),
        kind: new.kind,
        name: new.name,
        connections: new.connections,
        created_at: now,
        expires_at: new.ttl.map(|ttl| now + ttl),
        last_used_at: None,
    };
    let hash = plain.hash();
    let ops = vec![
        seal_op(data_key, hash.as_bytes(), &record)?,
        Op::Put {
            tree: Tree::TokenIds,
            key: record.id.as_bytes().to_vec(),
            value: hash.as_bytes().to_vec(),
        },
    ];
    Ok((plain, record, ops))
}

/// The registry over the store.
#[derive(Clone)]
pub struct TokenRegistry {
    store: AsyncStore,
    /// Tokens verified within [`LAST_USE_EVERY`], by hash, so the hot path
    /// of a request does not touch the store. Holds no secret. Only tokens
    /// that verified are cached, so garbage cannot grow it.
    verified: Arc<std::sync::RwLock<HashMap<[u8; 32], Verified>>>,
    /// Bumped by every revocation: a verification read from the store
    /// before a revocation is not cached after it.
    revocations: Arc<std::sync::atomic::AtomicU64>,
    /// When each token's last use was last written (or scheduled).
    last_use: Arc<Mutex<HashMap<String, Instant>>>,
    /// Serialises admin revocations, so two racing ones cannot both see
    /// "another admin remains" and leave none.
    admin_revoke: Arc<tokio::sync::Mutex<()>>,
}

/// A cached verification.
#[derive(Clone)]
struct Verified {
    kind: TokenKind,
    principal: Principal,
    expires_at: Option<OffsetDateTime>,
    at: Instant,
}

impl TokenRegistry {
    /// A registry over `store`.
    pub fn new(store: AsyncStore) -> Self {
        Self {
            store,
            verified: Arc::default(),
            revocations: Arc::default(),
            last_use: Arc::new(Mutex::new(HashMap::new())),
            admin_revoke: Arc::new(tokio::sync::Mutex::new(())),
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
        let now = OffsetDateTime::now_utc();
        if let Some(hit) = self.cached(hash.as_bytes()) {
            if hit.kind != kind {
                return Err(AuthError::Unknown);
            }
            if hit.expires_at.is_some_and(|at| at <= now) {
                self.forget_verified(hash.as_bytes());
                return Err(AuthError::Expired);
            }
            return Ok(hit.principal);
        }
        let generation = self.revocations.load(std::sync::atomic::Ordering::Acquire);
        let sealed = self
            .store
            .get(Tree::Tokens, hash.as_bytes().to_vec())
            .await?
            .ok_or(AuthError::Unknown)?;
        let record: TokenRecord = open_value(data_key, hash.as_bytes(), &sealed)?;
        if record.kind != kind {
            return Err(AuthError::Unknown);
        }
        if record.is_expired(now) {
            return Err(AuthError::Expired);
        }
        let principal = Principal::from_record(&record);
        self.remember(hash.as_bytes(), &record, &principal, generation);
        self.note_use(data_key, hash.as_bytes(), sealed, record, now);
        Ok(principal)
    }

    /// A verification younger than [`LAST_USE_EVERY`]; older ones are read
    /// again from the store, which also writes the token's last use and
    /// bounds how long a change made elsewhere takes to be seen.
    fn cached(&self, hash: &[u8; 32]) -> Option<Verified> {
        let map = self.verified.read().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|v| v.at.elapsed() < LAST_USE_EVERY)
            .cloned()
    }

    fn remember(
        &self,
        hash: &[u8; 32],
        record: &TokenRecord,
        principal: &Principal,
        generation: u64,
    ) {
        let mut map = self.verified.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock that revocations also take.
        if self.revocations.load(std::sync::atomic::Ordering::Acquire) != generation {
            return;
        }
        map.insert(
            *hash,
            Verified {
                kind: record.kind,
                principal: principal.clone(),
                expires_at: record.expires_at,
                at: Instant::now(),
            },
        );
    }

    fn forget_verified(&self, hash: &[u8]) {
        let mut map = self.verified.write().unwrap_or_else(|p| p.into_inner());
        self.revocations
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        map.retain(|k, _| k.as_slice() != hash);
    }

    /// Drops every cached verification (on seal).
    pub fn forget_all_verified(&self) {
        self.verified
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Schedules the `last_used_at` write when this token's last one is
    /// older than [`LAST_USE_EVERY`]. Best effort and off the request path:
    /// the write runs in its own task, a failure is only logged, and the
    /// compare-and-swap against the bytes just read means a token revoked
    /// (or changed) in between is left alone.
    fn note_use(
        &self,
        data_key: &DataKey,
        hash: &[u8],
        sealed: Vec<u8>,
        mut record: TokenRecord,
        now: OffsetDateTime,
    ) {
        let recent = record
            .last_used_at
            .is_some_and(|at| now - at < LAST_USE_EVERY);
        if recent || !self.claim_last_use_slot(&record.id) {
            return;
        }
        record.last_used_at = Some(now);
        let value = match seal_op(data_key, hash, &record) {
            Ok(Op::Put { value, .. }) => value,
            Ok(Op::Delete { .. }) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot seal a token's last use");
                return;
            }
        };
        let store = self.store.clone();
        let key = hash.to_vec();
        let id = record.id;
        tokio::spawn(async move {
            match store
                .compare_and_swap(Tree::Tokens, key, Some(sealed), Some(value))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    tracing::debug!(token_id = %id, "token changed or revoked meanwhile; last use not written")
                }
                Err(e) => {
                    tracing::warn!(token_id = %id, error = %e, "cannot record a token's last use")
                }
            }
        });
    }

    /// Whether this process should write `id`'s last use now (at most once
    /// per [`LAST_USE_EVERY`]); forgets entries older than that, so the map
    /// holds at most the tokens used in the last minute.
    fn claim_last_use_slot(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut map = self
            .last_use
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map
            .get(id)
            .is_some_and(|at| now.duration_since(*at) < LAST_USE_EVERY)
        {
            return false;
        }
        if map.len() >= 1024 {
            map.retain(|_, at| now.duration_since(*at) < LAST_USE_EVERY);
        }
        map.insert(id.to_string(), now);
        true
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
        // Forgotten before the delete, and a verification read before it is
        // never cached after it (see `revocations`): once this returns, no
        // request passes on the revoked token.
        self.forget_verified(&hash);
        self.store
            .apply(vec![
                Op::Delete {
                    tree: Tree::Tokens,
                    key: hash,
                },
                Op::Delete {
                    tree: Tree::TokenIds,
                    key: id.as_bytes().to_vec(),
                },
            ])
            .await?;
        Ok(record)
    }

    /// Revokes an admin token by id unless no other valid (unexpired) admin
    /// token would remain; `Ok(None)` when there is no admin token `id`.
    pub async fn revoke_admin(
        &self,
        data_key: &DataKey,
        id: &str,
    ) -> Result<Option<TokenRecord>, RevokeAdminError> {
        let _serialised = self.admin_revoke.lock().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled::SledStore;

    fn registry() -> (tempfile::TempDir, TokenRegistry, DataKey) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("sled")));
        (dir, TokenRegistry::new(store), DataKey::make())
    }

    async fn stored(reg: &TokenRegistry, dk: &DataKey, plain: &PlainToken) -> Option<TokenRecord> {
        reg.store
            .get_sealed::<TokenRecord>(dk, plain.hash().as_bytes())
            .await
            .expect("get")
    }

    fn admin(name: &str) -> NewToken {
        NewToken::admin(name.into(), None).expect("valid")
    }

    #[tokio::test]
    async fn last_use_is_written_in_the_background_once_per_interval() {
        let (_dir, reg, dk) = registry();
        let (plain, _) = reg.create(&dk, admin("a")).await.expect("create");
        reg.authenticate(&dk, plain.expose()).await.expect("auth");
        let mut first = None;
        for _ in 0..100 {
            first = stored(&reg, &dk, &plain).await.and_then(|r| r.last_used_at);
            if first.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(first.is_some(), "last use never written");
        reg.authenticate(&dk, plain.expose()).await.expect("auth");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            stored(&reg, &dk, &plain).await.and_then(|r| r.last_used_at),
            first
        );
    }

    #[tokio::test]
    async fn a_late_last_use_write_never_brings_a_revoked_token_back() {
        let (_dir, reg, dk) = registry();
        let (plain, record) = reg.create(&dk, admin("a")).await.expect("create");
        let hash = plain.hash();
        let sealed = reg
            .store
            .get(Tree::Tokens, hash.as_bytes().to_vec())
            .await
            .expect("get")
            .expect("stored");
        // The request read the record, then the token was revoked, then
        // the last-use write ran.
        reg.revoke(&dk, &record.id).await.expect("revoke");
        reg.note_use(
            &dk,
            hash.as_bytes(),
            sealed,
            record,
            OffsetDateTime::now_utc(),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(stored(&reg, &dk, &plain).await.is_none());
        assert!(matches!(
            reg.authenticate(&dk, plain.expose()).await,
            Err(AuthError::Unknown)
        ));
    }

    #[tokio::test]
    async fn racing_admin_revocations_always_leave_one_admin() {
        let (_dir, reg, dk) = registry();
        let (_, a) = reg.create(&dk, admin("a")).await.expect("create");
        let (_, b) = reg.create(&dk, admin("b")).await.expect("create");
        let (ra, rb) = tokio::join!(reg.revoke_admin(&dk, &a.id), reg.revoke_admin(&dk, &b.id));
        let revoked = [&ra, &rb]
            .iter()
            .filter(|r| matches!(r, Ok(Some(_))))
            .count();
        let refused = [&ra, &rb]
            .iter()
            .filter(|r| matches!(r, Err(RevokeAdminError::LastAdmin)))
            .count();
        assert_eq!((revoked, refused), (1, 1), "{ra:?} {rb:?}");
        let left = reg.list(&dk, Some(TokenKind::Admin)).await.expect("list");
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn token_ids_have_one_shape() {
        assert!(is_token_id(&make_id()));
        for bad in [
            "",
            "tok_",
            "tok_0123456789abcdeF",
            "tok_0123456789abcdef0",
            "../../x",
        ] {
            assert!(!is_token_id(bad), "{bad}");
        }
    }

    #[test]
    fn records_without_last_use_still_open() {
        let old = r#"{"id":"tok_0123456789abcdef","kind":"admin","name":"a","connections":[],
            "created_at":"2026-01-01T00:00:00Z","expires_at":null}"#;
        let r: TokenRecord = serde_json::from_str(old).expect("old record");
        assert_eq!(r.last_used_at, None);
    }

    #[tokio::test]
    async fn a_cached_verification_does_not_outlive_a_revocation() {
        let (_dir, reg, dk) = registry();
        let (plain, record) = reg
            .create(
                &dk,
                NewToken::service("b".into(), vec!["*".into()], None).expect("new"),
            )
            .await
            .expect("create");
        // First use reads the store and caches; the second is served from memory.
        reg.authenticate(&dk, plain.expose()).await.expect("first");
        reg.authenticate(&dk, plain.expose()).await.expect("cached");
        reg.revoke(&dk, &record.id).await.expect("revoke");
        assert!(matches!(
            reg.authenticate(&dk, plain.expose()).await,
            Err(AuthError::Unknown)
        ));
    }

    #[tokio::test]
    async fn a_cached_verification_still_checks_expiry() {
        let (_dir, reg, dk) = registry();
        let (plain, _) = reg
            .create(
                &dk,
                NewToken::service("b".into(), vec!["*".into()], Some(1)).expect("new"),
            )
            .await
            .expect("create");
        reg.authenticate(&dk, plain.expose()).await.expect("fresh");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert!(matches!(
            reg.authenticate(&dk, plain.expose()).await,
            Err(AuthError::Expired)
        ));
    }
}
