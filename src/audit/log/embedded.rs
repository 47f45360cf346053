//! [`EmbeddedAuditStore`]: the audit trail of a single-node vault. Chained
//! events live in the segment log; events recorded while sealed wait in the
//! store's `audit_pending` tree (rare, small) until the writer chains them
//! and writes a drain marker with them into the log.
//!
//! Upgrade from the previous release (events as JSON in the store's `audit`
//! tree, four index entries each, the checkpoint in `audit_index`): the
//! first activation copies the events, in order, into the log, then removes
//! them and their index entries from the store. Copying skips what the log
//! already holds, so a crash half-way just resumes.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::canonical::CanonicalPage;
use super::engine::{LogError, SegmentLog};
use super::sweep::RawPages;
use super::SignedCheckpoint;
use crate::audit::chain::ChainKey;
use crate::audit::event::{AuditEvent, AuditRecord};
use crate::audit::keys::{parse_seq, seq_key, Checkpoint, CHECKPOINT_KEY};
use crate::audit::query::{Page, Query};
use crate::audit::store::{AuditStore, Batch};
use crate::audit::AuditError;
use crate::store::{AsyncStore, Op, Scan, Tree};

/// The log's directory inside the data directory.
pub const LOG_DIR: &str = "audit-log";
/// Events moved per step of an upgrade.
const MOVE_PAGE: usize = 1024;

/// The segment log plus the store (for pending events and the upgrade).
pub struct EmbeddedAuditStore {
    log: Arc<SegmentLog>,
    store: AsyncStore,
}

impl From<LogError> for AuditError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Damaged(d) => AuditError::Damaged {
                seq: d.seq,
                message: d.to_string(),
            },
            LogError::Io(io) if crate::store::disk::io_is_disk_full(&io) => AuditError::DiskFull,
            other => AuditError::Store(other.to_string()),
        }
    }
}

impl EmbeddedAuditStore {
    /// Opens (creating) the log under `data_dir`, recovering its tail.
    /// Refuses, naming the segment and offset, when a record before the
    /// tail is damaged. Blocking: call at startup.
    pub fn open(data_dir: &Path, store: AsyncStore) -> Result<Self, AuditError> {
        let log = SegmentLog::open(&data_dir.join(LOG_DIR))?;
        Ok(Self::with_log(Arc::new(log), store))
    }

    /// Over an opened log (tests pick the segment size).
    pub fn with_log(log: Arc<SegmentLog>, store: AsyncStore) -> Self {
        Self { log, store }
    }

    /// The log, for blocking readers (backup).
    pub fn log(&self) -> &Arc<SegmentLog> {
        &self.log
    }

    async fn run<T, F>(&self, f: F) -> Result<T, AuditError>
    where
        T: Send + 'static,
        F: FnOnce(&SegmentLog) -> Result<T, LogError> + Send + 'static,
    {
        let log = Arc::clone(&self.log);
        tokio::task::spawn_blocking(move || f(&log))
            .await
            .map_err(|_| AuditError::Store("the audit log task failed".into()))?
            .map_err(AuditError::from)
    }

    async fn floor(&self) -> Result<u64, AuditError> {
        Ok(self.checkpoint().await?.map_or(0, |c| c.seq) + 1)
    }

    /// Copies one page of legacy events after the log's head; how many.
    async fn move_page(&self) -> Result<usize, AuditError> {
        let after = self.head().await?.seq;
        let page = self
            .store
            .scan(Scan {
                tree: Tree::Audit,
                start: Bound::Included(seq_key(after + 1)),
                end: Bound::Unbounded,
                reverse: false,
                limit: MOVE_PAGE,
            })
            .await?;
        let mut records = Vec::with_capacity(page.len());
        for (k, v) in page {
            let record: AuditRecord = serde_json::from_slice(&v).map_err(|e| {
                AuditError::Store(format!(
                    "event {:?} of the previous format: {e}",
                    parse_seq(&k)
                ))
            })?;
            let expected = after + 1 + records.len() as u64;
            if record.seq != expected || parse_seq(&k) != Some(expected) {
                return Err(AuditError::Store(format!(
                    "the previous format's trail has no event {expected}; verify it with the previous release before upgrading"
                )));
            }
            records.push(record);
        }
        let moved = records.len();
        if moved > 0 {
            self.append(Batch {
                records,
                drained_pending: None,
            })
            .await?;
        }
        Ok(moved)
    }

    /// Deletes every entry of `tree` (after the move).
    async fn clear_legacy(&self, tree: Tree) -> Result<(), AuditError> {
        loop {
            let keys = self.store.scan(Scan::prefix(tree, &[], MOVE_PAGE)).await?;
            if keys.is_empty() {
                return Ok(());
            }
            let ops = keys
                .into_iter()
                .map(|(key, _)| Op::Delete { tree, key })
                .collect();
            self.store.apply(ops).await?;
        }
    }
}

