//! One face over both backends for the shared suite: the [`AsyncStore`]
//! the service itself holds, over either backend.

use std::sync::Arc;

use zoho_vault::store::postgres::PgStore;
use zoho_vault::store::sled::SledStore;
use zoho_vault::store::{AsyncStore, Conflict, Entries, Op, Scan, StoreError, Tree};

use crate::pg::{self, TestDb};

/// A backend under test, with what it needs to be reopened.
pub struct Backend {
    store: AsyncStore,
    kind: Kind,
}

enum Kind {
    Sled(tempfile::TempDir),
    Postgres(PgStore, TestDb),
}

impl Backend {
    /// A fresh embedded store in a temporary directory.
    pub fn sled() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open sled");
        Backend {
            store: AsyncStore::new(Arc::new(store)),
            kind: Kind::Sled(dir),
        }
    }

    /// A fresh PostgreSQL store in a database of its own, or `None` when
    /// PostgreSQL is unavailable (the harness said so loudly).
    pub async fn postgres() -> Option<Self> {
        let db = pg::database().await?;
        let pg = PgStore::connect(&db.url, 16).await.expect("open postgres");
        Some(Backend {
            store: AsyncStore::new(Arc::new(pg.clone())),
            kind: Kind::Postgres(pg, db),
        })
    }

    /// Closes the store and opens it again from what it persisted.
    pub async fn reopen(self) -> Self {
        let Backend { store, kind } = self;
        drop(store);
        match kind {
            Kind::Sled(dir) => {
                let store = SledStore::open(dir.path()).expect("reopen sled");
                Backend {
                    store: AsyncStore::new(Arc::new(store)),
                    kind: Kind::Sled(dir),
                }
            }
            Kind::Postgres(pg, db) => {
                pg.pool().close().await;
                let pg = PgStore::connect(&db.url, 16)
                    .await
                    .expect("reopen postgres");
                Backend {
                    store: AsyncStore::new(Arc::new(pg.clone())),
                    kind: Kind::Postgres(pg, db),
                }
            }
        }
    }

    pub async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(tree, key.to_vec()).await
    }

    pub async fn scan(&self, scan: Scan) -> Result<Entries, StoreError> {
        self.store.scan(scan).await
    }

    pub async fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.store.apply(ops).await
    }

    pub async fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        self.store
            .compare_and_swap(tree, key.to_vec(), expected.map(<[u8]>::to_vec), new)
            .await
    }

    pub async fn compare_and_swap_with(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        also: Vec<Op>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        self.store
            .compare_and_swap_with(tree, key.to_vec(), expected.map(<[u8]>::to_vec), new, also)
            .await
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        self.store.flush().await
    }

    pub fn name(&self) -> &'static str {
        self.store.backend()
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
