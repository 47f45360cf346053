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
        let mut flight = self.flight();
        flight.finished = flight.finished.wrapping_add(1);
        flight.outcome = Some(outcome);
    }

    pub(super) fn mark_demand(&self, at: OffsetDateTime) {
        self.last_demand
            .store(at.unix_timestamp(), Ordering::Relaxed);
    }

    pub(super) fn demanded_since(&self, since: i64) -> bool {
        self.last_demand.load(Ordering::Relaxed) >= since
    }
}
