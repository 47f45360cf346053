//! The storage interface: named trees of ordered byte keys and byte values.
//!
//! The interface is deliberately narrow (get, scan, atomic batches,
//! compare-and-swap) so that a second backend on a distributed database can
//! be added without touching the layers above. It knows nothing about
//! encryption: [`records`] seals every secret-bearing value before it gets
//! here. [`open`] is the one factory that picks the configured backend;
//! every layer above holds the clonable [`AsyncStore`].

pub mod disk;
mod handle;
pub mod postgres;
pub mod records;
pub mod sled;
pub mod sled_sync;

use std::ops::Bound;
use std::sync::Arc;

use crate::config::{Settings, StoreBackend};

pub use handle::{AsyncStore, BlockingStore};

/// The record kinds. Each is its own tree (or table) in the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tree {
    /// The vault header: KDF parameters, salt, wrapped data key.
    Meta,
    /// Admin and service bearer tokens, keyed by the token's SHA-256.
    Tokens,
    /// Token id to token hash, for listing and revoking by id.
    TokenIds,
    /// Zoho connections, keyed by name; sealed.
    Connections,
    /// Cached access tokens, keyed by connection name; sealed.
    AccessTokens,
    /// Single-use states of the browser redirect flow; sealed.
    OAuthStates,
    /// Audit events keyed by big-endian sequence number.
    Audit,
    /// Audit secondary indexes: (field, value, sequence) to nothing.
    AuditIndex,
    /// Audit events recorded while sealed (no chain key yet), chained at
    /// the next unseal.
    AuditPending,
    /// Webhook endpoints, keyed by id; sealed (URL and signing secret).
    WebhookEndpoints,
    /// Webhook events waiting to be fanned out to the endpoints, keyed by
    /// event id (time ordered).
    WebhookOutbox,
    /// Webhook deliveries in progress: (endpoint id, event id).
    WebhookDeliveries,
    /// Recent webhook delivery attempts: (endpoint id, time, event id).
    WebhookAttempts,
    /// Events already announced once (a service token's expiry).
    WebhookMarks,
    /// Admin console sessions (cluster mode), keyed by the SHA-256 of the
    /// session id; sealed. Not written to backups.
    ConsoleSessions,
}

impl Tree {
    /// Every tree, for backends that create them up front.
    pub const ALL: [Tree; 15] = [
        Tree::Meta,
        Tree::Tokens,
        Tree::TokenIds,
        Tree::Connections,
        Tree::AccessTokens,
        Tree::OAuthStates,
        Tree::Audit,
        Tree::AuditIndex,
        Tree::AuditPending,
        Tree::WebhookEndpoints,
        Tree::WebhookOutbox,
        Tree::WebhookDeliveries,
        Tree::WebhookAttempts,
        Tree::WebhookMarks,
        Tree::ConsoleSessions,
    ];

    /// The kind's stable one-byte id, the key prefix in single-keyspace
    /// backends. WARNING: part of the on-disk format; never renumber.
    pub const fn id(self) -> u8 {
        match self {
            Tree::Meta => 1,
            Tree::Tokens => 2,
            Tree::TokenIds => 3,
            Tree::Connections => 4,
            Tree::AccessTokens => 5,
            Tree::OAuthStates => 6,
            Tree::Audit => 7,
            Tree::AuditIndex => 8,
            Tree::AuditPending => 9,
            Tree::WebhookEndpoints => 10,
            Tree::WebhookOutbox => 11,
            Tree::WebhookDeliveries => 12,
            Tree::WebhookAttempts => 13,
            Tree::WebhookMarks => 14,
            Tree::ConsoleSessions => 15,
        }
    }

    /// The tree with this stable name.
    pub fn from_name(name: &str) -> Option<Tree> {
        Tree::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The tree's stable name. WARNING: part of the on-disk format and of
    /// every sealed record's associated data; never rename.
    pub const fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Tokens => "tokens",
            Tree::TokenIds => "token_ids",
            Tree::Connections => "connections",
            Tree::AccessTokens => "access_tokens",
            Tree::OAuthStates => "oauth_states",
            Tree::Audit => "audit",
            Tree::AuditIndex => "audit_index",
            Tree::AuditPending => "audit_pending",
            Tree::WebhookEndpoints => "webhook_endpoints",
            Tree::WebhookOutbox => "webhook_outbox",
            Tree::WebhookDeliveries => "webhook_deliveries",
            Tree::WebhookAttempts => "webhook_attempts",
            Tree::WebhookMarks => "webhook_marks",
            Tree::ConsoleSessions => "console_sessions",
        }
    }
}

/// One write in an atomic batch.
#[derive(Debug, Clone)]
pub enum Op {
    /// Insert or replace.
    Put {
        /// Target tree.
        tree: Tree,
        /// Key.
        key: Vec<u8>,
        /// New value.
        value: Vec<u8>,
    },
    /// Remove if present.
    Delete {
        /// Target tree.
        tree: Tree,
        /// Key.
        key: Vec<u8>,
    },
}

