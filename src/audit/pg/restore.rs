//! Moving a restored trail into the audit tables.
//!
//! A backup carries the audit trail as entries of the `audit` tree (seq →
//! event JSON) and the prune checkpoint in `audit_index`, whatever backend
//! wrote it. `zoho-vault restore` puts them into `zv_records` like every
//! other entry; the first unseal moves them here, in one transaction that
//! holds the chain head lock, so replicas starting together move them once
//! and no group commit can slip in between.

use sqlx::postgres::PgPool;

use super::{insert_events, lock_head, store_err, to_i64};
use crate::audit::chain::ChainKey;
use crate::audit::event::AuditRecord;
use crate::audit::keys::{parse_seq, Checkpoint, CHECKPOINT_KEY};
use crate::audit::log::SignedCheckpoint;
use crate::audit::AuditError;
use crate::store::Tree;

/// Events inserted per statement.
const PAGE: usize = 1000;

/// Moves the restored events (the checkpoint, the pending events) out of `zv_records` into the
/// audit tables; how many events were moved. Idempotent: nothing to move
/// is a no-op.
pub(super) async fn move_restored(pool: &PgPool, key: &dyn ChainKey) -> Result<u64, AuditError> {
    let (audit, index) = (Tree::Audit.name(), Tree::AuditIndex.name());
    let pending = Tree::AuditPending.name();
    let legacy: i64 =
        sqlx::query_scalar("SELECT count(*) FROM zv_records WHERE tree IN ($1, $2, $3)")
            .bind(audit)
            .bind(index)
            .bind(pending)
            .fetch_one(pool)
            .await
            .map_err(store_err)?;
    if legacy == 0 {
        return Ok(0);
    }
    let mut tx = pool.begin().await.map_err(store_err)?;
    let mut head = lock_head(&mut tx).await?;
    let has_checkpoint: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM zv_audit_checkpoint WHERE id = 1)")
            .fetch_one(&mut *tx)
            .await
            .map_err(store_err)?;
    let restored_checkpoint: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT value FROM zv_records WHERE tree = $1 AND key = $2")
            .bind(index)
            .bind(CHECKPOINT_KEY)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_err)?;
    if let Some(value) = restored_checkpoint {
        let cp: Checkpoint = serde_json::from_slice(&value)
            .map_err(|e| AuditError::Store(format!("the restored audit checkpoint: {e}")))?;
        // Only a trail that is still empty takes the backup's checkpoint.
        if head.seq == 0 && !has_checkpoint {
            let signed = SignedCheckpoint::sign(key, &cp);
            sqlx::query(
                "INSERT INTO zv_audit_checkpoint (id, seq, hash, mac) VALUES (1, $1, $2, $3)",
            )
            .bind(to_i64(signed.seq))
            .bind(&signed.hash)
            .bind(&signed.mac)
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
            head = cp;
        }
    }
    let rows: Vec<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT key, value FROM zv_records WHERE tree = $1 ORDER BY key")
            .bind(audit)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_err)?;
    let mut moved = 0u64;
    let mut batch: Vec<AuditRecord> = Vec::with_capacity(PAGE);
    for (k, v) in rows {
        let record: AuditRecord = serde_json::from_slice(&v).map_err(|e| {
            AuditError::Store(format!("restored audit event {:?}: {e}", parse_seq(&k)))
        })?;
        // What the trail already holds was moved before.
        if record.seq <= head.seq {
            continue;
        }
        let expected = head.seq + 1;
        if record.seq != expected || parse_seq(&k) != Some(expected) {
            return Err(AuditError::Store(format!(
                "the restored audit trail has no event {expected}: the backup's trail is not whole"
            )));
        }
        head = Checkpoint {
            seq: record.seq,
            hash: record.hash.clone(),
        };
        batch.push(record);
        if batch.len() == PAGE {
            insert_events(&mut tx, &batch).await?;
            moved += batch.len() as u64;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        insert_events(&mut tx, &batch).await?;
        moved += batch.len() as u64;
    }
    sqlx::query("UPDATE zv_audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(to_i64(head.seq))
        .bind(&head.hash)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
    // Events recorded while sealed (an offline backup's own event): the
    // same JSON encoding, in their order, chained at the next commit.
    sqlx::query(
        "INSERT INTO zv_audit_pending (event) \
         SELECT value FROM zv_records WHERE tree = $1 ORDER BY key",
    )
    .bind(pending)
    .execute(&mut *tx)
    .await
    .map_err(store_err)?;
    sqlx::query("DELETE FROM zv_records WHERE tree IN ($1, $2, $3)")
        .bind(audit)
        .bind(index)
        .bind(pending)
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
    tx.commit().await.map_err(store_err)?;
    if moved > 0 {
        tracing::info!(
            events = moved,
            "moved the restored audit trail into the audit tables"
        );
    }
    Ok(moved)
}
