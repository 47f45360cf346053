//! [`PgAuditStore`]: the audit trail of replicas sharing one PostgreSQL
//! database, as one hash chain.
//!
//! Every group commit of every replica moves the chain head row
//! (`zv_audit_head`) in the same transaction as its events, so the commits
//! of all replicas fall in one order. A replica's writer locks the head
//! first ([`AuditStore::hold_head`]) and chains the batch it then forms
//! after it; the one batch formed before the lock (the first after unseal)
//! is re-chained here after the real head when another replica appended
//! meanwhile (with the chain key the writer installed through
//! [`AuditStore::use_chain_key`]), see [`append`]. So the
//! chain stays one gapless sequence whatever the number of replicas, and a
//! commit returns only when its events are durable (fail closed, as with
//! the embedded log). Events are stored in the embedded log's binary
//! record encoding, plus the columns that queries filter on.
//!
//! Pending events (recorded while sealed) wait in `zv_audit_pending`. The
//! replica that chains them deletes them in the same transaction; if
//! another replica chained some of them first, they are left out of the
//! batch instead of being chained twice.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Row};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::chain::ChainKey;
use super::event::{AuditEvent, AuditRecord};
use super::keys::Checkpoint;
use super::log::record::{decode, Payload};
use super::log::SignedCheckpoint;
use super::query::{Order, Page, Query};
use super::store::{AuditStore, Batch, HeldHead};
use super::AuditError;

mod append;
mod restore;
mod rows;

use rows::{insert_events, lock_head};

/// The trail in PostgreSQL (the schema is migrated by the PostgreSQL store).
pub struct PgAuditStore {
    pool: PgPool,
    /// The writer's own connections for its group commits, opened from the
    /// writer's task (see [`PgAuditStore::new`]).
    commits: PgPool,
    /// The chain key while unsealed, to re-chain a batch after another
    /// replica's events.
    key: Mutex<Option<Arc<dyn ChainKey>>>,
    /// Counters of the pending events last handed to the writer, in order:
    /// the first records of a draining batch are these events.
    last_pending: Mutex<Vec<u64>>,
}

/// Connections of the writer's own pool: one commit holds the head at a
/// time, and one more covers a connection being replaced.
const COMMIT_CONNECTIONS: u32 = 2;

