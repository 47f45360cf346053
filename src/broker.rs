//! Token issue: one cached access token per connection, shared by every
//! caller, refreshed lazily and by one caller at a time.
//!
//! Single flight: a caller whose demand the cache cannot meet takes the
//! connection's refresh lease from the coordinator ([`crate::coord`]) and
//! only then asks Zoho. Callers that queued for the lease meanwhile share
//! the outcome of the refresh they waited for, whatever it was: the new
//! token, or after a failure the still-valid cached token (or the failure
//! itself when no valid token is left). In one process the outcome is
//! handed over in memory ([`flight`]); a caller of another replica sees the
//! stored record change while it waited and answers from the store. So a
//! failing Zoho costs one chain of attempts, not one per queued caller.
//!
//! The final write is fenced: it happens only while the lease is current
//! and as a compare-and-set on the stored record, so a refresh that an
//! admin writer (delete, re-authorization) overtook writes nothing. The
//! vault's own budget ([`budget::Budget`]) keeps mints below Zoho's limit;
//! a throttle answer from Zoho parks the connection until its back-off
//! passes.

mod dead;
mod errors;
mod flight;
mod refresh;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use crate::config::BrokerSettings;
use crate::coord::{Coordinator, Invalidation};
use crate::metrics::Metrics;
use crate::model::budget::Budget;
use crate::model::connection::{CachedToken, ConnectionRecord, HealthState};
use crate::model::error::ConnectionError;
use crate::model::ConnectionName;
use crate::store::records::open_value;
use crate::store::{AsyncStore, Tree};
use crate::vault::Keyring;
use crate::zoho::{ErrorClass, ZohoClient};

use errors::coord_error;
pub use flight::Issued;
use flight::{Cached, Outcome, Queued, Slot};
use refresh::{Current, Fenced};

/// The token broker. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    store: AsyncStore,
    zoho: ZohoClient,
    settings: BrokerSettings,
    metrics: Arc<Metrics>,
    coord: Arc<dyn Coordinator>,
    /// Invalidations from the coordinator, applied before each use of the
    /// cache (so one published before a call is seen by that call).
    invalidations: Arc<Mutex<tokio::sync::broadcast::Receiver<Invalidation>>>,
    slots: Arc<Mutex<HashMap<ConnectionName, Arc<Slot>>>>,
}

/// How many times a caller starts again after its refresh was fenced off
/// before it reports the connection as changed.
const FENCED_RETRIES: usize = 3;

