//! Per-token request rate limit: one token bucket per bearer-token id, in
//! memory.
//!
//! A bucket holds up to `burst` requests and refills at `per_sec` requests a
//! second; a request takes one, and when none is left it is refused with the
//! time until the next one. Memory stays bounded: buckets are only made for
//! authenticated tokens (so their number is at most the number of tokens in
//! use), and a bucket that has been idle long enough to refill completely
//! is indistinguishable from a new one, so it is dropped by the periodic
//! sweep. The limit is per process: a restart forgets it, which is fine for
//! a limit meant to contain a runaway or abused token, not to bill anyone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimitSettings;

/// Sweep idle buckets when the map holds more than this many.
const SWEEP_ABOVE: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter shared by every worker.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter from the settings; `None` when `per_token_per_sec` is 0.
    pub fn from_settings(s: &RateLimitSettings) -> Option<Self> {
        (s.per_token_per_sec > 0).then(|| Self::new(s.per_token_per_sec, s.burst))
    }

    /// `per_sec` sustained, `burst` at once (at least 1).
    pub fn new(per_sec: u32, burst: u32) -> Self {
        Self {
            per_sec: f64::from(per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket. `Err` carries the whole
    /// seconds (at least 1) after which a request will be accepted again.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain numbers: keep going with what is there.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            self.sweep(&mut buckets, now);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_sec).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_sec;
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// Drops every bucket that would be full by now (idle long enough).
    fn sweep(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let refill = Duration::from_secs_f64(self.burst / self.per_sec);
        buckets.retain(|_, b| now.saturating_duration_since(b.at) < refill);
    }

    /// Buckets currently held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_until_refilled() {
        let limiter = RateLimiter::new(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
        assert_eq!(limiter.check_at("a", t0), Err(1));
        // Another token has its own bucket.
        assert!(limiter.check_at("b", t0).is_ok());
        // Half a second refills one request at 2/s.
        assert!(limiter
            .check_at("a", t0 + Duration::from_millis(500))
            .is_ok());
        assert!(limiter
            .check_at("a", t0 + Duration::from_millis(500))
            .is_err());
    }

    #[test]
    fn retry_after_counts_whole_seconds_to_the_next_request() {
        let limiter = RateLimiter::new(1, 1);
        let t0 = Instant::now();
        assert!(limiter.check_at("a", t0).is_ok());
        assert_eq!(limiter.check_at("a", t0), Err(1));
        let slow = RateLimiter::new(1, 1);
        assert!(slow.check_at("a", t0).is_ok());
        assert_eq!(slow.check_at("a", t0 + Duration::from_millis(100)), Err(1));
    }

    #[test]
    fn idle_buckets_are_swept_so_memory_stays_bounded() {
        let limiter = RateLimiter::new(1000, 10);
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE {
            assert!(limiter.check_at(&format!("tok_{i}"), t0).is_ok());
        }
        assert_eq!(limiter.len(), SWEEP_ABOVE + 1);
        // 10 ms later every bucket is full again (10 at 1000/s): all go.
        assert!(limiter
            .check_at("fresh", t0 + Duration::from_millis(20))
            .is_ok());
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn zero_rate_means_no_limiter() {
        let off = RateLimitSettings {
            per_token_per_sec: 0,
            burst: 5,
        };
        assert!(RateLimiter::from_settings(&off).is_none());
        assert!(RateLimiter::from_settings(&RateLimitSettings::default()).is_some());
    }
}