/// A key range scan.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Tree to scan.
    pub tree: Tree,
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
    /// Newest (highest key) first.
    pub reverse: bool,
    /// At most this many entries.
    pub limit: usize,
}

impl Scan {
    /// Every entry whose key starts with `prefix`, in key order.
    pub fn prefix(tree: Tree, prefix: &[u8], limit: usize) -> Self {
        Self {
            tree,
            start: Bound::Included(prefix.to_vec()),
            end: prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded),
            reverse: false,
            limit,
        }
    }
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Key-value pairs returned by a scan.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A compare-and-swap lost: the current value was not the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict;

/// Storage failures. Messages carry no record contents.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The data directory is held by another process.
    #[error("the data directory {0} is in use by another zoho-vault process")]
    Locked(String),
    /// The backend failed (I/O, corruption).
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// The database cannot be reached now (connection refused or lost, no
    /// connection free in time); the same call may succeed later.
    #[error("the database is unreachable: {0}")]
    Unreachable(String),
    /// A stored value could not be decoded.
    #[error("stored record {tree}/{key} is unreadable: {reason}")]
    Corrupt {
        /// Tree name.
        tree: &'static str,
        /// Printable key.
        key: String,
        /// What failed.
        reason: String,
    },
    /// The blocking task running the call was cancelled or panicked.
    #[error("storage task failed")]
    Task,
    /// A write failed for lack of space (`ENOSPC`/`EDQUOT`): nothing was
    /// changed and a later write succeeds once space is freed.
    #[error("storage backend failed: disk full: {0}")]
    DiskFull(String),
}

/// The storage interface every backend implements. Async and object safe
/// (`async-trait`), so the service holds one `Arc<dyn Store>` whatever the
/// backend; a blocking backend moves each call off the async workers.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one value.
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads a key range.
    async fn scan(&self, scan: Scan) -> Result<Entries, StoreError>;
    /// Applies all writes atomically and makes them durable before returning.
    async fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError>;
    /// Replaces `tree/key` with `new` (or removes it when `None`) only if its
    /// current value equals `expected`, durably; `Ok(Err(Conflict))` otherwise.
    async fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError>;
    /// [`Store::compare_and_swap`] and, only if it succeeds, `also`, all
    /// in one atomic durable write: a state change and the webhook event it
    /// causes land together or not at all.
    async fn compare_and_swap_with(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        also: Vec<Op>,
    ) -> Result<Result<(), Conflict>, StoreError>;
    /// Forces everything written so far to disk.
    async fn flush(&self) -> Result<(), StoreError>;
    /// Which backend this is ("sled", "postgres"), for health and logs.
    fn backend(&self) -> &'static str;
    /// Whether the backend's disk was full at its last write (local
    /// backends only).
    fn disk(&self) -> Option<Arc<disk::DiskState>> {
        None
    }
}

/// Whether the configured backend already holds a store (without creating
/// one): the offline commands refuse to create one by accident.
pub async fn exists(settings: &Settings) -> Result<bool, StoreError> {
    match settings.store.backend {
        StoreBackend::Sled => Ok(sled::SledStore::exists(&settings.data_dir)),
        StoreBackend::Postgres => postgres::PgStore::holds_records(postgres_url(settings)?).await,
    }
}

/// Opens the configured backend, creating an empty store if there is none.
/// The one place that picks a backend: `serve`, the offline commands,
/// backup and restore all open their store here.
pub async fn open(settings: &Settings) -> Result<AsyncStore, StoreError> {
    match settings.store.backend {
        StoreBackend::Sled => {
            let dir = &settings.data_dir;
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
            let cache = settings.store.cache_mib.saturating_mul(1024 * 1024);
            let store = sled::SledStore::open_with_cache(dir, cache)?;
            Ok(AsyncStore::new(Arc::new(store)))
        }
        StoreBackend::Postgres => {
            let store = open_postgres(settings).await?;
            Ok(AsyncStore::new(Arc::new(store)))
        }
    }
}

/// Connects to the configured PostgreSQL database and migrates its schema
/// (for the cluster wiring, which also needs the pool).
pub async fn open_postgres(settings: &Settings) -> Result<postgres::PgStore, StoreError> {
    postgres::PgStore::connect(postgres_url(settings)?, settings.store.postgres.pool_size).await
}

fn postgres_url(settings: &Settings) -> Result<&str, StoreError> {
    settings
        .store
        .postgres
        .url
        .as_ref()
        .map(|u| u.expose())
        .ok_or_else(|| {
            StoreError::Backend(
                "store.backend is postgres but store.postgres.url is not set \
                 (ZOHO_VAULT_STORE__POSTGRES__URL=postgres://USER:PASSWORD@HOST:5432/DB)"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests;
