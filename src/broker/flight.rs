//! The single flight's shared state: one [`Slot`] per connection holds the
//! cached token and the outcome of the last refresh, so callers queued
//! behind a refresh share what it ended with (a token or a failure)
//! instead of asking Zoho again.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use time::OffsetDateTime;

use crate::model::connection::CachedToken;
use crate::zoho::ZohoError;

/// An access token handed to a caller.
pub struct Issued {
    /// The token.
    pub access_token: SecretString,
    /// The API host to call with it.
    pub api_domain: String,
    /// When the vault stops handing it out.
    pub expires_at: OffsetDateTime,
    /// Whether this call refreshed it (else it came from the cache).
    pub refreshed: bool,
    /// Whether the refresh answer rotated the refresh token.
    pub rotated: bool,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("refreshed", &self.refreshed)
            .finish()
    }
}

/// How far the two clocks may disagree before an answer's `expires_at` is
/// pulled in to the monotonic deadline (they drift apart by microseconds
/// between taking the two readings).
const CLOCK_TOLERANCE: time::Duration = time::Duration::SECOND;

/// A cached access token, in memory.
#[derive(Clone)]
pub(super) struct Cached {
    token: SecretString,
    api_domain: String,
    expires_at: OffsetDateTime,
    minted_at: OffsetDateTime,
    /// `expires_at` on the monotonic clock, which no wall-clock jump moves:
    /// after a backward jump the wall clock would call an expired token
    /// valid, so validity is the earlier of the two.
    deadline: Instant,
}

impl Cached {
    /// The cached token of a record, read at wall-clock time `now`. (A
    /// token loaded from the store gets its deadline from the wall clock
    /// at load: a jump while the vault was down goes unnoticed.)
    pub(super) fn from_record(c: &CachedToken, now: OffsetDateTime) -> Self {
        let left = c.expires_at - now;
        let left = if left.is_positive() {
            left.unsigned_abs()
        } else {
            Duration::ZERO
        };
        Self {
            token: c.access_token.secret().clone(),
            api_domain: c.api_domain.clone(),
            expires_at: c.expires_at,
            minted_at: c.minted_at,
            deadline: Instant::now() + left,
        }
    }

    /// Whether `stored` is a later token than this one (another process
    /// refreshed since this one was loaded).
    pub(super) fn superseded_by(&self, stored: &CachedToken) -> bool {
        stored.expires_at > self.expires_at
    }

    /// How long the token stays valid from wall-clock time `now`: the
    /// smaller of what the wall clock and the monotonic clock say
    /// (negative once expired).
    pub(super) fn remaining(&self, now: OffsetDateTime) -> time::Duration {
        let wall = self.expires_at - now;
        let monotonic = match self.deadline.checked_duration_since(Instant::now()) {
            Some(left) => time::Duration::try_from(left).unwrap_or(time::Duration::MAX),
            None => -time::Duration::try_from(Instant::now() - self.deadline)
                .unwrap_or(time::Duration::MAX),
        };
        wall.min(monotonic)
    }

    /// Whether a token this close to expiry should be refreshed ahead of
    /// demand: within `ahead` of expiry and past half its life (so a token
    /// that lives shorter than `ahead` is not refreshed over and over).
    pub(super) fn due_ahead(&self, now: OffsetDateTime, ahead: Duration) -> bool {
        let remaining = self.remaining(now);
        let half_life = (self.expires_at - self.minted_at) / 2;
        remaining < ahead && remaining < half_life
    }

    fn valid_for(&self, now: OffsetDateTime, min: Duration) -> bool {
        self.remaining(now) >= min
    }

    /// The token as answered at wall-clock time `now`: its `expires_at`
    /// never later than the monotonic deadline says.
    pub(super) fn issue(&self, now: OffsetDateTime, refreshed: bool) -> Issued {
        let by_deadline = now + self.remaining(now);
        let expires_at = if by_deadline < self.expires_at - CLOCK_TOLERANCE {
            by_deadline
        } else {
            self.expires_at
        };
        Issued {
            access_token: self.token.clone(),
            api_domain: self.api_domain.clone(),
            expires_at,
            refreshed,
            rotated: false,
        }
    }
}

/// How a finished refresh ended, for the callers that queued behind it.
#[derive(Clone)]
pub(super) enum Outcome {
    /// A new token is in the cache.
    Refreshed,
    /// Zoho failed or refused; the record says how.
    Failed(ZohoError),
}

/// The last finished refresh: a sequence number and its outcome.
#[derive(Default)]
struct Flight {
    finished: u64,
    outcome: Option<Outcome>,
}

