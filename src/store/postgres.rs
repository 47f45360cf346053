//! The PostgreSQL backend, for several replicas sharing one database.
//!
//! It holds exactly what the embedded store holds, in one table
//! (`zv_records`: tree name, key bytes, value bytes; see the migrations
//! under `postgres/migrations`), so a sealed record means the same thing
//! in either backend and backups move between them unchanged. The schema is
//! embedded in the binary and brought up to date when the store opens;
//! sqlx's migrator takes an advisory lock while it does, so replicas that
//! start together do not race.
//!
//! Client: sqlx, for its pool, its embedded versioned migrations and its
//! `PgListener` (LISTEN/NOTIFY with reconnects), which the cluster
//! coordination builds on. Queries are checked at run time, so building
//! needs no database.
//!
//! Durability: a call returns after PostgreSQL committed, and with the
//! default `synchronous_commit = on` a commit is acknowledged only once its
//! WAL is flushed to disk (and to synchronous standbys, if configured), so
//! [`PgStore::flush`] has nothing left to do.

use std::ops::Bound;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, QueryBuilder, Row};

use super::{Conflict, Entries, Op, Scan, Store, StoreError, Tree};

mod batch;
mod errors;
use batch::{cas_with, Batch};
pub use errors::redact_url;
use errors::{backend, is_retryable, options, probe};

/// The schema migrations, embedded at build time and applied at open.
static MIGRATOR: Migrator = sqlx::migrate!("src/store/postgres/migrations");

/// Name reported by [`PgStore::backend`].
pub const BACKEND: &str = "postgres";

/// How long a caller waits for a pooled connection before the call fails
/// (the database is down or every connection is busy).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts of a batch that PostgreSQL aborted as a deadlock victim or
/// serialization failure; the batch changed nothing, so it is retried.
const BATCH_ATTEMPTS: u32 = 3;

/// The PostgreSQL store: a connection pool over a migrated database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` with at most `pool_size` connections and applies
    /// the pending schema migrations. Errors never contain the password.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let options = options(url)?;
        // One direct connection first: the pool retries a refused
        // connection until its timeout and then reports only the timeout,
        // while this reports why (refused, unknown host, authentication).
        let probe = probe(url, &options).await?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Self::open(pool).await
    }

    /// Whether the database at `url` holds any record, without creating
    /// or migrating anything (the offline commands refuse to start on a
    /// database that holds no vault).
    pub async fn holds_records(url: &str) -> Result<bool, StoreError> {
        let mut conn = probe(url, &options(url)?).await?;
        // Two statements: a query naming a missing table fails to plan.
        let table: bool = sqlx::query_scalar("SELECT to_regclass('zv_records') IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .map_err(backend)?;
        let holds = table
            && sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM zv_records)")
                .fetch_one(&mut conn)
                .await
                .map_err(backend)?;
        let _ = conn.close().await;
        Ok(holds)
    }

    /// Uses an existing pool, applying the pending schema migrations.
    pub async fn open(pool: PgPool) -> Result<Self, StoreError> {
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("PostgreSQL schema migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// The connection pool, for the cluster coordination beside the store.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Newest schema version this build knows (the highest migration).
    pub fn schema_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Reads one value.
    pub async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM zv_records WHERE tree = $1 AND key = $2")
            .bind(tree.name())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    /// Reads a key range, in key order (or reverse), at most `limit`
    /// entries: the embedded store's semantics.
    pub async fn scan(&self, scan: Scan) -> Result<Entries, StoreError> {
        if scan.limit == 0 {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<'_, Postgres> =
            QueryBuilder::new("SELECT key, value FROM zv_records WHERE tree = ");
        q.push_bind(scan.tree.name());
        for (bound, included, excluded) in [
            (scan.start, " AND key >= ", " AND key > "),
            (scan.end, " AND key <= ", " AND key < "),
        ] {
            match bound {
                Bound::Included(k) => q.push(included).push_bind(k),
                Bound::Excluded(k) => q.push(excluded).push_bind(k),
                Bound::Unbounded => continue,
            };
        }
        q.push(if scan.reverse {
            " ORDER BY key DESC LIMIT "
        } else {
            " ORDER BY key LIMIT "
        });
        q.push_bind(i64::try_from(scan.limit).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(&self.pool).await.map_err(backend)?;
        rows.into_iter()
            .map(|row| {
                Ok((
                    row.try_get::<Vec<u8>, _>(0).map_err(backend)?,
                    row.try_get::<Vec<u8>, _>(1).map_err(backend)?,
                ))
            })
            .collect()
    }

    /// Applies all writes in one transaction: all of them or none. Within
    /// a batch a later write to the same key wins, as in the embedded store.
    pub async fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let batch = Batch::collapse(ops);
        if batch.is_empty() {
            return Ok(());
        }
        let mut attempt = 1;
        loop {
            match batch.write(&self.pool).await {
                Err(e) if attempt < BATCH_ATTEMPTS && is_retryable(&e) => attempt += 1,
                other => return other.map_err(backend),
            }
        }
    }

    /// Replaces `tree/key` with `new` (or removes it when `None`) only if
    /// its current value equals `expected`. Each case is one statement,
    /// atomic under concurrency: PostgreSQL re-checks an `UPDATE`'s or
    /// `DELETE`'s condition on the newest row version after waiting for a
    /// concurrent writer, and `ON CONFLICT DO NOTHING` lets one insert of a
    /// key win.
    pub async fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let changed = match (expected, new) {
            (None, None) => {
                return Ok(match self.get(tree, key).await? {
                    None => Ok(()),
                    Some(_) => Err(Conflict),
                })
            }
            (None, Some(new)) => sqlx::query(
                "INSERT INTO zv_records (tree, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (tree, key) DO NOTHING",
            )
            .bind(tree.name())
            .bind(key)
            .bind(new),
            (Some(old), Some(new)) => sqlx::query(
                "UPDATE zv_records SET value = $4 WHERE tree = $1 AND key = $2 AND value = $3",
            )
            .bind(tree.name())
            .bind(key)
            .bind(old)
            .bind(new),
            (Some(old), None) => {
                sqlx::query("DELETE FROM zv_records WHERE tree = $1 AND key = $2 AND value = $3")
                    .bind(tree.name())
                    .bind(key)
                    .bind(old)
            }
        }
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        Ok(if changed == 1 { Ok(()) } else { Err(Conflict) })
    }

    /// The compare-and-swap and the other writes in one transaction: the
    /// row is locked by the conditional statement, so nothing slips in
    /// between.
    pub async fn compare_and_swap_with(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        also: Vec<Op>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let batch = Batch::collapse(also);
        let mut attempt = 1;
        loop {
            match cas_with(&self.pool, tree, key, expected, new.as_deref(), &batch).await {
                Err(e) if attempt < BATCH_ATTEMPTS && is_retryable(&e) => attempt += 1,
                other => return other.map_err(backend),
            }
        }
    }

    /// Nothing to do: every write was durable when its commit returned
    /// (see the module documentation).
    pub async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The backend's name, for health and logs.
    pub fn backend(&self) -> &'static str {
        BACKEND
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        PgStore::get(self, tree, key).await
    }

    async fn scan(&self, scan: Scan) -> Result<Entries, StoreError> {
        PgStore::scan(self, scan).await
    }

    async fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        PgStore::apply(self, ops).await
    }

    async fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        PgStore::compare_and_swap(self, tree, key, expected, new).await
    }

    async fn compare_and_swap_with(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        also: Vec<Op>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        PgStore::compare_and_swap_with(self, tree, key, expected, new, also).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        PgStore::flush(self).await
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}

#[cfg(test)]
mod tests;
