//! Backoff for retried calls: exponential with full jitter, capped.
//!
//! Before retry `n` (1 for the first retry) the client sleeps a uniformly
//! random time in `[0, min(backoff_max, backoff_base * 2^(n-1))]` ("full
//! jitter"), so several vault instances recovering from the same outage do not
//! hit Zoho in lockstep. Only [`ZohoError::is_retryable`](super::ZohoError::is_retryable)
//! errors are retried.

use std::time::Duration;

use rand::Rng;

/// The upper bound of the sleep before retry `retry` (1-based).
pub fn backoff_ceiling(base: Duration, max: Duration, retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    base.saturating_mul(factor).min(max)
}

/// A uniformly random duration in `[0, ceiling]`.
pub fn full_jitter<R: Rng + ?Sized>(ceiling: Duration, rng: &mut R) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.gen_range(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(2);

    #[test]
    fn ceiling_doubles_then_caps() {
        let ceilings: Vec<u128> = (1..=6)
            .map(|n| backoff_ceiling(BASE, MAX, n).as_millis())
            .collect();
        assert_eq!(ceilings, [200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(backoff_ceiling(BASE, MAX, 0), BASE);
        assert_eq!(backoff_ceiling(BASE, MAX, u32::MAX), MAX);
    }

    #[test]
    fn jitter_stays_within_ceiling() {
        let mut rng = rand::thread_rng();
        let ceiling = Duration::from_millis(400);
        let samples: Vec<Duration> = (0..1000).map(|_| full_jitter(ceiling, &mut rng)).collect();
        assert!(samples.iter().all(|d| *d <= ceiling));
        // Full jitter spreads over the range, not just near the top.
        assert!(samples.iter().any(|d| *d < ceiling / 4));
        assert!(samples.iter().any(|d| *d > ceiling * 3 / 4));
        assert_eq!(full_jitter(Duration::ZERO, &mut rng), Duration::ZERO);
    }
}
