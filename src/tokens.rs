//! The bearer-token registry: admin (`zva_`) and service (`zvs_`) tokens.
//!
//! A token is stored only as its SHA-256 hash (the record key); the record
//! itself (name, grants, expiry) is sealed like every other record. Tokens
//! also have a short public id, for listing and revoking without the token.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::{AuthError, Principal};
use crate::connections::upload::validate_name;
use crate::crypto::keys::DataKey;
use crate::crypto::token::{parse_bearer, PlainToken, TokenKind};
use crate::store::records::{open_value, seal_op, SealedRecord};
use crate::store::{AsyncStore, Op, Scan, StoreError, Tree};

/// Grant that reaches every connection.
pub const ALL_CONNECTIONS: &str = "*";

/// A stored token's metadata. Never holds the token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
        const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > 128 {
            return Err("`name` must have 1 to 128 characters".into());
        }
        if connections.is_empty() {
            return Err(
                "`connections` must name at least one connection, or be [\"*\"] for all".into(),
            );
        }
        for c in &connections {
            if c != ALL_CONNECTIONS {
                validate_name(c).map_err(|e| format!("`connections`: {e}"))?;
            }
        }
        let ttl = match ttl_secs {
            Some(0) => return Err("`ttl_secs` must be positive".into()),
            Some(secs) if secs > TEN_YEARS => {
                return Err("`ttl_secs` may be at most ten years".into())
            }
            Some(secs) => Some(time::Duration::seconds(secs as i64)),
            None => None,
        };
        Ok(Self {
            kind: TokenKind::Service,
            name,
            connections,
            ttl,
        })
    }
}

fn make_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
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
}

impl TokenRegistry {
    /// A registry over `store`.
    pub fn new(store: AsyncStore) -> Self {
        Self { store }
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
        let sealed = self
            .store
            .get(Tree::Tokens, hash.as_bytes().to_vec())
            .await?
            .ok_or(AuthError::Unknown)?;
        let record: TokenRecord = open_value(data_key, hash.as_bytes(), &sealed)?;
        if record.kind != kind {
            return Err(AuthError::Unknown);
        }
        if record.is_expired(OffsetDateTime::now_utc()) {
            return Err(AuthError::Expired);
        }
        Ok(Principal::from_record(&record))
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

    /// Looks a token up by its public id.
    pub async fn get_by_id(
        &self,
        data_key: &DataKey,
        id: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let Some(hash) = self
            .store
            .get(Tree::TokenIds, id.as_bytes().to_vec())
            .await?
        else {
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
        let Some(hash) = self
            .store
            .get(Tree::TokenIds, id.as_bytes().to_vec())
            .await?
        else {
            return Ok(None);
        };
        let record = self
            .store
            .get_sealed::<TokenRecord>(data_key, &hash)
            .await?;
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

    /// Number of tokens of each kind (cheap: counts the id index).
    pub async fn count(&self) -> Result<usize, StoreError> {
        Ok(self
            .store
            .scan(Scan::prefix(Tree::TokenIds, &[], usize::MAX))
            .await?
            .len())
    }
}
