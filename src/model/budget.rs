//! The vault's own mint budget per connection, kept below Zoho's limit of
//! 10 access tokens per refresh token per rolling 10 minutes.

/// A rolling-window budget over mint start times (unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Mints allowed per window.
    pub limit: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

impl Budget {
    /// Drops mints that have left the window.
    pub fn prune(&self, mints: &mut Vec<i64>, now: i64) {
        let window = self.window_secs as i64;
        mints.retain(|t| now - *t < window);
    }

    /// `Ok` if another mint fits now, else the seconds until one does.
    pub fn check(&self, mints: &[i64], now: i64) -> Result<(), u64> {
        let window = self.window_secs as i64;
        let mut live: Vec<i64> = mints
            .iter()
            .copied()
            .filter(|t| now - *t < window)
            .collect();
        if live.len() < self.limit as usize {
            return Ok(());
        }
        live.sort_unstable();
        // The slot frees when the oldest of the last `limit` mints ages out.
        let oldest = live[live.len() - self.limit as usize];
        Err((oldest + window - now).max(1) as u64)
    }

    /// Moves mints recorded "in the future" (the wall clock jumped back
    /// since) to `now`: each happened no later than now, so counting it from
    /// now keeps the budget safe without blocking it for the whole jump.
    /// Answers whether anything moved, so the caller can store the result.
    pub fn settle(&self, mints: &mut [i64], now: i64) -> bool {
        let mut moved = false;
        for t in mints.iter_mut().filter(|t| **t > now) {
            *t = now;
            moved = true;
        }
        moved
    }

    /// Check and spend in one step: records a mint at `now` in `mints` if
    /// one fits (dropping those that left the window), else answers the
    /// seconds until one does and changes nothing. The caller holds the
    /// connection's refresh lease, so no other replica spends meanwhile.
    pub fn spend(&self, mints: &mut Vec<i64>, now: i64) -> Result<(), u64> {
        self.settle(mints, now);
        self.prune(mints, now);
        self.check(mints, now)?;
        mints.push(now);
        Ok(())
    }

    /// Mints inside the window at `now`.
    pub fn used(&self, mints: &[i64], now: i64) -> usize {
        let window = self.window_secs as i64;
        mints.iter().filter(|t| now - **t < window).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Budget = Budget {
        limit: 3,
        window_secs: 600,
    };

    #[test]
    fn mints_fit_until_the_limit() {
        assert!(B.check(&[], 1000).is_ok());
        assert!(B.check(&[900, 950], 1000).is_ok());
        assert_eq!(B.check(&[900, 950, 990], 1000), Err(500));
    }

    #[test]
    fn spending_records_the_mint_until_the_budget_is_exhausted() {
        let mut mints = Vec::new();
        for at in [100, 200, 300] {
            assert_eq!(B.spend(&mut mints, at), Ok(()));
        }
        assert_eq!(mints, vec![100, 200, 300]);
        // Exhausted: the first mint frees its slot at 100 + 600.
        assert_eq!(B.spend(&mut mints, 400), Err(300));
        assert_eq!(
            mints,
            vec![100, 200, 300],
            "a refused spend records nothing"
        );
        assert_eq!(B.spend(&mut mints, 700), Ok(()));
        assert_eq!(mints, vec![200, 300, 700]);
    }

    #[test]
    fn mints_from_before_a_backward_clock_jump_count_from_now_not_from_the_future() {
        // Three mints at 5000..5002, then the clock jumped back to 1000.
        let mut mints = vec![5000, 5001, 5002];
        assert!(B.settle(&mut mints, 1000));
        assert_eq!(mints, vec![1000, 1000, 1000]);
        // Blocked for one window from now, not for the jump plus a window.
        assert_eq!(B.spend(&mut mints, 1000), Err(600));
        assert_eq!(B.spend(&mut mints, 1600), Ok(()));
        assert!(!B.settle(&mut mints, 1600), "nothing left in the future");
    }

    #[test]
    fn mints_age_out_of_the_window() {
        assert!(B.check(&[300, 950, 990], 1000).is_ok());
        let mut m = vec![300, 950, 990];
        B.prune(&mut m, 1000);
        assert_eq!(m, vec![950, 990]);
        assert_eq!(B.used(&[300, 950, 990], 1000), 2);
    }
}
