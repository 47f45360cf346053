//! Appending a group commit to the chain that every replica shares.
//!
//! The chain head row is the one point all replicas' commits go through in
//! order, and PostgreSQL holds its row lock until the commit is flushed.
//! So what counts is how long a commit holds it: here, only while the
//! server runs one statement and flushes it, with no client round trip in
//! between. The batch goes out as one autocommit call of
//! `zv_audit_append` (schema migration 4), which compare-and-sets the head
//! (from the head this replica last saw to the batch's last event) and
//! inserts the events only when the head matched. When another replica
//! appended first it writes nothing (so it costs no WAL flush) and answers
//! the real head; the batch is re-chained after it and tried again. After
//! [`MAX_MISSES`] misses in a row, or when pending events are drained with
//! the batch, the locked path runs instead (lock the head, then the same
//! call, then commit), which cannot miss.

use sqlx::Row;

use super::rows::{lock_head, missing_head, Columns, UNNEST_ARGS};
use super::{store_err, to_i64, PgAuditStore};
use crate::audit::chain::{compute_hash, ChainKey};
use crate::audit::event::AuditRecord;
use crate::audit::keys::Checkpoint;
use crate::audit::store::Batch;
use crate::audit::AuditError;

/// Compare-and-set misses in a row before the locked path: a replica that
/// keeps losing the race stops retrying and queues on the lock instead.
pub(super) const MAX_MISSES: usize = 2;

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

impl PgAuditStore {
    /// The path that cannot miss: one transaction that locks the head,
    /// takes the drained pending events out, re-chains the batch after the
    /// head when needed, inserts it and moves the head.
    pub(super) async fn append_locked(&self, batch: Batch) -> Result<(), AuditError> {
        let result = self.append_locked_once(batch).await;
        self.saw(result.as_ref().ok().cloned());
        result.map(|_| ())
    }

    async fn append_locked_once(&self, batch: Batch) -> Result<Checkpoint, AuditError> {
        let mut tx = self.pool.begin().await.map_err(store_err)?;
        let head = lock_head(&mut tx).await?;
        let before = head.clone();
        let drained: Vec<i64> = match batch.drained_pending {
            Some(upto) => sqlx::query_scalar(
                "DELETE FROM zv_audit_pending WHERE counter <= $1 RETURNING counter",
            )
            .bind(to_i64(upto))
            .fetch_all(&mut *tx)
            .await
            .map_err(store_err)?,
            None => Vec::new(),
        };
        let mut records = self.still_pending(&drained, batch);
        let head = if follows(&records, &head) {
            last(&records, head)
        } else {
            let key = self.key().ok_or(AuditError::Unavailable(
                "the audit chain head moved and no chain key is installed",
            ))?;
            rechain(key.as_ref(), &mut records, head)
        };
        if !records.is_empty() {
            // Under the lock the head cannot have moved: this inserts.
            if let Cas::Moved(_) = compare_and_append(&mut *tx, &records, &before).await? {
                return Err(AuditError::Store(
                    "the audit chain head moved while locked".into(),
                ));
            }
        }
        tx.commit().await.map_err(store_err)?;
        Ok(head)
    }
}

/// What one compare-and-set did.
pub(super) enum Cas {
    /// The events are committed; this is the new head.
    Committed(Checkpoint),
    /// Another replica appended first: nothing was written; this is the
    /// real head.
    Moved(Checkpoint),
}

/// One autocommit statement: moves the head from `expected` to the last
/// of `records` and inserts them, or, when the head is elsewhere, writes
/// nothing and answers where it is. `records` must follow `expected`.
pub(super) async fn compare_and_append<'c, E>(
    on: E,
    records: &[AuditRecord],
    expected: &Checkpoint,
) -> Result<Cas, AuditError>
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
    let head = Checkpoint {
        seq: seq as u64,
        hash,
    };
    Ok(if head == new {
        Cas::Committed(head)
    } else {
        Cas::Moved(head)
    })
}
