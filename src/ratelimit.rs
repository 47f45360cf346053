//! Per-token request rate limit: one token bucket per bearer-token id, in
//! memory, kept by the `governor` crate's keyed limiter (GCRA over a
//! sharded concurrent map: no global lock on the request path).
//!
//! A bucket holds up to `burst` requests and refills at `per_sec` requests a
//! second; a request takes one, and when none is left it is refused with the
//! time until the next one. Memory stays bounded: buckets are only made for
//! authenticated tokens (so their number is at most the number of tokens in
//! use), and a bucket that has been idle long enough to refill completely
//! is indistinguishable from a new one, so it is dropped by the periodic
//! sweep. The limit is per process: a restart forgets it, which is fine for
//! a limit meant to contain a runaway or abused token, not to bill anyone.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::Quota;

use crate::config::RateLimitSettings;

/// Sweep idle buckets when the map holds more than this many.
const SWEEP_ABOVE: usize = 1024;
/// How often (in checks) the map's size is looked at: counting the shards
/// on every request would cost more than the check itself.
const LOOK_EVERY: u64 = 256;

/// The limiter shared by every worker. `C` is the clock (a fake one in
/// tests).
pub struct RateLimiter<C: Clock = DefaultClock> {
    inner: governor::RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    checks: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("buckets", &self.len())
            .finish()
    }
}

impl RateLimiter {
    /// A limiter from the settings; `None` when `per_token_per_sec` is 0.
    pub fn from_settings(s: &RateLimitSettings) -> Option<Self> {
        (s.per_token_per_sec > 0).then(|| Self::new(s.per_token_per_sec, s.burst))
    }

    /// `per_sec` sustained, `burst` at once (at least 1).
    pub fn new(per_sec: u32, burst: u32) -> Self {
        Self::with_clock(per_sec, burst, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// Like [`RateLimiter::new`], reading time from `clock`.
    pub fn with_clock(per_sec: u32, burst: u32, clock: C) -> Self {
        let quota = Quota::per_second(NonZeroU32::MIN.saturating_add(per_sec.saturating_sub(1)))
            .allow_burst(NonZeroU32::MIN.saturating_add(burst.saturating_sub(1)));
        Self {
            inner: governor::RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from `key`'s bucket. `Err` carries the whole
    /// seconds (at least 1) after which a request will be accepted again.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(LOOK_EVERY)
            && self.inner.len() > SWEEP_ABOVE
        {
            self.sweep();
        }
        self.inner.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    /// Drops every bucket that would be full by now (idle long enough).
    fn sweep(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }

    /// Buckets currently held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The limit on failed authentications per client address (the resolved
/// address: see `http.trusted_proxies`), so that an anonymous flood is
/// answered `429` cheaply and cannot grow the trail or the work without
/// bound. Only failures are counted: a valid token never meets it. Memory
/// is bounded like the per-token map (idle buckets are swept).
#[derive(Debug)]
pub struct AddressLimiter(RateLimiter);

impl AddressLimiter {
    /// A limiter from the settings; `None` when
    /// `anonymous_per_addr_per_sec` is 0.
    pub fn from_settings(s: &RateLimitSettings) -> Option<Self> {
        (s.anonymous_per_addr_per_sec > 0).then(|| {
            Self(RateLimiter::new(
                s.anonymous_per_addr_per_sec,
                s.anonymous_burst,
            ))
        })
    }

    /// Takes one failure from `addr`'s bucket; `Err` carries the seconds
    /// to wait, as [`RateLimiter::check`].
    pub fn check(&self, addr: std::net::IpAddr) -> Result<(), u64> {
        self.0.check(&addr.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn fake(per_sec: u32, burst: u32) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            RateLimiter::with_clock(per_sec, burst, clock.clone()),
            clock,
        )
    }

    #[test]
    fn a_burst_is_allowed_then_refused_until_refilled() {
        let (limiter, clock) = fake(2, 3);
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        assert_eq!(limiter.check("a"), Err(1));
        // Another token has its own bucket.
        assert!(limiter.check("b").is_ok());
        // Half a second refills one request at 2/s.
        clock.advance(Duration::from_millis(500));
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_err());
    }

    #[test]
    fn retry_after_counts_whole_seconds_to_the_next_request() {
        let (limiter, clock) = fake(1, 1);
        assert!(limiter.check("a").is_ok());
        assert_eq!(limiter.check("a"), Err(1));
        clock.advance(Duration::from_millis(100));
        assert_eq!(limiter.check("a"), Err(1));
        let (slow, _) = fake(1, 5);
        for _ in 0..5 {
            assert!(slow.check("a").is_ok());
        }
        assert_eq!(slow.check("a"), Err(1));
    }

    #[test]
    fn idle_buckets_are_swept_so_memory_stays_bounded() {
        let (limiter, clock) = fake(1000, 10);
        for i in 0..=SWEEP_ABOVE {
            assert!(limiter.check(&format!("tok_{i}")).is_ok());
        }
        assert_eq!(limiter.len(), SWEEP_ABOVE + 1);
        // 20 ms later every bucket is full again (10 at 1000/s): all go at
        // the next size check.
        clock.advance(Duration::from_millis(20));
        while !limiter
            .checks
            .load(Ordering::Relaxed)
            .is_multiple_of(LOOK_EVERY)
        {
            assert!(limiter.check("fresh").is_ok());
            clock.advance(Duration::from_millis(20));
        }
        assert!(limiter.check("fresh").is_ok());
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn zero_rate_means_no_limiter() {
        let off = RateLimitSettings {
            per_token_per_sec: 0,
            burst: 5,
            anonymous_per_addr_per_sec: 0,
            anonymous_burst: 5,
        };
        assert!(RateLimiter::from_settings(&off).is_none());
        assert!(AddressLimiter::from_settings(&off).is_none());
        assert!(RateLimiter::from_settings(&RateLimitSettings::default()).is_some());
    }
}