#[async_trait]
impl AuditStore for EmbeddedAuditStore {
    async fn upgrade(&self, key: Arc<dyn ChainKey>) -> Result<u64, AuditError> {
        let legacy_checkpoint = self
            .store
            .get(Tree::AuditIndex, CHECKPOINT_KEY.to_vec())
            .await?
            .map(|v| serde_json::from_slice::<Checkpoint>(&v))
            .transpose()
            .map_err(|e| AuditError::Store(format!("the previous checkpoint: {e}")))?;
        if let Some(cp) = legacy_checkpoint {
            let empty = self.log.head().is_none() && self.checkpoint().await?.is_none();
            if empty {
                self.prune(SignedCheckpoint::sign(key.as_ref(), &cp))
                    .await?;
            }
        }
        let mut moved = 0u64;
        loop {
            let n = self.move_page().await?;
            if n == 0 {
                break;
            }
            moved += n as u64;
        }
        self.clear_legacy(Tree::Audit).await?;
        self.clear_legacy(Tree::AuditIndex).await?;
        if moved > 0 {
            tracing::info!(events = moved, "moved the audit trail into the audit log");
        }
        Ok(moved)
    }

    async fn head(&self) -> Result<Checkpoint, AuditError> {
        if let Some(head) = self.log.head() {
            return Ok(head);
        }
        Ok(self
            .checkpoint()
            .await?
            .map_or_else(Checkpoint::genesis, |c| c.anchor()))
    }

    async fn append(&self, batch: Batch) -> Result<(), AuditError> {
        let drained = batch.drained_pending;
        self.run(move |log| log.append(&batch.records, drained))
            .await?;
        if let Some(upto) = drained {
            // Best effort: the marker in the log already hides them.
            let chained = Scan {
                tree: Tree::AuditPending,
                start: Bound::Unbounded,
                end: Bound::Included(seq_key(upto)),
                reverse: false,
                limit: usize::MAX,
            };
            let ops = match self.store.scan(chained).await {
                Ok(found) => found
                    .into_iter()
                    .map(|(key, _)| Op::Delete {
                        tree: Tree::AuditPending,
                        key,
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
            if let Err(e) = self.store.apply(ops).await {
                tracing::warn!(error = %e, "chained pending audit events not removed yet");
            }
        }
        Ok(())
    }

    async fn scan(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        self.run(move |log| log.records_from(from, limit)).await
    }

    async fn scan_canonical(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Option<CanonicalPage>, AuditError> {
        self.run(move |log| log.canonical_from(from, limit))
            .await
            .map(Some)
    }

    fn raw_pages(&self, from: u64, page: usize) -> Option<RawPages> {
        let views = self.log.segments(from, u64::MAX, None);
        Some(RawPages::new(views, from, page))
    }

    async fn query(&self, query: &Query) -> Result<Page, AuditError> {
        let floor = self.floor().await?;
        let query = query.clone();
        self.run(move |log| super::query::run(log, floor, &query))
            .await
    }

    async fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        self.run(|log| log.checkpoint()).await
    }

    async fn prune(&self, checkpoint: SignedCheckpoint) -> Result<usize, AuditError> {
        self.run(move |log| log.prune(&checkpoint)).await
    }

    async fn append_pending(&self, events: Vec<AuditEvent>) -> Result<(), AuditError> {
        let mut last = Scan::prefix(Tree::AuditPending, &[], 1);
        last.reverse = true;
        let stored = self.store.scan(last).await?;
        let first = stored
            .first()
            .and_then(|(k, _)| parse_seq(k))
            .unwrap_or(0)
            .max(self.log.drained())
            + 1;
        let mut ops = Vec::with_capacity(events.len());
        for (next, event) in (first..).zip(&events) {
            let value = serde_json::to_vec(event)
                .map_err(|_| AuditError::Store("an audit event cannot be encoded".into()))?;
            ops.push(Op::Put {
                tree: Tree::AuditPending,
                key: seq_key(next),
                value,
            });
        }
        Ok(self.store.apply(ops).await?)
    }

    async fn pending(&self) -> Result<Vec<(u64, AuditEvent)>, AuditError> {
        let drained = self.log.drained();
        let all = self
            .store
            .scan(Scan::prefix(Tree::AuditPending, &[], usize::MAX))
            .await?;
        let mut out = Vec::new();
        for (k, v) in all {
            let Some(n) = parse_seq(&k).filter(|n| *n > drained) else {
                continue;
            };
            match serde_json::from_slice::<AuditEvent>(&v) {
                Ok(event) => out.push((n, event)),
                Err(e) => {
                    tracing::error!(error = %e, "dropping an unreadable pending audit event")
                }
            }
        }
        Ok(out)
    }

    async fn bytes(&self) -> Option<u64> {
        Some(self.log.bytes())
    }
}
