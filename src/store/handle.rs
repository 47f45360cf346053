//! The handle every layer above holds: [`AsyncStore`], a clonable
//! `Arc<dyn Store>`, and its synchronous face [`BlockingStore`] for code
//! that already runs on a blocking thread.

use std::sync::Arc;

use super::{Conflict, Entries, Op, Scan, Store, StoreError, Tree};

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
    pub fn disk(&self) -> Option<Arc<super::disk::DiskState>> {
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

    /// See [`Store::compare_and_swap_with`].
    pub async fn compare_and_swap_with(
        &self,
        tree: Tree,
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        also: Vec<Op>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        self.inner
            .compare_and_swap_with(tree, &key, expected.as_deref(), new, also)
            .await
    }

    /// See [`Store::flush`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
}
