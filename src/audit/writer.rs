//! The group-commit writer: one task owns the chain head, takes events from
//! a channel, drains everything queued into one batch, chains it and writes
//! it with one [`AuditStore::append`] (durable before it returns), then
//! answers every waiter. [`AuditLog::append`] gives up after the configured
//! deadline and reports [`AuditError::Unavailable`]; it never hangs.
//! With a store that other processes append to, the writer takes the chain
//! head from the store ([`AuditStore::hold_head`]) when a batch's first
//! event arrives and drains the queue only once it holds it, so the
//! events that arrive while it waits for the others' commits are in it.
//!
//! Caveat: a write that outlives the deadline may still land afterwards, so
//! the trail can hold an event for an action that was refused with 503. It
//! never misses an event for an action that was acknowledged.
//!
//! While no key is installed (sealed, or offline commands) events are stored
//! pending, unchained; [`AuditLog::activate`] chains them, in order, before
//! any later event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::chain::{chain_event_with, ChainKey, RecordHasher};
use super::event::AuditEvent;
use super::keys::Checkpoint;
use super::store::{AuditStore, Batch, HeldHead};
use super::AuditError;

mod task;
use task::Writer;

/// Most events in one batch.
const MAX_BATCH: usize = 1024;
/// Queue length before appenders wait (within their deadline).
const QUEUE: usize = 4096;

/// Where an appended event went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Chained at this sequence number.
    Chained(u64),
    /// Stored unchained while sealed; chained at the next unseal.
    Pending,
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Successful batch writes.
    pub batches: u64,
    /// Events written (chained or pending).
    pub events: u64,
}

type Reply<T> = oneshot::Sender<Result<T, AuditError>>;

enum Msg {
    Append(AuditEvent, Reply<Appended>),
    Activate(Arc<dyn ChainKey>, Reply<()>),
    Deactivate(oneshot::Sender<()>),
}

#[derive(Default)]
struct Shared {
    faults: AtomicU64,
    batches: AtomicU64,
    events: AtomicU64,
    /// Durations of batch writes, for the metrics endpoint.
    flushes: std::sync::OnceLock<prometheus::Histogram>,
    /// Where a full disk is reported (health, metrics).
    disk: std::sync::OnceLock<Arc<crate::store::disk::DiskState>>,
    /// The chain key while unsealed (signs prune checkpoints).
    key: Mutex<Option<Arc<dyn ChainKey>>>,
    /// A stretch of failed writes, and who hears when it ends.
    outage: super::outage::OutageTracker,
    on_recovery: std::sync::OnceLock<super::outage::OnRecovery>,
}

/// The durable, append-only audit trail.
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    idle: Mutex<Option<Writer>>,
    shared: Arc<Shared>,
    timeout: Duration,
    store: Arc<dyn AuditStore>,
    prune_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// A log over `store` whose appends give up after `write_timeout`. The
    /// writer task starts on the current tokio runtime (or at first use).
    pub fn new(store: Arc<dyn AuditStore>, write_timeout: Duration) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            store: Arc::clone(&store),
            rx,
            shared: Arc::clone(&shared),
            key: None,
            head: None,
            drained: false,
        };
        let log = Self {
            tx,
            idle: Mutex::new(Some(writer)),
            shared,
            timeout: write_timeout,
            store,
            prune_lock: tokio::sync::Mutex::new(()),
        };
        log.ensure_started();
        log
    }

    /// Reports the duration of every durable batch write to `histogram`.
    pub fn observe_flushes(&self, histogram: prometheus::Histogram) {
        let _ = self.shared.flushes.set(histogram);
    }

    /// Reports disk-full write failures (and the next success) to `disk`.
    pub fn watch_disk(&self, disk: Arc<crate::store::disk::DiskState>) {
        let _ = self.shared.disk.set(disk);
    }

    /// Calls `hook` once each time writes work again after failing (from
    /// the writer task: it must not block).
    pub fn on_recovery(&self, hook: super::outage::OnRecovery) {
        let _ = self.shared.on_recovery.set(hook);
    }

    fn ensure_started(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let writer = self.idle.lock().ok().and_then(|mut slot| slot.take());
        if let Some(writer) = writer {
            tokio::spawn(writer.run());
        }
    }

    /// Where the trail is kept.
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }

    /// The chain key while unsealed.
    pub(crate) fn key(&self) -> Option<Arc<dyn ChainKey>> {
        self.shared.key.lock().ok().and_then(|k| k.clone())
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Msg) -> Result<T, AuditError> {
        self.ensure_started();
        let (reply, answer) = oneshot::channel();
        let round_trip = async {
            self.tx
                .send(make(reply))
                .await
                .map_err(|_| AuditError::Unavailable("the audit writer has stopped"))?;
            answer
                .await
                .map_err(|_| AuditError::Unavailable("the audit writer has stopped"))?
        };
        match tokio::time::timeout(self.timeout, round_trip).await {
            Ok(result) => result,
            Err(_) => {
                tracing::error!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "audit write timed out"
                );
                Err(AuditError::Unavailable("the audit write timed out"))
            }
        }
    }

    /// Appends `event` and returns once it is durable (chained, or pending
    /// while sealed). Fails with [`AuditError::Unavailable`] when the write
    /// fails or misses the deadline: the caller must then refuse what it was
    /// about to do (HTTP 503).
    pub async fn append(&self, event: AuditEvent) -> Result<Appended, AuditError> {
        self.call(|reply| Msg::Append(event, reply)).await
    }

    /// Installs the chain key (at unseal or init) and chains every pending
    /// event, in order, before anything appended later. If that write fails
    /// the events stay pending and are chained with the next batch.
    pub async fn activate(&self, key: Arc<dyn ChainKey>) -> Result<(), AuditError> {
        if let Ok(mut slot) = self.shared.key.lock() {
            *slot = Some(Arc::clone(&key));
        }
        self.store.use_chain_key(Some(Arc::clone(&key)));
        self.call(|reply| Msg::Activate(key, reply)).await
    }

    /// Drops the chain key (at seal): later events go to the pending tree.
    pub async fn deactivate(&self) {
        self.ensure_started();
        let (reply, answer) = oneshot::channel();
        if let Ok(mut slot) = self.shared.key.lock() {
            *slot = None;
        }
        self.store.use_chain_key(None);
        if self.tx.send(Msg::Deactivate(reply)).await.is_ok() {
            let _ = tokio::time::timeout(self.timeout, answer).await;
        }
    }

    /// Test knob: the next `n` batch writes fail as if the disk had.
    pub fn inject_write_failures(&self, n: u64) {
        self.shared.faults.store(n, Ordering::SeqCst);
    }

    /// Batch and event counters.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.shared.batches.load(Ordering::SeqCst),
            events: self.shared.events.load(Ordering::SeqCst),
        }
    }

    /// Calls waiting for the writer to take them (events, mostly).
    pub fn queued(&self) -> usize {
        QUEUE - self.tx.capacity()
    }

    /// Deletes every event up to `until_seq` (whole segments; see
    /// [`super::query::prune`]) and leaves a signed checkpoint so the rest
    /// still verifies. Crash-safe: the checkpoint is written first and
    /// readers ignore events it covers.
    pub async fn prune(&self, until_seq: u64) -> Result<Checkpoint, AuditError> {
        let _one_at_a_time = self.prune_lock.lock().await;
        let key = self
            .key()
            .ok_or_else(|| AuditError::InvalidPrune("the vault is sealed".into()))?;
        super::query::prune(self.store.as_ref(), key.as_ref(), until_seq).await
    }
}
