//! The coordination seam: what several vault processes sharing one store
//! must agree on, behind one interface.
//!
//! - The per-connection refresh lease. One holder at a time refreshes a
//!   connection; its lease carries a fencing `generation`, and a writer that
//!   replaces the refresh token or deletes the connection takes the
//!   exclusive variant, which bumps the generation. A refresh holder checks
//!   [`Coordinator::is_current`] just before its final write (and that write
//!   is itself a compare-and-set on the stored record), so a holder whose
//!   lease was superseded writes nothing.
//! - Invalidation of in-memory caches (access tokens, verified bearer
//!   tokens): publish and subscribe.
//! - Background jobs (refresh ahead, keep-alive) that must run on one
//!   process per period: [`Coordinator::claim`].
//!
//! The mint budget is not held here: its state lives in the connection
//! record, which is only read and written under the refresh lease, so the
//! check-and-spend is one step for every replica (see `model::budget`).
//! The audit chain head is not part of this interface either; it belongs to
//! the audit storage engine.
//!
//! [`local::LocalCoordinator`] is the in-process implementation (one
//! vault process). Names are plain strings so that every domain module
//! (connections, auth) can use the seam without it depending on them.

pub mod local;
pub mod postgres;

use std::any::Any;

pub use local::LocalCoordinator;

/// A cache entry that some process changed, for every process to drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A bearer token (by its SHA-256) was revoked.
    BearerRevoked([u8; 32]),
    /// A connection was created, re-authorized or deleted: its cached
    /// access token must be reloaded from the store.
    ConnectionChanged(String),
    /// Everything (seal, restore).
    All,
}

/// Coordination failures (a remote coordinator unreachable). The in-process
/// implementation never fails.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// The coordinator cannot be reached or answered nonsense.
    #[error("the coordinator failed: {0}")]
    Unavailable(String),
}

/// Whether a lease is the shared (refresh) kind or the exclusive (admin
/// writer) kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKind {
    /// A token refresh.
    Refresh,
    /// A writer that replaces the refresh token or deletes the connection.
    Exclusive,
}

/// The right to refresh (or administer) one connection. Held until dropped.
pub struct RefreshLease {
    name: String,
    generation: u64,
    kind: LeaseKind,
    /// Whatever the implementation needs to release the lease on drop.
    _hold: Box<dyn Any + Send + Sync>,
}

impl RefreshLease {
    /// Builds a lease (for implementations of [`Coordinator`]).
    pub fn new(
        name: &str,
        generation: u64,
        kind: LeaseKind,
        hold: Box<dyn Any + Send + Sync>,
    ) -> Self {
        Self {
            name: name.to_string(),
            generation,
            kind,
            _hold: hold,
        }
    }

    /// The connection it covers.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing generation this lease was granted at.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Refresh or exclusive.
    pub fn kind(&self) -> LeaseKind {
        self.kind
    }
}

impl std::fmt::Debug for RefreshLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshLease")
            .field("name", &self.name)
            .field("generation", &self.generation)
            .field("kind", &self.kind)
            .finish()
    }
}

/// What replicas agree on. Object safe: the service holds an
/// `Arc<dyn Coordinator>`.
#[async_trait::async_trait]
pub trait Coordinator: Send + Sync + 'static {
    /// Waits until the caller holds the refresh lease of `name`.
    async fn acquire_refresh(&self, name: &str) -> Result<RefreshLease, CoordError>;

    /// Supersedes every lease of `name` granted so far (their holders'
    /// final writes are fenced off), then waits until the caller holds the
    /// lease. For writers that replace the refresh token or delete the
    /// connection.
    async fn acquire_exclusive(&self, name: &str) -> Result<RefreshLease, CoordError>;

    /// Whether `lease` is still the newest grant for its connection: no
    /// exclusive writer superseded it and it has not expired.
    async fn is_current(&self, lease: &RefreshLease) -> Result<bool, CoordError>;

    /// Claims background job `job` for `period`: true for exactly one
    /// caller across every process sharing the coordinator until `period`
    /// has passed (the claim is never released early, so a job claimed
    /// once per period runs once per period however many replicas try).
    /// One process alone always gets it.
    async fn claim(&self, job: &str, period: std::time::Duration) -> Result<bool, CoordError> {
        let _ = (job, period);
        Ok(true)
    }

    /// Tells every process (this one included) to drop a cache entry.
    fn publish(&self, invalidation: Invalidation);

    /// Invalidations published from now on. A receiver that lags behind
    /// must treat the gap as [`Invalidation::All`].
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Invalidation>;
}
