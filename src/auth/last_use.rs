//! The last-use writer: records when a token was last accepted, at most
//! once per [`LAST_USE_EVERY`] per token, off the request path.
//!
//! The write runs in its own task that never delays or fails the request,
//! with a compare-and-swap against the bytes the request read, so that a
//! revocation racing it always wins (a revoked token is never written back).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use time::OffsetDateTime;

use super::record::TokenRecord;
use super::LAST_USE_EVERY;
use crate::crypto::keys::DataKey;
use crate::store::records::seal_op;
use crate::store::{AsyncStore, Op, Tree};

/// Most tokens remembered before the old entries are swept.
const SWEEP_AT: usize = 1024;

/// See the module documentation.
#[derive(Clone)]
pub(super) struct LastUseWriter {
    store: AsyncStore,
    /// When each token's last use was last written (or scheduled).
    written: Arc<Mutex<HashMap<String, Instant>>>,
    /// The writes scheduled so far, for [`LastUseWriter::flush`].
    #[cfg(test)]
    scheduled: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl LastUseWriter {
    pub(super) fn new(store: AsyncStore) -> Self {
        Self {
            store,
            written: Arc::new(Mutex::new(HashMap::new())),
            #[cfg(test)]
            scheduled: Arc::default(),
        }
    }

    /// Waits until every write scheduled so far has finished (a barrier
    /// for tests: "nothing was written" is checked after it, not after a
    /// sleep).
    #[cfg(test)]
    pub(super) async fn flush(&self) {
        let pending: Vec<_> = std::mem::take(
            &mut *self
                .scheduled
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for write in pending {
            write.await.expect("the last-use write panicked");
        }
    }

    /// Schedules the `last_used_at` write when this token's last one is
    /// older than [`LAST_USE_EVERY`]. Best effort: a failure is only
    /// logged, and a token revoked (or changed) since `sealed` was read is
    /// left alone.
    pub(super) fn note_use(
        &self,
        data_key: &DataKey,
        hash: &[u8],
        sealed: Vec<u8>,
        mut record: TokenRecord,
        now: OffsetDateTime,
    ) {
        let recent = record
            .last_used_at
            .is_some_and(|at| now - at < LAST_USE_EVERY);
        if recent || !self.claim_slot(&record.id) {
            return;
        }
        record.last_used_at = Some(now);
        let value = match seal_op(data_key, hash, &record) {
            Ok(Op::Put { value, .. }) => value,
            Ok(Op::Delete { .. }) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot seal a token's last use");
                return;
            }
        };
        let store = self.store.clone();
        let key = hash.to_vec();
        let id = record.id;
        let _write = tokio::spawn(async move {
            match store
                .compare_and_swap(Tree::Tokens, key, Some(sealed), Some(value))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    tracing::debug!(token_id = %id, "token changed or revoked meanwhile; last use not written")
                }
                Err(e) => {
                    tracing::warn!(token_id = %id, error = %e, "cannot record a token's last use")
                }
            }
        });
        #[cfg(test)]
        self.scheduled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(_write);
    }

    /// Whether this process should write `id`'s last use now (at most once
    /// per [`LAST_USE_EVERY`]); forgets entries older than that, so the map
    /// holds at most the tokens used in the last minute.
    fn claim_slot(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut map = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map
            .get(id)
            .is_some_and(|at| now.duration_since(*at) < LAST_USE_EVERY)
        {
            return false;
        }
        if map.len() >= SWEEP_AT {
            map.retain(|_, at| now.duration_since(*at) < LAST_USE_EVERY);
        }
        map.insert(id.to_string(), now);
        true
    }
}
