//! Writing chained events as rows.

use sqlx::Postgres;

use super::{nanos, store_err, to_i64};
use crate::audit::event::AuditRecord;
use crate::audit::keys::Checkpoint;
use crate::audit::log::record::encode_event;
use crate::audit::AuditError;

/// Locks the chain head row for the rest of the caller's transaction (the
/// lock that puts every replica's commits in one order) and answers the
/// head as stored. The row is created by the schema migration.
pub(super) async fn lock_head(
    tx: &mut sqlx::Transaction<'_, Postgres>,
) -> Result<Checkpoint, AuditError> {
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM zv_audit_head WHERE id = 1 FOR UPDATE")
            .fetch_optional(&mut **tx)
            .await
            .map_err(store_err)?;
    let (seq, hash) = head.ok_or_else(missing_head)?;
    Ok(Checkpoint {
        seq: seq as u64,
        hash,
    })
}

/// The head row is gone: nothing appends until an operator looks.
pub(super) fn missing_head() -> AuditError {
    AuditError::Damaged {
        seq: None,
        message: "the audit chain head row (zv_audit_head, id 1) is missing".into(),
    }
}

/// The columns of `zv_audit_events` for `records`, as the arrays bound to
/// `$1`..`$7` of an `UNNEST` insert.
pub(super) struct Columns {
    seqs: Vec<i64>,
    ats: Vec<Option<i64>>,
    actions: Vec<String>,
    actors: Vec<String>,
    connections: Vec<Option<String>>,
    fingerprints: Vec<Option<String>>,
    bytes: Vec<Vec<u8>>,
}

/// The parameters [`Columns`] binds, in table column order.
pub(super) const UNNEST_ARGS: &str = "$1::bigint[], $2::bigint[], $3::text[], \
    $4::text[], $5::text[], $6::text[], $7::bytea[]";

impl Columns {
    pub(super) fn of(records: &[AuditRecord]) -> Self {
        let n = records.len();
        let mut c = Columns {
            seqs: Vec::with_capacity(n),
            ats: Vec::with_capacity(n),
            actions: Vec::with_capacity(n),
            actors: Vec::with_capacity(n),
            connections: Vec::with_capacity(n),
            fingerprints: Vec::with_capacity(n),
            bytes: Vec::with_capacity(n),
        };
        for r in records {
            c.seqs.push(to_i64(r.seq));
            c.ats.push(nanos(&r.time));
            c.actions.push(r.action.as_str().to_string());
            c.actors.push(r.actor.clone());
            c.connections.push(r.connection.clone());
            c.fingerprints.push(r.fingerprint().map(str::to_string));
            c.bytes.push(encode_event(r));
        }
        c
    }

    /// Binds the seven arrays as `$1`..`$7`.
    pub(super) fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        q.bind(&self.seqs)
            .bind(&self.ats)
            .bind(&self.actions)
            .bind(&self.actors)
            .bind(&self.connections)
            .bind(&self.fingerprints)
            .bind(&self.bytes)
    }
}

/// Inserts chained records into `zv_audit_events` (in the caller's
/// transaction, which holds the head lock).
pub(super) async fn insert_events(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    records: &[AuditRecord],
) -> Result<(), AuditError> {
    let columns = Columns::of(records);
    let sql = format!(
        "INSERT INTO zv_audit_events \
           (seq, at_ns, action, actor, connection, fingerprint, record) \
         SELECT * FROM UNNEST({UNNEST_ARGS})"
    );
    columns
        .bind(sqlx::query(&sql))
        .execute(&mut **tx)
        .await
        .map_err(store_err)?;
    Ok(())
}
