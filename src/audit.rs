//! The audit trail: a durable, append-only, hash-chained record of every
//! token issued, every refresh and every admin action, with no secret in it.
//!
//! - [`event`]: the closed set of actions and one constructor per kind.
//! - [`writer`]: [`AuditLog`], group commit with a deadline (fail closed).
//! - [`chain`]: the HMAC chain and its verification.
//! - [`query`]: indexed, cursor-paged queries, exports and pruning.
//! - [`store`]: [`AuditStore`], the seam to where the trail is kept.
//! - [`log`]: the embedded storage engine, an append-only segment log.
//! - [`pg`]: the trail in PostgreSQL, one chain shared by replicas.
//! - [`keys`]: indexed fields, the checkpoint, the previous release's
//!   key layout (read by the upgrade).
//!
//! See `docs/audit.md` for the format, the HTTP routes and sizing.

pub mod chain;
pub mod event;
pub mod keys;
pub mod log;
pub mod outage;
pub mod pg;
pub mod query;
pub mod store;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

pub mod denials;
pub use chain::{Broken, ChainKey, Problem, VerifyReport};
pub use denials::DenialThrottle;
pub use event::{
    AuditAction, AuditEvent, AuditRecord, CreateMethod, Detail, Details, Outcome, ReadKind,
    RequestContext, TokenSource,
};
pub use keys::Checkpoint;
pub use log::{EmbeddedAuditStore, SignedCheckpoint};
pub use outage::Outage;
pub use query::{Order, Page, Query, QueryParams};
pub use store::{AuditStore, Batch, HeldHead};
pub use writer::{Appended, AuditLog, WriterStats};

use crate::store::{AsyncStore, StoreError};

/// Audit failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The trail cannot be written (store failure or deadline): refuse the
    /// action (HTTP 503).
    #[error("the audit trail is unavailable: {0}")]
    Unavailable(&'static str),
    /// A bad query parameter; the message names it.
    #[error("{0}")]
    InvalidQuery(String),
    /// A prune that cannot be done.
    #[error("{0}")]
    InvalidPrune(String),
    /// Reading the trail failed.
    #[error("reading the audit trail failed: {0}")]
    Store(String),
    /// The trail cannot be written because the data directory's
    /// filesystem is full: refuse the action (HTTP 503); writes resume by
    /// themselves once space is freed.
    #[error("the audit trail is unavailable: disk full")]
    DiskFull,
    /// A stored event cannot be read (damaged on disk); `message` names
    /// where (for the segment log: segment file and byte offset).
    #[error("{message}")]
    Damaged {
        /// The event that should be there, when known.
        seq: Option<u64>,
        /// What and where.
        message: String,
    },
}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DiskFull(_) => Self::DiskFull,
            other => Self::Store(other.to_string()),
        }
    }
}

impl AuditLog {
    /// One page of events matching `query`.
    pub async fn query(&self, query: Query) -> Result<Page, AuditError> {
        self.store().query(&query).await
    }

    /// Verifies the whole stored chain with `key`.
    pub async fn verify(&self, key: Arc<dyn ChainKey>) -> Result<VerifyReport, AuditError> {
        chain::verify_store(self.store().as_ref(), key).await
    }

    /// One export page (see [`query::export_page`]).
    pub async fn export_page(
        &self,
        after: Option<u64>,
        until: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, Option<u64>), AuditError> {
        query::export_page(self.store().as_ref(), after, until, limit).await
    }
}

/// Opens the embedded audit trail of the vault in `data_dir` (the segment
/// log in `<data_dir>/audit-log`, pending events in `store`), recovering
/// its tail. Opened next to [`crate::store::open`], by the service only.
/// Blocking: call at startup.
pub fn open_embedded(data_dir: &Path, store: AsyncStore) -> Result<EmbeddedAuditStore, AuditError> {
    EmbeddedAuditStore::open(data_dir, store)
}

/// Verifies an export (JSON lines) with `key`; names the first edited,
/// missing or reordered line.
pub fn verify_export(text: &str, key: &dyn ChainKey) -> VerifyReport {
    chain::verify_lines(text, key)
}

#[cfg(test)]
mod tests;
