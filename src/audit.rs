//! The audit trail: a durable, append-only, hash-chained record of every
//! token issued, every refresh and every admin action, with no secret in it.
//!
//! - [`event`]: the closed set of actions and one constructor per kind.
//! - [`writer`]: [`AuditLog`], group commit with a deadline (fail closed).
//! - [`chain`]: the HMAC chain and its verification.
//! - [`query`]: indexed, cursor-paged queries, exports and pruning.
//! - [`keys`]: the on-disk key layout.
//!
//! See `docs/audit.md` for the format, the HTTP routes and sizing.

pub mod chain;
pub mod event;
pub mod keys;
pub mod query;
pub mod writer;

use std::sync::Arc;

use time::OffsetDateTime;

pub use chain::{Broken, ChainKey, Problem, VerifyReport};
pub use event::{
    AuditAction, AuditEvent, AuditRecord, CreateMethod, Detail, Details, Outcome, ReadKind,
    RequestContext, TokenSource,
};
pub use keys::Checkpoint;
pub use query::{Order, Page, Query, QueryParams};
pub use writer::{Appended, AuditLog, WriterStats};

use crate::store::StoreError;

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
}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

impl AuditLog {
    async fn blocking<T, F>(&self, f: F) -> Result<T, AuditError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn crate::store::BlockingStore) -> Result<T, AuditError> + Send + 'static,
    {
        let store = Arc::clone(self.store().blocking());
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| AuditError::Store("the audit read task failed".into()))?
    }

    /// One page of events matching `query`.
    pub async fn query(&self, query: Query) -> Result<Page, AuditError> {
        self.blocking(move |s| Ok(query::run_query(s, &query)?))
            .await
    }

    /// Verifies the whole stored chain with `key`.
    pub async fn verify(&self, key: Arc<dyn ChainKey>) -> Result<VerifyReport, AuditError> {
        self.blocking(move |s| Ok(chain::verify_store(s, key.as_ref())?))
            .await
    }

    /// One export page (see [`query::export_page`]).
    pub async fn export_page(
        &self,
        after: Option<u64>,
        until: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, Option<u64>), AuditError> {
        self.blocking(move |s| Ok(query::export_page(s, after, until, limit)?))
            .await
    }
}

/// Verifies an export (JSON lines) with `key`; names the first edited,
/// missing or reordered line.
pub fn verify_export(text: &str, key: &dyn ChainKey) -> VerifyReport {
    chain::verify_lines(text, key)
}

#[cfg(test)]
mod tests;
