//! The storage interface: named trees of ordered byte keys and byte values.
//!
//! The interface is deliberately narrow (get, scan, atomic batches,
//! compare-and-swap) so that a second backend on a distributed database can
//! be added without touching the layers above. It knows nothing about
//! encryption: [`records`] seals every secret-bearing value before it gets
//! here. Implementations are blocking; [`AsyncStore`] moves every call onto
//! tokio's blocking pool so the async workers never wait on disk.

pub mod records;
pub mod sled;
pub mod sled_sync;

use std::ops::Bound;
use std::sync::Arc;

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
}

/// The blocking storage interface every backend implements.
pub trait Store: Send + Sync + 'static {
    /// Reads one value.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads a key range.
    fn scan(&self, scan: &Scan) -> Result<Entries, StoreError>;
    /// Applies all writes atomically and makes them durable before returning.
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError>;
    /// Replaces `tree/key` with `new` (or removes it when `None`) only if its
    /// current value equals `expected`, durably; `Ok(Err(Conflict))` otherwise.
    fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError>;
    /// Forces everything written so far to disk.
    fn flush(&self) -> Result<(), StoreError>;
}

/// Async face of a [`Store`]: each call runs on the blocking pool.
#[derive(Clone)]
pub struct AsyncStore {
    inner: Arc<dyn Store>,
}

impl AsyncStore {
    /// Wraps a backend.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }

    /// The blocking backend, for callers already on a blocking thread.
    pub fn blocking(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| StoreError::Task)?
    }

    /// See [`Store::get`].
    pub async fn get(&self, tree: Tree, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(move |s| s.get(tree, &key)).await
    }

    /// See [`Store::scan`].
    pub async fn scan(&self, scan: Scan) -> Result<Entries, StoreError> {
        self.run(move |s| s.scan(&scan)).await
    }

    /// See [`Store::apply`].
    pub async fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.run(move |s| s.apply(ops)).await
    }

    /// See [`Store::compare_and_swap`].
    pub async fn compare_and_swap(
        &self,
        tree: Tree,
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        self.run(move |s| s.compare_and_swap(tree, &key, expected.as_deref(), new))
            .await
    }

    /// See [`Store::flush`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.run(|s| s.flush()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
