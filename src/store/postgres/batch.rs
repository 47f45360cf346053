//! Writes of several records at once: a batch reduced to one write per key,
//! and the compare-and-swap that commits a batch with it in one transaction.

use std::collections::BTreeMap;

use sqlx::postgres::PgPool;

use super::super::{Conflict, Op, Tree};

/// A batch reduced to its final write per key, in key order (so two
/// batches lock shared rows in the same order and rarely deadlock).
pub(super) struct Batch {
    pub(super) put_trees: Vec<&'static str>,
    pub(super) put_keys: Vec<Vec<u8>>,
    pub(super) put_values: Vec<Vec<u8>>,
    pub(super) del_trees: Vec<&'static str>,
    pub(super) del_keys: Vec<Vec<u8>>,
}

impl Batch {
    pub(super) fn collapse(ops: Vec<Op>) -> Self {
        let mut last: BTreeMap<(&'static str, Vec<u8>), Option<Vec<u8>>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put { tree, key, value } => last.insert((tree.name(), key), Some(value)),
                Op::Delete { tree, key } => last.insert((tree.name(), key), None),
            };
        }
        let mut batch = Batch {
            put_trees: Vec::new(),
            put_keys: Vec::new(),
            put_values: Vec::new(),
            del_trees: Vec::new(),
            del_keys: Vec::new(),
        };
        for ((tree, key), value) in last {
            match value {
                Some(value) => {
                    batch.put_trees.push(tree);
                    batch.put_keys.push(key);
                    batch.put_values.push(value);
                }
                None => {
                    batch.del_trees.push(tree);
                    batch.del_keys.push(key);
                }
            }
        }
        batch
    }

    pub(super) fn is_empty(&self) -> bool {
        self.put_keys.is_empty() && self.del_keys.is_empty()
    }

    /// Two statements at most, whatever the batch size: the writes travel
    /// as arrays.
    pub(super) async fn write(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut tx = pool.begin().await?;
        self.write_in(&mut tx).await?;
        tx.commit().await
    }

    async fn write_in(&self, tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        if !self.put_keys.is_empty() {
            sqlx::query(
                "INSERT INTO zv_records (tree, key, value) \
                 SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bytea[]) \
                 ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(&self.put_trees)
            .bind(&self.put_keys)
            .bind(&self.put_values)
            .execute(&mut *tx)
            .await?;
        }
        if !self.del_keys.is_empty() {
            sqlx::query(
                "DELETE FROM zv_records WHERE (tree, key) IN \
                 (SELECT * FROM UNNEST($1::text[], $2::bytea[]))",
            )
            .bind(&self.del_trees)
            .bind(&self.del_keys)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// One transaction: the conditional write, then (only if it changed the
/// row) the batch.
pub(super) async fn cas_with(
    pool: &PgPool,
    tree: Tree,
    key: &[u8],
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
    batch: &Batch,
) -> Result<Result<(), Conflict>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed = match (expected, new) {
        (None, None) => {
            let row: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT value FROM zv_records WHERE tree = $1 AND key = $2 FOR UPDATE",
            )
            .bind(tree.name())
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            u64::from(row.is_none())
        }
        (None, Some(new)) => sqlx::query(
            "INSERT INTO zv_records (tree, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (tree, key) DO NOTHING",
        )
        .bind(tree.name())
        .bind(key)
        .bind(new)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        (Some(old), Some(new)) => sqlx::query(
            "UPDATE zv_records SET value = $4 WHERE tree = $1 AND key = $2 AND value = $3",
        )
        .bind(tree.name())
        .bind(key)
        .bind(old)
        .bind(new)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        (Some(old), None) => {
            sqlx::query("DELETE FROM zv_records WHERE tree = $1 AND key = $2 AND value = $3")
                .bind(tree.name())
                .bind(key)
                .bind(old)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
    };
    if changed != 1 {
        tx.rollback().await?;
        return Ok(Err(Conflict));
    }
    batch.write_in(&mut tx).await?;
    tx.commit().await?;
    Ok(Ok(()))
}
