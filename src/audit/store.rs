//! The audit storage seam: what the group-commit writer, queries, verify,
//! export and prune need from wherever the trail is kept. The embedded
//! implementation is the segment log ([`super::log::EmbeddedAuditStore`]);
//! a transactional database implements the same calls (an events table
//! keyed by seq, the chain head read and locked in each group-commit
//! transaction, the checkpoint and the pending events in their own rows).
//!
//! Contract for implementations:
//! - [`AuditStore::append`] gets records already sequenced and chained by
//!   the single writer, consecutive after [`AuditStore::head`]; it stores
//!   them, and the pending-drain marker if any, atomically and durably
//!   before it returns (an acknowledged event survives a power cut).
//! - Reads ([`AuditStore::scan`], [`AuditStore::query`]) see only whole,
//!   acknowledged batches, and report stored data that cannot be read as
//!   [`AuditError::Damaged`] (never skip it).
//! - [`AuditStore::prune`] stores the signed checkpoint first; readers
//!   ignore every event at or before it from then on, whatever is still
//!   physically kept.

use std::sync::Arc;

use async_trait::async_trait;

use super::chain::ChainKey;
use super::event::{AuditEvent, AuditRecord};
use super::keys::Checkpoint;
use super::log::canonical::CanonicalPage;
use super::log::sweep::RawPages;
use super::log::SignedCheckpoint;
use super::query::{Page, Query};
use super::AuditError;

/// One group commit.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Chained records, consecutive after the head.
    pub records: Vec<AuditRecord>,
    /// Pending events with a counter up to this one are among `records`
    /// (they were chained first) and must no longer be returned by
    /// [`AuditStore::pending`], atomically with the records.
    pub drained_pending: Option<u64>,
}

/// The chain head held for one group commit by a store that other
/// processes append to as well: nobody else appends until
/// [`HeldHead::append`] commits, or the guard is dropped (which gives the
/// head up and writes nothing).
#[async_trait]
pub trait HeldHead: Send {
    /// The head as stored: the batch must be chained right after it.
    fn head(&self) -> &Checkpoint;

    /// Stores `records` (chained after [`Self::head`]) durably and gives
    /// the head up.
    async fn append(self: Box<Self>, records: Vec<AuditRecord>) -> Result<(), AuditError>;
}

/// Where the trail is kept.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Moves the events of an earlier storage format into this one, once
    /// (idempotent; a crash half-way resumes). `key` signs a carried-over
    /// prune checkpoint. Returns how many events were moved.
    async fn upgrade(&self, key: Arc<dyn ChainKey>) -> Result<u64, AuditError> {
        let _ = key;
        Ok(0)
    }

    /// Hands over the chain key when the writer gets it (`None` at seal).
    /// A store that other processes append to as well re-chains a batch
    /// after the real head with it; the embedded store ignores it.
    fn use_chain_key(&self, key: Option<Arc<dyn ChainKey>>) {
        let _ = key;
    }

    /// The chain head for the writer: the last event's seq and hash, else
    /// the checkpoint's, else genesis.
    async fn head(&self) -> Result<Checkpoint, AuditError>;

    /// Stores one group commit durably (see the module contract).
    async fn append(&self, batch: Batch) -> Result<(), AuditError>;

    /// Takes the chain head before the next batch is formed, when other
    /// processes append to the same chain and have to be waited for: the
    /// events that arrive during the wait join the batch instead of
    /// waiting for the next one. `None`: the writer owns the head and
    /// [`Self::append`] is all there is.
    async fn hold_head(&self) -> Result<Option<Box<dyn HeldHead>>, AuditError> {
        Ok(None)
    }

    /// Up to `limit` events from seq `from` on, in seq order, as stored
    /// (verify and export apply the checkpoint).
    async fn scan(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError>;

    /// [`Self::scan`] as canonical bytes for verify, when the store can
    /// give them without building records (`None`: use `scan`).
    async fn scan_canonical(
        &self,
        _from: u64,
        _limit: usize,
    ) -> Result<Option<CanonicalPage>, AuditError> {
        Ok(None)
    }

    /// Verify's bulk read: pages of raw event payloads from seq `from` on,
    /// `page` events each, when the store keeps the binary log (`None`:
    /// use [`Self::scan_canonical`]). Blocking: iterate it off the async
    /// workers.
    fn raw_pages(&self, _from: u64, _page: usize) -> Option<RawPages> {
        None
    }

    /// One page of `query` over the events after the checkpoint.
    async fn query(&self, query: &Query) -> Result<Page, AuditError>;

    /// The checkpoint of the last prune, if any.
    async fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError>;

    /// Stores `checkpoint` (durably, first), then drops what it covers as
    /// far as the backend can. Returns the units dropped (segments here).
    async fn prune(&self, checkpoint: SignedCheckpoint) -> Result<usize, AuditError>;

    /// Stores events recorded while sealed (no key: unchained), durably.
    async fn append_pending(&self, events: Vec<AuditEvent>) -> Result<(), AuditError>;

    /// The pending events not yet chained, with their counters, in order.
    async fn pending(&self) -> Result<Vec<(u64, AuditEvent)>, AuditError>;

    /// Bytes the trail takes on disk, when known (metrics, sizing).
    async fn bytes(&self) -> Option<u64> {
        None
    }
}