fn store_err(e: sqlx::Error) -> AuditError {
    AuditError::Store(format!("PostgreSQL: {e}"))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgAuditStore {
    /// Over the PostgreSQL store's pool, plus two connections of its own
    /// for the group commits of the replica `node` (their
    /// `application_name` is [`PgAuditStore::commit_application_name`]).
    /// The writer task opens those itself, so their sockets answer on the
    /// writer's runtime: a pooled connection first opened by a request
    /// handler is driven by that HTTP worker's event loop, and every reply
    /// to a commit that holds the chain head waited for the worker to get
    /// round to it (1.03x to 1.16x the cluster's tokens per second without
    /// that wait, docs/cluster.md).
    pub fn new(pool: PgPool, node: &str) -> Self {
        let options = (*pool.connect_options())
            .clone()
            .application_name(&Self::commit_application_name(node));
        let commits = PgPoolOptions::new()
            .max_connections(COMMIT_CONNECTIONS)
            .acquire_timeout(pool.options().get_acquire_timeout())
            .connect_lazy_with(options);
        Self {
            pool,
            commits,
            key: Mutex::new(None),
            last_pending: Mutex::new(Vec::new()),
        }
    }

    /// The `application_name` of a replica's audit commit connections, for
    /// `pg_stat_activity`.
    pub fn commit_application_name(node: &str) -> String {
        format!("zoho-vault audit {node}")
    }

    fn key(&self) -> Option<Arc<dyn ChainKey>> {
        self.key.lock().ok().and_then(|k| k.clone())
    }

    /// The records of `batch` that are still to be written: pending events
    /// another replica chained first are left out.
    fn still_pending(&self, drained: &[i64], batch: Batch) -> Vec<AuditRecord> {
        let Some(upto) = batch.drained_pending else {
            return batch.records;
        };
        let handed: Vec<u64> = self
            .last_pending
            .lock()
            .map(|p| p.iter().copied().filter(|c| *c <= upto).collect())
            .unwrap_or_default();
        let mut records = batch.records.into_iter();
        let mut kept: Vec<AuditRecord> = Vec::new();
        for counter in handed {
            match records.next() {
                Some(r) if drained.contains(&to_i64(counter)) => kept.push(r),
                Some(_) => {}
                None => break,
            }
        }
        kept.extend(records);
        kept
    }
}

/// An event time as nanoseconds since the Unix epoch (exact, so the time
/// filters in SQL select what [`Query::matches`] would).
fn nanos(time: &str) -> Option<i64> {
    OffsetDateTime::parse(time, &Rfc3339).ok().map(ns)
}

fn ns(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(if t.year() < 1970 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Decodes a stored record, naming its seq when it cannot be read.
fn decode_record(seq: i64, bytes: &[u8]) -> Result<AuditRecord, AuditError> {
    let damaged = |why: &str| AuditError::Damaged {
        seq: u64::try_from(seq).ok(),
        message: format!("audit event {seq} in zv_audit_events is unreadable: {why}"),
    };
    match decode(bytes) {
        Ok(Payload::Event(record)) if record.seq as i64 == seq => Ok(*record),
        Ok(Payload::Event(_)) => Err(damaged("its sequence number does not match its row")),
        Ok(Payload::Drained(_)) => Err(damaged("not an event")),
        Err(why) => Err(damaged(why)),
    }
}

fn decode_rows(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<AuditRecord>, AuditError> {
    rows.into_iter()
        .map(|row| {
            let seq: i64 = row.try_get(0).map_err(store_err)?;
            let bytes: Vec<u8> = row.try_get(1).map_err(store_err)?;
            decode_record(seq, &bytes)
        })
        .collect()
}

#[async_trait]
impl AuditStore for PgAuditStore {
    async fn upgrade(&self, key: Arc<dyn ChainKey>) -> Result<u64, AuditError> {
        restore::move_restored(&self.pool, key.as_ref()).await
    }

    fn use_chain_key(&self, key: Option<Arc<dyn ChainKey>>) {
        if let Ok(mut slot) = self.key.lock() {
            *slot = key;
        }
    }

    async fn head(&self) -> Result<Checkpoint, AuditError> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM zv_audit_head WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err)?;
        if let Some((seq, hash)) = head {
            let head = Checkpoint {
                seq: seq as u64,
                hash,
            };
            return Ok(head);
        }
        Ok(self
            .checkpoint()
            .await?
            .map_or_else(Checkpoint::genesis, |c| c.anchor()))
    }

    async fn append(&self, batch: Batch) -> Result<(), AuditError> {
        self.append_locked(batch).await
    }

    async fn hold_head(&self) -> Result<Option<Box<dyn HeldHead>>, AuditError> {
        Ok(Some(Box::new(self.lock().await?)))
    }

    async fn scan(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, record FROM zv_audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(to_i64(from))
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        decode_rows(rows)
    }

    async fn query(&self, q: &Query) -> Result<Page, AuditError> {
        let floor = self.checkpoint().await?.map_or(0, |c| c.seq);
        let mut sql: QueryBuilder<'_, Postgres> =
            QueryBuilder::new("SELECT seq, record FROM zv_audit_events WHERE seq > ");
        sql.push_bind(to_i64(floor));
        if let Some(after) = q.after {
            sql.push(if q.order == Order::Asc {
                " AND seq > "
            } else {
                " AND seq < "
            })
            .push_bind(to_i64(after));
        }
        if let Some(c) = &q.connection {
            sql.push(" AND connection = ").push_bind(c.clone());
        }
        if let Some(a) = &q.actor {
            sql.push(" AND actor = ").push_bind(a.clone());
        }
        if let Some(a) = q.action {
            sql.push(" AND action = ").push_bind(a.as_str().to_string());
        }
        if let Some(f) = &q.fingerprint {
            sql.push(" AND fingerprint = ").push_bind(f.clone());
        }
        if let Some(s) = q.since {
            sql.push(" AND at_ns >= ").push_bind(ns(s));
        }
        if let Some(u) = q.until {
            sql.push(" AND at_ns <= ").push_bind(ns(u));
        }
        sql.push(if q.order == Order::Asc {
            " ORDER BY seq ASC LIMIT "
        } else {
            " ORDER BY seq DESC LIMIT "
        })
        .push_bind(to_i64(q.limit as u64));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(store_err)?;
        // The columns only narrow the search: every filter is checked on
        // the stored event itself.
        let events: Vec<AuditRecord> = decode_rows(rows)?
            .into_iter()
            .filter(|r| q.matches(r))
            .collect();
        let next = (events.len() == q.limit)
            .then(|| events.last().map(|r| r.seq.to_string()))
            .flatten();
        Ok(Page { events, next })
    }

    async fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT seq, hash, mac FROM zv_audit_checkpoint WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(store_err)?;
        Ok(row.map(|(seq, hash, mac)| SignedCheckpoint {
            seq: seq as u64,
            hash,
            mac,
        }))
    }

    async fn prune(&self, checkpoint: SignedCheckpoint) -> Result<usize, AuditError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        sqlx::query(
            "INSERT INTO zv_audit_checkpoint (id, seq, hash, mac) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, \
               mac = EXCLUDED.mac",
        )
        .bind(to_i64(checkpoint.seq))
        .bind(&checkpoint.hash)
        .bind(&checkpoint.mac)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        let dropped = sqlx::query("DELETE FROM zv_audit_events WHERE seq <= $1")
            .bind(to_i64(checkpoint.seq))
            .execute(&mut *tx)
            .await
            .map_err(store_err)?
            .rows_affected();
        tx.commit().await.map_err(store_err)?;
        Ok(usize::try_from(dropped).unwrap_or(usize::MAX))
    }

    async fn append_pending(&self, events: Vec<AuditEvent>) -> Result<(), AuditError> {
        let encoded = events
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AuditError::Store(format!("cannot encode a pending event: {e}")))?;
        sqlx::query("INSERT INTO zv_audit_pending (event) SELECT * FROM UNNEST($1::bytea[])")
            .bind(&encoded)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn pending(&self) -> Result<Vec<(u64, AuditEvent)>, AuditError> {
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT counter, event FROM zv_audit_pending ORDER BY counter")
                .fetch_all(&self.pool)
                .await
                .map_err(store_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for (counter, bytes) in rows {
            let event = serde_json::from_slice(&bytes).map_err(|e| AuditError::Damaged {
                seq: None,
                message: format!("pending audit event {counter} is unreadable: {e}"),
            })?;
            out.push((counter as u64, event));
        }
        if let Ok(mut last) = self.last_pending.lock() {
            *last = out.iter().map(|(c, _)| *c).collect();
        }
        Ok(out)
    }

    async fn bytes(&self) -> Option<u64> {
        sqlx::query_scalar::<_, i64>("SELECT pg_total_relation_size('zv_audit_events')")
            .fetch_one(&self.pool)
            .await
            .ok()
            .and_then(|n| u64::try_from(n).ok())
    }
}
