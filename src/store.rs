//! The storage interface: named trees of ordered byte keys and byte values.
//!
//! The interface is deliberately narrow (get, scan, atomic batches,
//! compare-and-swap) so that a second backend on a distributed database can
//! be added without touching the layers above. It knows nothing about
//! encryption: [`records`] seals every secret-bearing value before it gets
//! here. [`open`] is the one factory that picks the configured backend;
//! every layer above holds the clonable [`AsyncStore`].

pub mod disk;
pub mod postgres;
pub mod records;
pub mod sled;
pub mod sled_sync;

use std::ops::Bound;
use std::sync::Arc;

use crate::config::{Settings, StoreBackend};

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
}

impl Tree {
    /// Every tree, for backends that create them up front.
    pub const ALL: [Tree; 9] = [
        Tree::Meta,
        Tree::Tokens,
        Tree::TokenIds,
        Tree::Connections,
        Tree::AccessTokens,
        Tree::OAuthStates,
        Tree::Audit,
        Tree::AuditIndex,
        Tree::AuditPending,
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
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is held by another process.
    #[error("the data directory {0} is in use by another zoho-vault process")]
    Locked(String),
    /// The backend failed (I/O, corruption).
    #[error("storage backend failed: {0}")]
    Backend(String),
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

/// A synchronous face of a [`Store`] for code that already runs on a
/// blocking thread (streaming a backup, verifying the audit chain). Each
/// call waits on the async store with [`tokio::runtime::Handle::block_on`];
/// never call it on an async worker.
pub trait BlockingStore: Send + Sync {
    /// See [`Store::get`].
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// See [`Store::scan`].
    fn scan(&self, scan: &Scan) -> Result<Entries, StoreError>;
    /// See [`Store::apply`].
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError>;
    /// See [`Store::compare_and_swap`].
    fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError>;
    /// See [`Store::flush`].
    fn flush(&self) -> Result<(), StoreError>;
}

/// [`BlockingStore`] over an async [`Store`], using the runtime of the
/// calling thread (a blocking-pool thread has one).
struct BlockOn {
    store: Arc<dyn Store>,
}

impl BlockOn {
    fn wait<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| StoreError::Task)?;
        handle.block_on(fut)
    }
}

impl BlockingStore for BlockOn {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.wait(self.store.get(tree, key))
    }

    fn scan(&self, scan: &Scan) -> Result<Entries, StoreError> {
        self.wait(self.store.scan(scan.clone()))
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.wait(self.store.apply(ops))
    }

    fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        self.wait(self.store.compare_and_swap(tree, key, expected, new))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.wait(self.store.flush())
    }
}

/// The clonable handle every layer above holds.
#[derive(Clone)]
pub struct AsyncStore {
    inner: Arc<dyn Store>,
    blocking: Arc<dyn BlockingStore>,
}

impl AsyncStore {
    /// Wraps a backend.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        let blocking: Arc<dyn BlockingStore> = Arc::new(BlockOn {
            store: Arc::clone(&inner),
        });
        Self { inner, blocking }
    }

    /// The synchronous face, for callers already on a blocking thread.
    pub fn blocking(&self) -> &Arc<dyn BlockingStore> {
        &self.blocking
    }

    /// Which backend this is.
    pub fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    /// See [`Store::disk`].
    pub fn disk(&self) -> Option<Arc<disk::DiskState>> {
        self.inner.disk()
    }

    /// See [`Store::get`].
    pub async fn get(&self, tree: Tree, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(tree, &key).await
    }

    /// See [`Store::scan`].
    pub async fn scan(&self, scan: Scan) -> Result<Entries, StoreError> {
        self.inner.scan(scan).await
    }

    /// See [`Store::apply`].
    pub async fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.inner.apply(ops).await
    }

    /// See [`Store::compare_and_swap`].
    pub async fn compare_and_swap(
        &self,
        tree: Tree,
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        self.inner
            .compare_and_swap(tree, &key, expected.as_deref(), new)
            .await
    }

    /// See [`Store::flush`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
}

/// Whether the configured backend already holds a store (without opening
/// it): the offline commands refuse to create one by accident.
pub fn exists(settings: &Settings) -> bool {
    match settings.store.backend {
        StoreBackend::Sled => sled::SledStore::exists(&settings.data_dir),
    }
}

/// Opens the configured backend, creating an empty store if there is none.
/// The one place that picks a backend: `serve`, the offline commands,
/// backup and restore all open their store here.
pub fn open(settings: &Settings) -> Result<AsyncStore, StoreError> {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_factory_opens_the_configured_backend_and_creates_its_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            data_dir: dir.path().join("vault"),
            ..Settings::default()
        };
        assert!(!exists(&settings));
        let store = open(&settings).expect("open");
        assert_eq!(store.backend(), "sled");
        store
            .apply(vec![Op::Put {
                tree: Tree::Meta,
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            }])
            .await
            .expect("apply");
        assert!(exists(&settings));
        assert!(matches!(open(&settings), Err(StoreError::Locked(_))));
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255, 255]), None);
    }

    #[test]
    fn tree_ids_are_unique_and_below_255() {
        let mut ids: Vec<u8> = Tree::ALL.iter().map(|t| t.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Tree::ALL.len());
        assert!(ids.iter().all(|id| *id < u8::MAX));
    }

    #[test]
    fn tree_names_are_unique() {
        let mut names: Vec<_> = Tree::ALL.iter().map(|t| t.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Tree::ALL.len());
    }
}
