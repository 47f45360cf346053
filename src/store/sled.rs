//! The embedded backend, in `<data_dir>/store-v1`.
//!
//! Every record kind lives in one sled tree (`kv`), its keys prefixed with
//! the kind's one-byte [`Tree::id`]. One keyspace makes every batch, however
//! many kinds it touches, a single-tree `apply_batch`, which sled applies
//! atomically without the cost of a multi-tree transaction (the audit
//! trail writes its events and their indexes in one batch per flush).
//! Every write is flushed to disk before it is acknowledged.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use super::{BlockingStore, Conflict, Entries, Op, Scan, Store, StoreError, Tree};

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
    handles: Handles,
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
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| open_error(&path, e))?;
        let kv = db.open_tree(KEYSPACE).map_err(backend)?;
        let data_file = super::sled_sync::DataFileSync::open(&path)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self {
            handles: Handles {
                db,
                kv,
                data_file: std::sync::Arc::new(data_file),
                disk: std::sync::Arc::default(),
            },
        })
    }

    /// Whether a store exists under `data_dir`, without opening it.
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(STORE_DIR).join("db").exists()
    }
}

/// The physical key of `key` in `tree`.
fn physical(tree: Tree, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(tree.id());
    out.extend_from_slice(key);
    out
}

fn physical_bound(tree: Tree, bound: &Bound<Vec<u8>>, is_start: bool) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(k) => Bound::Included(physical(tree, k)),
        Bound::Excluded(k) => Bound::Excluded(physical(tree, k)),
        // The whole kind: from its prefix up to the next kind's prefix.
        Bound::Unbounded if is_start => Bound::Included(vec![tree.id()]),
        Bound::Unbounded => Bound::Excluded(vec![tree.id() + 1]),
    }
}

fn backend(e: sled::Error) -> StoreError {
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

/// The sled calls themselves, blocking; [`Store`] runs each one on tokio's
/// blocking pool.
#[derive(Clone)]
struct Handles {
    db: sled::Db,
    kv: sled::Tree,
    /// `fdatasync` after each flush (see [`super::sled_sync`]).
    data_file: std::sync::Arc<super::sled_sync::DataFileSync>,
    /// Whether the last write found the disk full.
    disk: std::sync::Arc<super::disk::DiskState>,
}

impl Handles {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .kv
            .get(physical(tree, key))
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn scan(&self, scan: &Scan) -> Result<Entries, StoreError> {
        let start = physical_bound(scan.tree, &scan.start, true);
        let end = physical_bound(scan.tree, &scan.end, false);
        let range = self.kv.range((start, end));
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if scan.reverse
        {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        iter.take(scan.limit)
            .map(|item| {
                item.map(|(k, v)| (k[1..].to_vec(), v.to_vec()))
                    .map_err(backend)
            })
            .collect()
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                Op::Put { tree, key, value } => batch.insert(physical(tree, &key), value),
                Op::Delete { tree, key } => batch.remove(physical(tree, &key)),
            }
        }
        self.kv.apply_batch(batch).map_err(backend)?;
        self.flush()
    }

    fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let outcome = self
            .kv
            .compare_and_swap(physical(tree, key), expected, new)
            .map_err(backend)?;
        match outcome {
            Ok(()) => {
                self.flush()?;
                Ok(Ok(()))
            }
            Err(_) => Ok(Err(Conflict)),
        }
    }

    /// One sled transaction over the keyspace: the compare, the swap and
    /// the other writes commit together or not at all.
    fn compare_and_swap_with(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        also: Vec<Op>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        let target = physical(tree, key);
        let outcome = self.kv.transaction(|tx| {
            if tx.get(&target)?.as_deref() != expected {
                return Err(ConflictableTransactionError::Abort(Conflict));
            }
            match &new {
                Some(v) => tx.insert(target.as_slice(), v.as_slice())?,
                None => tx.remove(target.as_slice())?,
            };
            for op in &also {
                match op {
                    Op::Put { tree, key, value } => {
                        tx.insert(physical(*tree, key), value.as_slice())?;
                    }
                    Op::Delete { tree, key } => {
                        tx.remove(physical(*tree, key))?;
                    }
                }
            }
            Ok(())
        });
        match outcome {
            Ok(()) => {
                self.flush()?;
                Ok(Ok(()))
            }
            Err(TransactionError::Abort(conflict)) => Ok(Err(conflict)),
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        self.data_file.sync().map_err(|e| {
            if super::disk::io_is_disk_full(&e) {
                StoreError::DiskFull(format!("fdatasync of the store failed: {e}"))
            } else {
                StoreError::Backend(format!("fdatasync of the store failed: {e}"))
            }
        })
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

impl SledStore {
    /// Runs one blocking sled call on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Handles) -> Result<T, StoreError> + Send + 'static,
    {
        let handles = self.handles.clone();
        tokio::task::spawn_blocking(move || f(&handles))
            .await
            .map_err(|_| StoreError::Task)?
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
        self.run(move |h| h.observe(h.apply(ops))).await
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
        self.run(move |h| h.observe(h.compare_and_swap(tree, &key, expected.as_deref(), new)))
            .await
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
        self.run(move |h| {
            h.observe(h.compare_and_swap_with(tree, &key, expected.as_deref(), new, also))
        })
        .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.run(|h| h.observe(h.flush())).await
    }

    fn disk(&self) -> Option<std::sync::Arc<super::disk::DiskState>> {
        Some(std::sync::Arc::clone(&self.handles.disk))
    }

    fn backend(&self) -> &'static str {
        "sled"
    }
}

/// Sled is blocking underneath: code already on a blocking thread (and
/// tests) may call it directly, without a runtime.
impl BlockingStore for SledStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.handles.get(tree, key)
    }

    fn scan(&self, scan: &Scan) -> Result<Entries, StoreError> {
        self.handles.scan(scan)
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.handles.apply(ops)
    }

    fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        self.handles.compare_and_swap(tree, key, expected, new)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.handles.flush()
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Best effort: everything acknowledged was flushed already.
        let _ = self.handles.db.flush();
    }
}

#[cfg(test)]
mod tests;
