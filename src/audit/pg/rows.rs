//! Writing chained events as rows.

use sqlx::Postgres;

use super::{nanos, store_err, to_i64};
use crate::audit::event::AuditRecord;
use crate::audit::keys::Checkpoint;
use crate::audit::log::record::encode_event;
use crate::audit::AuditError;

/// Creates the chain head row if it is missing and locks it for the rest of
/// the caller's transaction: the lock that puts every replica's commits in
/// one order. Answers the head as stored.
pub(super) async fn lock_head(
    tx: &mut sqlx::Transaction<'_, Postgres>,
) -> Result<Checkpoint, AuditError> {
    let genesis = Checkpoint::genesis();
    sqlx::query(
        "INSERT INTO zv_audit_head (id, seq, hash) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(to_i64(genesis.seq))
    .bind(&genesis.hash)
    .execute(&mut **tx)
    .await
    .map_err(store_err)?;
    let (seq, hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM zv_audit_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut **tx)
            .await
            .map_err(store_err)?;
    Ok(Checkpoint {
        seq: seq as u64,
        hash,
    })
}

/// Inserts chained records into `zv_audit_events` (in the caller's
/// transaction, which holds the head lock).
pub(super) async fn insert_events(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    records: &[AuditRecord],
) -> Result<(), AuditError> {
    let n = records.len();
    let (mut seqs, mut ats, mut actions) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut actors, mut connections) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut fingerprints, mut bytes) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for r in records {
        seqs.push(to_i64(r.seq));
        ats.push(nanos(&r.time));
        actions.push(r.action.as_str().to_string());
        actors.push(r.actor.clone());
        connections.push(r.connection.clone());
        fingerprints.push(r.fingerprint().map(str::to_string));
        bytes.push(encode_event(r));
    }
    sqlx::query(
        "INSERT INTO zv_audit_events \
           (seq, at_ns, action, actor, connection, fingerprint, record) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], \
           $4::text[], $5::text[], $6::text[], $7::bytea[])",
    )
    .bind(&seqs)
    .bind(&ats)
    .bind(&actions)
    .bind(&actors)
    .bind(&connections)
    .bind(&fingerprints)
    .bind(&bytes)
    .execute(&mut **tx)
    .await
    .map_err(store_err)?;
    Ok(())
}