impl Broker {
    /// A broker over the store.
    pub fn new(
        store: AsyncStore,
        zoho: ZohoClient,
        settings: BrokerSettings,
        metrics: Arc<Metrics>,
        coord: Arc<dyn Coordinator>,
    ) -> Self {
        let invalidations = Arc::new(Mutex::new(coord.subscribe()));
        Self {
            store,
            zoho,
            settings,
            metrics,
            coord,
            invalidations,
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Wall-clock time (a test build can jump it, see [`crate::clock`]).
    fn now(&self) -> OffsetDateTime {
        crate::clock::now()
    }

    /// Drops the cache entries every published invalidation names.
    fn apply_invalidations(&self) {
        use tokio::sync::broadcast::error::TryRecvError;
        let mut rx = self.invalidations.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match rx.try_recv() {
                Ok(Invalidation::ConnectionChanged(name)) => self.forget(&name),
                Ok(Invalidation::All) | Err(TryRecvError::Lagged(_)) => self.forget_all(),
                Ok(Invalidation::BearerRevoked(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }

    fn budget(&self) -> Budget {
        Budget {
            limit: self.settings.mint_budget,
            window_secs: self.settings.mint_window_secs,
        }
    }

    fn slot(&self, name: &ConnectionName) -> Arc<Slot> {
        self.apply_invalidations();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(slots.entry(name.clone()).or_default())
    }

    /// Drops the in-memory state of a connection.
    fn forget(&self, name: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|key, _| key.as_str() != name);
    }

    /// Drops every cached token from memory.
    fn forget_all(&self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The validity a caller demands: its `min_valid_secs`, checked against
    /// the maximum, or the default when it names none.
    pub fn demand(&self, min_valid_secs: Option<u64>) -> Result<Duration, ConnectionError> {
        let max = self.settings.max_min_valid_secs;
        match min_valid_secs {
            Some(secs) if secs > max => Err(ConnectionError::Invalid(format!(
                "`min_valid_secs` may be at most {max}"
            ))),
            Some(secs) => Ok(Duration::from_secs(secs)),
            None => Ok(Duration::from_secs(self.settings.default_min_valid_secs)),
        }
    }

    /// An access token valid for at least `min_valid` (when Zoho allows).
    pub async fn issue(
        &self,
        keyring: &Keyring,
        name: &ConnectionName,
        min_valid: Duration,
    ) -> Result<Issued, ConnectionError> {
        let slot = self.slot(name);
        slot.mark_demand(self.now());
        self.issue_from(keyring, name, slot, min_valid).await
    }

    /// Connections in use (asked for within `active`) whose cached token is
    /// due for a refresh ahead of demand (see `Cached::due_ahead`).
    pub fn due_ahead(&self, ahead: Duration, active: Duration) -> Vec<ConnectionName> {
        self.apply_invalidations();
        let now = self.now();
        let active_since = now.unix_timestamp() - active.as_secs() as i64;
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .filter(|(_, slot)| {
                slot.demanded_since(active_since)
                    && slot.cached().is_some_and(|c| c.due_ahead(now, ahead))
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Refreshes a connection's token now unless a fresh one appeared
    /// meanwhile, through the same single flight and budget as callers,
    /// without counting as demand. `force` refreshes even a token that is
    /// not due (the keep-alive).
    pub async fn refresh_ahead(
        &self,
        keyring: &Keyring,
        name: &ConnectionName,
        ahead: Duration,
        force: bool,
    ) -> Result<Issued, ConnectionError> {
        let slot = self.slot(name);
        let now = self.now();
        let min_valid = match slot.cached() {
            Some(c) if !force && !c.due_ahead(now, ahead) => return Ok(c.issue(now, false)),
            // Anything longer than what is left forces a refresh.
            Some(c) => c.remaining(now).unsigned_abs() + Duration::from_secs(1),
            None => Duration::from_secs(u64::from(u32::MAX)),
        };
        self.issue_from(keyring, name, slot, min_valid).await
    }

    async fn issue_from(
        &self,
        keyring: &Keyring,
        name: &ConnectionName,
        mut slot: Arc<Slot>,
        min_valid: Duration,
    ) -> Result<Issued, ConnectionError> {
        for _ in 0..FENCED_RETRIES {
            match self.attempt(keyring, name, &slot, min_valid).await? {
                Ok(issued) => return Ok(issued),
                // Overtaken by an admin writer: start again from the store.
                Err(Fenced) => slot = self.slot(name),
            }
        }
        Err(ConnectionError::NotFound(name.to_string()))
    }

    async fn attempt(
        &self,
        keyring: &Keyring,
        name: &ConnectionName,
        slot: &Arc<Slot>,
        min_valid: Duration,
    ) -> Result<Result<Issued, Fenced>, ConnectionError> {
        let now = self.now();
        if let Some(hit) = slot.fresh(now, min_valid) {
            return Ok(Ok(hit.issue(now, false)));
        }
        let key = name.as_bytes().to_vec();
        let seen = slot.finished();
        // On PostgreSQL each lease is a round trip to take and one to give
        // back: callers queued behind this process's own refresh share it
        // (or the token it found) without one each.
        // A refresh that finishes meanwhile wakes every waiter at once.
        let outcome = match slot.queue_or_outcome(seen).await {
            Queued::Finished(outcome) => Err(outcome),
            Queued::Turn(turn) => Ok((turn, slot.finished_since(seen))),
        };
        let _queued = match outcome {
            Ok((turn, None)) => turn,
            Ok((turn, Some(outcome))) => match self.share(name, slot, outcome) {
                Some(shared) => return shared.map(Ok),
                None => turn,
            },
            Err(outcome) => match self.share(name, slot, outcome) {
                Some(shared) => return shared.map(Ok),
                None => slot.queue.lock().await,
            },
        };
        let now = self.now();
        if let Some(hit) = slot.fresh(now, min_valid) {
            return Ok(Ok(hit.issue(now, false)));
        }
        // The record as it was before waiting: if another replica's refresh
        // finishes while we wait, the stored record differs afterwards.
        let before = self.store.get(Tree::Connections, key.clone()).await?;
        let lease = self
            .coord
            .acquire_refresh(name)
            .await
            .map_err(coord_error)?;
        if let Some(outcome) = slot.finished_since(seen) {
            if let Some(shared) = self.share(name, slot, outcome) {
                return shared.map(Ok);
            }
        }
        let Some(stored) = self.store.get(Tree::Connections, key).await? else {
            drop(lease);
            self.forget(name);
            return Err(ConnectionError::NotFound(name.to_string()));
        };
        let changed_meanwhile = before.as_ref() != Some(&stored);
        let dk = keyring.data_key();
        let cached: Option<CachedToken> = self.store.get_sealed(dk, name.as_bytes()).await?;
        // Reload what the store holds when this process never loaded it,
        // when it changed while we waited, or when it holds a newer token
        // than ours: another replica refreshed earlier, before this call
        // read the record. (A token we already hold keeps its monotonic
        // deadline.)
        let newer = cached
            .as_ref()
            .is_some_and(|c| slot.cached().is_some_and(|ours| ours.superseded_by(c)));
        if changed_meanwhile || newer || !slot.loaded.load(Ordering::Acquire) {
            let now = self.now();
            slot.set(cached.as_ref().map(|c| Cached::from_record(c, now)));
            slot.loaded.store(true, Ordering::Release);
        }
        let now = self.now();
        if let Some(hit) = slot.fresh(now, min_valid) {
            return Ok(Ok(hit.issue(now, false)));
        }
        let record: ConnectionRecord = open_value(dk, name.as_bytes(), &stored)?;
        if changed_meanwhile
            && matches!(
                record.health.state,
                HealthState::Active | HealthState::Degraded
            )
        {
            // Another replica refreshed (or failed to) while we waited:
            // share its outcome while the stored token is valid.
            if let Some(shared) = slot.fresh(now, Duration::ZERO) {
                return Ok(Ok(shared.issue(now, false)));
            }
        }
        let current = Current {
            lease,
            sealed: stored,
        };
        self.refresh(keyring, slot, record, current).await
    }

    /// The answer a caller that waited behind a finished refresh shares, or
    /// `None` to go on under the lease (a refreshed token already expired;
    /// a throttle or dead credential, which the stored record reports).
    fn share(
        &self,
        name: &ConnectionName,
        slot: &Slot,
        outcome: Outcome,
    ) -> Option<Result<Issued, ConnectionError>> {
        match outcome {
            // The best token there is, whatever our demand.
            Outcome::Refreshed => {
                let now = self.now();
                slot.fresh(now, Duration::ZERO)
                    .map(|c| Ok(c.issue(now, false)))
            }
            Outcome::Failed(err) if err.class() == ErrorClass::Transient => {
                Some(self.transient_answer(name.as_str(), slot, err))
            }
            Outcome::Failed(_) => None,
        }
    }
}
