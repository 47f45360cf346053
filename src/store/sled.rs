//! The embedded backend: one sled tree per record kind, in
//! `<data_dir>/store-v1`. Every write is flushed to disk before it is
//! acknowledged; multi-tree batches are sled transactions.

use std::path::{Path, PathBuf};

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{Conflict, Entries, Op, Scan, Store, StoreError, Tree};

/// Directory name of the store inside the data directory. The suffix is the
/// on-disk format version, so a future format can live beside this one
/// during a migration.
pub const STORE_DIR: &str = "store-v1";

/// A sled database with every tree opened up front.
pub struct SledStore {
    db: sled::Db,
    /// Indexed by `Tree as usize`; `Tree::ALL` is in declaration order.
    trees: Vec<sled::Tree>,
}

impl SledStore {
    /// Opens (creating if needed) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path: PathBuf = data_dir.join(STORE_DIR);
        let db = sled::Config::new()
            .path(&path)
            .open()
            .map_err(|e| open_error(&path, e))?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()).map_err(backend))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { db, trees })
    }

    /// Whether a store exists under `data_dir`, without opening it.
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(STORE_DIR).join("db").exists()
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree as usize]
    }
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
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

impl Store for SledStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree(tree)
            .get(key)
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn scan(&self, scan: &Scan) -> Result<Entries, StoreError> {
        let range = self
            .tree(scan.tree)
            .range((scan.start.clone(), scan.end.clone()));
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if scan.reverse
        {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        iter.take(scan.limit)
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(backend))
            .collect()
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut involved: Vec<Tree> = Vec::new();
        for op in &ops {
            let t = match op {
                Op::Put { tree, .. } | Op::Delete { tree, .. } => *tree,
            };
            if !involved.contains(&t) {
                involved.push(t);
            }
        }
        let trees: Vec<sled::Tree> = involved.iter().map(|t| self.tree(*t).clone()).collect();
        let result: Result<(), TransactionError<()>> = {
            use sled::Transactional;
            trees.as_slice().transaction(|tx| {
                for op in &ops {
                    match op {
                        Op::Put { tree, key, value } => {
                            let i = index_of(&involved, *tree)?;
                            tx[i].insert(key.as_slice(), value.as_slice())?;
                        }
                        Op::Delete { tree, key } => {
                            let i = index_of(&involved, *tree)?;
                            tx[i].remove(key.as_slice())?;
                        }
                    }
                }
                Ok(())
            })
        };
        result.map_err(|e| match e {
            TransactionError::Abort(()) => StoreError::Backend("transaction aborted".into()),
            TransactionError::Storage(e) => backend(e),
        })?;
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
            .tree(tree)
            .compare_and_swap(key, expected, new)
            .map_err(backend)?;
        match outcome {
            Ok(()) => {
                self.flush()?;
                Ok(Ok(()))
            }
            Err(_) => Ok(Err(Conflict)),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(backend)
    }
}

fn index_of(involved: &[Tree], tree: Tree) -> Result<usize, ConflictableTransactionError<()>> {
    involved
        .iter()
        .position(|t| *t == tree)
        .ok_or(ConflictableTransactionError::Abort(()))
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Best effort: everything acknowledged was flushed already.
        let _ = self.db.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(tree: Tree, k: &[u8], v: &[u8]) -> Op {
        Op::Put {
            tree,
            key: k.to_vec(),
            value: v.to_vec(),
        }
    }

    #[test]
    fn tree_all_is_in_declaration_order() {
        for (i, t) in Tree::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
    }

    #[test]
    fn batches_span_trees_and_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SledStore::open(dir.path()).expect("open");
            store
                .apply(vec![
                    put(Tree::Meta, b"a", b"1"),
                    put(Tree::Tokens, b"b", b"2"),
                ])
                .expect("apply");
        }
        let store = SledStore::open(dir.path()).expect("reopen");
        assert_eq!(
            store.get(Tree::Meta, b"a").expect("get"),
            Some(b"1".to_vec())
        );
        assert_eq!(
            store.get(Tree::Tokens, b"b").expect("get"),
            Some(b"2".to_vec())
        );
        assert_eq!(store.get(Tree::Tokens, b"a").expect("get"), None);
    }

    #[test]
    fn scans_honour_bounds_order_and_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let ops = (0u8..10).map(|i| put(Tree::Audit, &[i], &[i])).collect();
        store.apply(ops).expect("apply");
        let mut scan = Scan::prefix(Tree::Audit, &[], 3);
        scan.reverse = true;
        let keys: Vec<u8> = store
            .scan(&scan)
            .expect("scan")
            .iter()
            .map(|(k, _)| k[0])
            .collect();
        assert_eq!(keys, vec![9, 8, 7]);
    }

    #[test]
    fn compare_and_swap_detects_conflicts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        assert_eq!(
            store
                .compare_and_swap(Tree::Meta, b"h", None, Some(b"1".to_vec()))
                .expect("cas"),
            Ok(())
        );
        assert_eq!(
            store
                .compare_and_swap(Tree::Meta, b"h", None, Some(b"2".to_vec()))
                .expect("cas"),
            Err(Conflict)
        );
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused_as_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = SledStore::open(dir.path()).expect("open");
        match SledStore::open(dir.path()) {
            Err(StoreError::Locked(_)) => {}
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("second open must fail"),
        }
    }
}