/// One connection's in-memory state.
#[derive(Default)]
pub(super) struct Slot {
    /// Whether the cache was loaded from the store (read and written only
    /// by the holder of the connection's refresh lease).
    pub(super) loaded: AtomicBool,
    cache: RwLock<Option<Cached>>,
    /// Written by the lease holder when its refresh finishes, read by the
    /// callers that waited for the lease meanwhile.
    flight: Mutex<Flight>,
    /// When a caller last asked (unix seconds); refresh-ahead serves only
    /// connections in use.
    pub(super) last_demand: AtomicI64,
    /// The callers of this process that need a refresh queue here, so only
    /// the first of them waits for the (cluster-wide) lease and the others
    /// share its outcome without a lease of their own.
    pub(super) queue: tokio::sync::Mutex<()>,
    /// Wakes every queued caller at once when a refresh finishes: they share
    /// its outcome together instead of taking the queue one after another.
    done: tokio::sync::Notify,
}

/// What a caller waiting in [`Slot::queue_or_outcome`] got first.
pub(super) enum Queued<'a> {
    /// Its turn in the queue.
    Turn(tokio::sync::MutexGuard<'a, ()>),
    /// The outcome of a refresh that finished while it waited.
    Finished(Outcome),
}

impl Slot {
    /// The cached token if it stays valid for `min` from `now`.
    pub(super) fn fresh(&self, now: OffsetDateTime, min: Duration) -> Option<Cached> {
        let guard = self.cache.read().ok()?;
        guard.as_ref().filter(|c| c.valid_for(now, min)).cloned()
    }

    /// The cached token, valid or not.
    pub(super) fn cached(&self) -> Option<Cached> {
        self.cache.read().ok().and_then(|c| c.clone())
    }

    /// Drops the cached token if it is `dead` (compared under the write
    /// lock, so a token another caller just put in its place stays).
    /// Returns whether the cache now holds a different token.
    pub(super) fn forget_if(&self, dead: &str) -> bool {
        use secrecy::ExposeSecret;
        let Ok(mut guard) = self.cache.write() else {
            return false;
        };
        match guard.as_ref() {
            Some(c) if c.token.expose_secret() == dead => {
                *guard = None;
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    pub(super) fn set(&self, cached: Option<Cached>) {
        if let Ok(mut guard) = self.cache.write() {
            *guard = cached;
        }
    }

    fn flight(&self) -> std::sync::MutexGuard<'_, Flight> {
        self.flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many refreshes have finished so far; taken before waiting for
    /// the lease, and compared after with [`Slot::finished_since`].
    pub(super) fn finished(&self) -> u64 {
        self.flight().finished
    }

    /// The outcome of the refresh that finished after `seen` was taken, if
    /// one did.
    pub(super) fn finished_since(&self, seen: u64) -> Option<Outcome> {
        let flight = self.flight();
        (flight.finished != seen)
            .then(|| flight.outcome.clone())
            .flatten()
    }

    /// Publishes the outcome of the refresh that just finished.
    pub(super) fn finish(&self, outcome: Outcome) {
        {
            let mut flight = self.flight();
            flight.finished = flight.finished.wrapping_add(1);
            flight.outcome = Some(outcome);
        }
        self.done.notify_waiters();
    }

    /// Waits for this caller's turn in the queue, or for the outcome of a
    /// refresh that finishes after `seen` was taken, whichever comes first.
    pub(super) async fn queue_or_outcome(&self, seen: u64) -> Queued<'_> {
        let finished = self.done.notified();
        tokio::pin!(finished);
        // Registered before the check, so a finish in between is not missed.
        finished.as_mut().enable();
        if let Some(outcome) = self.finished_since(seen) {
            return Queued::Finished(outcome);
        }
        tokio::select! {
            turn = self.queue.lock() => Queued::Turn(turn),
            () = &mut finished => match self.finished_since(seen) {
                Some(outcome) => Queued::Finished(outcome),
                None => Queued::Turn(self.queue.lock().await),
            },
        }
    }

    pub(super) fn mark_demand(&self, at: OffsetDateTime) {
        self.last_demand
            .store(at.unix_timestamp(), Ordering::Relaxed);
    }

    pub(super) fn demanded_since(&self, since: i64) -> bool {
        self.last_demand.load(Ordering::Relaxed) >= since
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn a_finished_refresh_answers_every_queued_caller_at_once_while_the_queue_is_held() {
        let slot = Slot::default();
        let seen = slot.finished();
        let held = slot.queue.try_lock().expect("the queue is free");
        let mut waiting: Vec<_> = (0..3)
            .map(|_| Box::pin(slot.queue_or_outcome(seen)))
            .collect();
        for w in &mut waiting {
            assert!(
                w.as_mut().now_or_never().is_none(),
                "waits while the queue is held"
            );
        }
        slot.finish(Outcome::Refreshed);
        for w in &mut waiting {
            let got = w.as_mut().now_or_never().expect("woken by the finish");
            assert!(matches!(got, Queued::Finished(Outcome::Refreshed)));
        }
        drop(held);
    }

    #[test]
    fn a_caller_gets_its_turn_when_the_queue_is_free_and_nothing_finished() {
        let slot = Slot::default();
        let seen = slot.finished();
        let got = Box::pin(slot.queue_or_outcome(seen)).now_or_never();
        assert!(matches!(got, Some(Queued::Turn(_))));
    }
}
