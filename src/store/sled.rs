//! The embedded backend, in `<data_dir>/store-v1`.
//!
//! Every record kind lives in one sled tree (`kv`), its keys prefixed with
//! the kind's one-byte [`Tree::id`]. One keyspace makes every batch, however
//! many kinds it touches, a single-tree `apply_batch`, which sled applies
//! atomically without the cost of a multi-tree transaction (the audit
//! trail writes its events and their indexes in one batch per flush).
//! Every write is flushed to disk before it is acknowledged. When sled
//! stops after a failed write (a full disk), the store reopens it in place
//! ([`reopen`]).

mod handles;
pub mod reopen;
mod snapshots;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::disk::DiskState;
use super::{BlockingStore, Conflict, Entries, Op, Scan, Store, StoreError, Tree};
use handles::Handles;
use reopen::Slot;

/// Directory name of the store inside the data directory. The suffix is the
/// on-disk format version, so a future format can live beside this one
/// during a migration.
pub const STORE_DIR: &str = "store-v1";
/// Name of the one sled tree holding every record kind.
const KEYSPACE: &str = "kv";
/// Default page cache: small, since the working set (connections, tokens,
/// the audit head) is small; sled's own default is 1 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// The sled database.
pub struct SledStore {
    slot: Arc<Slot>,
    /// Whether the last write found the disk full.
    disk: Arc<DiskState>,
}

impl SledStore {
    /// Opens (creating if needed) the store under `data_dir` with the
    /// default page cache.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(data_dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens with a page cache of `cache_bytes`.
    pub fn open_with_cache(data_dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let path: PathBuf = data_dir.join(STORE_DIR);
        Ok(Self {
            slot: Arc::new(Slot::open(path, cache_bytes)?),
            disk: Arc::default(),
        })
    }

    /// Whether a store exists under `data_dir`, without opening it.
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(STORE_DIR).join("db").exists()
    }

    /// Runs one blocking sled call on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Handles) -> Result<T, StoreError> + Send + 'static,
    {
        let slot = Arc::clone(&self.slot);
        tokio::task::spawn_blocking(move || slot.with(f))
            .await
            .map_err(|_| StoreError::Task)?
    }

    /// Records whether a write found space, for health and metrics.
    fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match &result {
            Ok(_) => self.disk.succeeded(),
            Err(StoreError::DiskFull(_)) => self.disk.failed(),
            Err(_) => {}
        }
        result
    }
}

pub(super) fn backend(e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if super::disk::io_is_disk_full(io) => {
            StoreError::DiskFull(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
            StoreError::Locked(path.display().to_string())
        }
        sled::Error::Io(io) if io.to_string().contains("lock") => {
            StoreError::Locked(path.display().to_string())
        }
        _ => backend(e),
    }
}

#[async_trait::async_trait]
impl Store for SledStore {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_vec();
        self.run(move |h| h.get(tree, &key)).await
    }

    async fn scan(&self, scan: Scan) -> Result<Entries, StoreError> {
        self.run(move |h| h.scan(&scan)).await
    }

    async fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.observe(self.run(move |h| h.apply(ops)).await)
    }

    async fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let key = key.to_vec();
        let expected = expected.map(<[u8]>::to_vec);
        self.observe(
            self.run(move |h| h.compare_and_swap(tree, &key, expected.as_deref(), new))
                .await,
        )
    }

    async fn compare_and_swap_with(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        also: Vec<Op>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let key = key.to_vec();
        let expected = expected.map(<[u8]>::to_vec);
        self.observe(
            self.run(move |h| h.compare_and_swap_with(tree, &key, expected.as_deref(), new, also))
                .await,
        )
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.observe(self.run(|h| h.flush()).await)
    }

    fn disk(&self) -> Option<Arc<DiskState>> {
        Some(Arc::clone(&self.disk))
    }

    fn backend(&self) -> &'static str {
        "sled"
    }
}

/// Sled is blocking underneath: code already on a blocking thread (and
/// tests) may call it directly, without a runtime.
impl BlockingStore for SledStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.slot.with(|h| h.get(tree, key))
    }

    fn scan(&self, scan: &Scan) -> Result<Entries, StoreError> {
        self.slot.with(|h| h.scan(scan))
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.observe(self.slot.with(|h| h.apply(ops)))
    }

    fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        self.observe(
            self.slot
                .with(|h| h.compare_and_swap(tree, key, expected, new)),
        )
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.observe(self.slot.with(|h| h.flush()))
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Best effort: everything acknowledged was flushed already.
        self.slot.flush_at_close();
    }
}

#[cfg(test)]
mod tests;
