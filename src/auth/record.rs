//! The stored token record (never the token itself), its public id, and
//! the writes that create one.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::new_token::NewToken;
use crate::crypto::keys::DataKey;
use crate::crypto::token::{PlainToken, TokenKind};
use crate::store::records::{seal_op, SealedRecord};
use crate::store::{Op, StoreError, Tree};

/// Grant that reaches every connection.
pub const ALL_CONNECTIONS: &str = "*";

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
    /// When the token was last accepted, to within
    /// [`LAST_USE_EVERY`](super::LAST_USE_EVERY);
    /// `None` if never. Records from before this field open with `None`.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_used_at: Option<OffsetDateTime>,
    /// `token` (may fetch access tokens) or `proxy` (proxy only). Records
    /// from before this field read as `token`.
    #[serde(default)]
    pub access: super::TokenAccess,
    /// Path prefixes the proxy allows this token (none: every path).
    #[serde(default)]
    pub proxy_paths: Vec<String>,
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

/// Whether `id` has the shape of a token id (`tok_` + 16 lowercase hex).
pub fn is_token_id(id: &str) -> bool {
    id.len() == 20
        && id.starts_with("tok_")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn make_id() -> String {
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
        access: new.access,
        proxy_paths: new.proxy_paths,
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
