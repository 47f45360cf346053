//! Where a backup reads the audit trail from: the embedded segment log
//! directly, or any [`AuditStore`] (PostgreSQL) through its async calls.

use std::sync::Arc;

use tokio::runtime::Handle;

use crate::audit::event::AuditRecord;
use crate::audit::log::{SegmentLog, SignedCheckpoint};
use crate::audit::store::AuditStore;
use crate::audit::AuditError;

/// The audit trail as the (blocking) backup writer reads it.
pub trait AuditSource: Send + Sync {
    /// The checkpoint of the last prune, if any.
    fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError>;
    /// Up to `limit` events from seq `from` on, in order.
    fn records_from(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError>;
}

impl AuditSource for SegmentLog {
    fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        Ok(SegmentLog::checkpoint(self)?)
    }

    fn records_from(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        Ok(SegmentLog::records_from(self, from, limit)?)
    }
}

/// An [`AuditStore`] read from the blocking pool: each call runs on the
/// runtime the store's connections belong to. Use it only from a blocking
/// thread (`spawn_blocking`), never from an async task.
pub struct TrailReader {
    trail: Arc<dyn AuditStore>,
    runtime: Handle,
}

impl TrailReader {
    /// Over `trail`, on the current runtime (call from within it).
    pub fn new(trail: Arc<dyn AuditStore>) -> Self {
        Self {
            trail,
            runtime: Handle::current(),
        }
    }
}

impl AuditSource for TrailReader {
    fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        self.runtime.block_on(self.trail.checkpoint())
    }

    fn records_from(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        self.runtime.block_on(self.trail.scan(from, limit))
    }
}
