//! Appending a group commit to the chain that every replica shares.
//!
//! The chain head row is the one point all replicas' commits go through in
//! order, and PostgreSQL holds its row lock until the commit is flushed,
//! so what counts is how many round trips a commit holds it for. A batch is
//! one transaction of three round trips: `BEGIN`, lock the head (`SELECT
//! ... FOR UPDATE`, which answers it), then one call of `zv_audit_append`
//! (schema migration 4) that inserts the events and moves the head, and
//! `COMMIT`.
//!
//! The lock is taken before the batch is formed ([`LockedHead`], through
//! [`crate::audit::AuditStore::hold_head`]): the writer asks for the head
//! as soon as its first event arrives, and every event that arrives while
//! the other replicas' commits go first joins the batch, chained after
//! the head as locked. Forming the batch first and then waiting for the
//! lock left those events for the next batch, and with three busy replicas
//! halved the batch size: in seven back-to-back pairs the lock first gave
//! 1.14x to 1.75x the tokens per second (20 events per batch against 10;
//! docs/cluster.md).
//! Only the first batch after unseal, which chains the pending events, is
//! formed first and re-chained after the locked head when another replica
//! appended since this one's writer last looked ([`PgAuditStore::append_locked`]).
//!
//! Measured and not kept: the same call as one autocommit statement, a
//! compare-and-set from the head this replica last saw, re-chained and
//! retried on a miss. It holds the lock for no round trip at all, but with
//! three busy replicas nearly every call waited for another replica's
//! commit only to find the head moved, and the cluster issued fewer
//! tokens per second than with the lock taken first (docs/cluster.md).
//! Also measured and not kept: `BEGIN` with the lock in one message, then
//! the append and `COMMIT` in one more, with the values written into the
//! statement text (the client library cannot pipeline bound statements).
//! It took the round trip out from under the lock, but PostgreSQL parsing
//! and planning each batch's text anew cost more on the shared cores than
//! the round trip did: 0.87x the tokens per second (docs/cluster.md).

use async_trait::async_trait;
use sqlx::Row;

use super::rows::{lock_head, missing_head, Columns, UNNEST_ARGS};
use super::{store_err, to_i64, PgAuditStore};
use crate::audit::chain::{compute_hash, ChainKey};
use crate::audit::event::AuditRecord;
use crate::audit::keys::Checkpoint;
use crate::audit::store::{Batch, HeldHead};
use crate::audit::AuditError;

/// Does `records` start right after `head`?
pub(super) fn follows(records: &[AuditRecord], head: &Checkpoint) -> bool {
    records
        .first()
        .is_none_or(|r| r.seq == head.seq + 1 && r.prev == head.hash)
}

/// Re-chains `records` after `head` with `key`; answers the new head.
pub(super) fn rechain(
    key: &dyn ChainKey,
    records: &mut [AuditRecord],
    mut head: Checkpoint,
) -> Checkpoint {
    for r in records {
        r.seq = head.seq + 1;
        r.prev = std::mem::take(&mut head.hash);
        r.hash = compute_hash(key, r);
        head = Checkpoint {
            seq: r.seq,
            hash: r.hash.clone(),
        };
    }
    head
}

/// The last event of `records` as a head (`after` when there is none).
pub(super) fn last(records: &[AuditRecord], after: Checkpoint) -> Checkpoint {
    records.last().map_or(after, |r| Checkpoint {
        seq: r.seq,
        hash: r.hash.clone(),
    })
}

/// The head row locked in an open transaction: one batch is formed,
/// chained after it and appended under the lock.
pub(super) struct LockedHead {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    head: Checkpoint,
}

#[async_trait]
impl HeldHead for LockedHead {
    fn head(&self) -> &Checkpoint {
        &self.head
    }

    async fn append(mut self: Box<Self>, records: Vec<AuditRecord>) -> Result<(), AuditError> {
        // Under the lock the head cannot have moved: this inserts.
        if !records.is_empty() && !compare_and_append(&mut *self.tx, &records, &self.head).await? {
            return Err(AuditError::Store(
                "the audit chain head moved while locked".into(),
            ));
        }
        self.tx.commit().await.map_err(store_err)
    }
}

impl PgAuditStore {
    /// Begins a transaction and locks the head row in it.
    pub(super) async fn lock(&self) -> Result<LockedHead, AuditError> {
        let mut tx = self.commits.begin().await.map_err(store_err)?;
        let head = lock_head(&mut tx).await?;
        Ok(LockedHead { tx, head })
    }

    /// One transaction that locks the head, takes the drained pending
    /// events out, re-chains the batch after the head when needed, inserts
    /// it and moves the head (a batch formed before the lock was taken:
    /// the first after unseal, which chains the pending events).
    pub(super) async fn append_locked(&self, batch: Batch) -> Result<(), AuditError> {
        let mut locked = self.lock().await?;
        let drained: Vec<i64> = match batch.drained_pending {
            Some(upto) => sqlx::query_scalar(
                "DELETE FROM zv_audit_pending WHERE counter <= $1 RETURNING counter",
            )
            .bind(to_i64(upto))
            .fetch_all(&mut *locked.tx)
            .await
            .map_err(store_err)?,
            None => Vec::new(),
        };
        let mut records = self.still_pending(&drained, batch);
        if !follows(&records, &locked.head) {
            let key = self.key().ok_or(AuditError::Unavailable(
                "the audit chain head moved and no chain key is installed",
            ))?;
            rechain(key.as_ref(), &mut records, locked.head.clone());
        }
        Box::new(locked).append(records).await
    }
}

/// One statement: moves the head from `expected` to the last of `records`
/// and inserts them (true), or, when the head is elsewhere, writes nothing
/// (false). `records` must follow `expected`.
pub(super) async fn compare_and_append<'c, E>(
    on: E,
    records: &[AuditRecord],
    expected: &Checkpoint,
) -> Result<bool, AuditError>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let new = last(records, expected.clone());
    let sql = format!(
        "SELECT head_seq, head_hash FROM zv_audit_append({UNNEST_ARGS}, \
           $8::bigint, $9::text, $10::bigint, $11::text)"
    );
    let columns = Columns::of(records);
    let row = columns
        .bind(sqlx::query(&sql))
        .bind(to_i64(expected.seq))
        .bind(&expected.hash)
        .bind(to_i64(new.seq))
        .bind(&new.hash)
        .fetch_optional(on)
        .await
        .map_err(store_err)?
        .ok_or_else(missing_head)?;
    let seq: i64 = row.try_get(0).map_err(store_err)?;
    let hash: String = row.try_get(1).map_err(store_err)?;
    Ok(seq as u64 == new.seq && hash == new.hash)
}
