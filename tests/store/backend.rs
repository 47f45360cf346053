//! One face over both backends for the shared suite.

use std::sync::Arc;

use zoho_vault::store::postgres::PgStore;
use zoho_vault::store::sled::SledStore;
use zoho_vault::store::{AsyncStore, Conflict, Entries, Op, Scan, StoreError, Tree};

use crate::pg::{self, TestDb};

/// A backend under test, with what it needs to be reopened.
pub enum Backend {
    Sled {
        store: Option<AsyncStore>,
        dir: tempfile::TempDir,
    },
    Postgres {
        store: PgStore,
        db: TestDb,
    },
}

impl Backend {
    /// A fresh embedded store in a temporary directory.
    pub fn sled() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open sled");
        Backend::Sled {
            store: Some(AsyncStore::new(Arc::new(store))),
            dir,
        }
    }

    /// A fresh PostgreSQL store in a database of its own, or `None` when
    /// PostgreSQL is unavailable (the harness said so loudly).
    pub async fn postgres() -> Option<Self> {
        let db = pg::database().await?;
        let store = PgStore::connect(&db.url, 16).await.expect("open postgres");
        Some(Backend::Postgres { store, db })
    }

    /// Closes the store and opens it again from what it persisted.
    pub async fn reopen(self) -> Self {
        match self {
            Backend::Sled { mut store, dir } => {
                drop(store.take());
                let store = SledStore::open(dir.path()).expect("reopen sled");
                Backend::Sled {
                    store: Some(AsyncStore::new(Arc::new(store))),
                    dir,
                }
            }
            Backend::Postgres { store, db } => {
                store.pool().close().await;
                let store = PgStore::connect(&db.url, 16)
                    .await
                    .expect("reopen postgres");
                Backend::Postgres { store, db }
            }
        }
    }

    fn sled_store(store: &Option<AsyncStore>) -> &AsyncStore {
        store.as_ref().expect("sled store open")
    }

    pub async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Backend::Sled { store, .. } => Self::sled_store(store).get(tree, key.to_vec()).await,
            Backend::Postgres { store, .. } => store.get(tree, key).await,
        }
    }

    pub async fn scan(&self, scan: Scan) -> Result<Entries, StoreError> {
        match self {
            Backend::Sled { store, .. } => Self::sled_store(store).scan(scan).await,
            Backend::Postgres { store, .. } => store.scan(scan).await,
        }
    }

    pub async fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        match self {
            Backend::Sled { store, .. } => Self::sled_store(store).apply(ops).await,
            Backend::Postgres { store, .. } => store.apply(ops).await,
        }
    }

    pub async fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        match self {
            Backend::Sled { store, .. } => {
                Self::sled_store(store)
                    .compare_and_swap(tree, key.to_vec(), expected.map(<[u8]>::to_vec), new)
                    .await
            }
            Backend::Postgres { store, .. } => {
                store.compare_and_swap(tree, key, expected, new).await
            }
        }
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        match self {
            Backend::Sled { store, .. } => Self::sled_store(store).flush().await,
            Backend::Postgres { store, .. } => store.flush().await,
        }
    }
}

pub fn put(tree: Tree, key: &[u8], value: &[u8]) -> Op {
    Op::Put {
        tree,
        key: key.to_vec(),
        value: value.to_vec(),
    }
}

pub fn delete(tree: Tree, key: &[u8]) -> Op {
    Op::Delete {
        tree,
        key: key.to_vec(),
    }
}
