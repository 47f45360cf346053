//! One opened sled database and the blocking calls on it. [`Handles`] are
//! owned by [`super::reopen::Slot`], which replaces them when sled stops
//! after an I/O error.

use std::ops::Bound;
use std::path::Path;

use super::super::{Conflict, Entries, Op, Scan, StoreError, Tree};
use super::{backend, open_error, KEYSPACE};

/// The sled database, its one keyspace and the data file it syncs.
pub(super) struct Handles {
    db: sled::Db,
    kv: sled::Tree,
    /// `fdatasync` after each flush (see [`super::super::sled_sync`]).
    data_file: super::super::sled_sync::DataFileSync,
}

/// How long an open waits for a lock that a just-closed handle of this
/// process may still hold.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

impl Handles {
    /// Opens (creating if needed) the sled database in `path`.
    pub(super) fn open(path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        // Sled 0.34's flusher thread drops its hold on the file lock just
        // after a dropped database returns, so an open right behind a close
        // in the same process can find the lock still taken for a moment.
        // Another process holding it is still refused, a moment later.
        let deadline = std::time::Instant::now() + LOCK_GRACE;
        loop {
            match Self::open_once(path, cache_bytes) {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        super::snapshots::remove_unfinished(path)?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| open_error(path, e))?;
        let kv = db.open_tree(KEYSPACE).map_err(backend)?;
        let data_file = super::super::sled_sync::DataFileSync::open(path)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self { db, kv, data_file })
    }

    /// The error sled remembered from a failed write, if any. Sled 0.34
    /// keeps the first I/O error its log writer hits (`ENOSPC` among them)
    /// and fails every later flush with it until the database is opened
    /// again; its in-memory pages may then hold writes that never reached
    /// the disk, so nothing is read from or written to it any more.
    /// `global_error` is public but undocumented in sled 0.34.7, the last
    /// 0.34 release (Cargo.lock pins it; the disk-full tests run it).
    pub(super) fn stuck(&self) -> Option<sled::Error> {
        self.db.context.global_error().err()
    }

    pub(super) fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .kv
            .get(physical(tree, key))
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    pub(super) fn scan(&self, scan: &Scan) -> Result<Entries, StoreError> {
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

    pub(super) fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
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

    pub(super) fn compare_and_swap(
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
    pub(super) fn compare_and_swap_with(
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

    pub(super) fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        self.data_file.sync().map_err(|e| {
            if super::super::disk::io_is_disk_full(&e) {
                StoreError::DiskFull(format!("fdatasync of the store failed: {e}"))
            } else {
                StoreError::Backend(format!("fdatasync of the store failed: {e}"))
            }
        })
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
