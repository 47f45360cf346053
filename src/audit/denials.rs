//! Bounding the trail under an anonymous flood: per source address, the
//! first few denials of a window are written one by one; the rest of the
//! window is only counted, and one `auth_denied_summary` event per address
//! and window carries the count once the window closes.
//!
//! The map of open windows is bounded: when it is full, windows that have
//! closed are summarised and dropped; if it is still full, a new address
//! shares one overflow window (source `*`), so neither memory nor the trail
//! grows with the number of addresses an attacker can use.
//!
//! Time is passed in ([`Instant`]), so tests close windows without
//! waiting; the summary's `window_start` is the wall-clock time the window
//! opened.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Source of the shared window used when the map is full.
pub const OVERFLOW_SOURCE: &str = "*";

/// What to do with one denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it as an `access_denied` event.
    Write,
    /// Only count it (it will be in the window's summary).
    Count,
}

/// A closed window in which denials were counted, to be written as one
/// `auth_denied_summary` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The source address (or [`OVERFLOW_SOURCE`]).
    pub source: String,
    /// Denials counted and not written one by one.
    pub count: u64,
    /// When the window opened (wall clock).
    pub window_start: OffsetDateTime,
}

struct Window {
    opened: Instant,
    opened_at: OffsetDateTime,
    seen: u64,
    counted: u64,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            opened: now,
            opened_at: OffsetDateTime::now_utc(),
            seen: 0,
            counted: 0,
        }
    }

    fn summary(&self, source: &str) -> Option<Summary> {
        (self.counted > 0).then(|| Summary {
            source: source.to_string(),
            count: self.counted,
            window_start: self.opened_at,
        })
    }
}

#[derive(Default)]
struct Windows {
    by_source: HashMap<String, Window>,
    overflow: Option<Window>,
}

/// The per-address denial counter (one per vault process).
pub struct DenialThrottle {
    written_per_window: u64,
    window: Duration,
    max_sources: usize,
    windows: Mutex<Windows>,
}

impl DenialThrottle {
    /// Writes the first `written_per_window` denials of each address per
    /// `window`, counts the rest; holds at most `max_sources` addresses.
    /// `written_per_window == 0` turns counting off (every denial written).
    pub fn new(written_per_window: u32, window: Duration, max_sources: usize) -> Self {
        Self {
            written_per_window: u64::from(written_per_window),
            window: window.max(Duration::from_secs(1)),
            max_sources: max_sources.max(1),
            windows: Mutex::new(Windows::default()),
        }
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Decides about one denial from `source` at `now`; also answers the
    /// summaries of windows this call found closed (write them).
    pub fn admit(&self, source: &str, now: Instant) -> (Verdict, Vec<Summary>) {
        if self.written_per_window == 0 {
            return (Verdict::Write, Vec::new());
        }
        let mut closed = Vec::new();
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if !w.by_source.contains_key(source) && w.by_source.len() >= self.max_sources {
            closed.extend(self.drain_closed(&mut w, now));
        }
        let window = if w.by_source.contains_key(source) || w.by_source.len() < self.max_sources {
            let window = w
                .by_source
                .entry(source.to_string())
                .or_insert_with(|| Window::new(now));
            self.renew(window, source, now, &mut closed);
            window
        } else {
            let window = w.overflow.get_or_insert_with(|| Window::new(now));
            self.renew(window, OVERFLOW_SOURCE, now, &mut closed);
            window
        };
        window.seen += 1;
        let verdict = if window.seen <= self.written_per_window {
            Verdict::Write
        } else {
            window.counted += 1;
            Verdict::Count
        };
        (verdict, closed)
    }

    /// Starts a new window if `window` has closed, keeping its summary.
    fn renew(&self, window: &mut Window, source: &str, now: Instant, out: &mut Vec<Summary>) {
        if now.saturating_duration_since(window.opened) >= self.window {
            out.extend(window.summary(source));
            *window = Window::new(now);
        }
    }

    fn drain_closed(&self, w: &mut Windows, now: Instant) -> Vec<Summary> {
        let mut out = Vec::new();
        let window = self.window;
        w.by_source.retain(|source, win| {
            let open = now.saturating_duration_since(win.opened) < window;
            if !open {
                out.extend(win.summary(source));
            }
            open
        });
        if let Some(win) = &w.overflow {
            if now.saturating_duration_since(win.opened) >= window {
                out.extend(win.summary(OVERFLOW_SOURCE));
                w.overflow = None;
            }
        }
        out
    }

    /// Closes every window that has run its length by `now` (the periodic
    /// flush) and answers the summaries to write.
    pub fn close_expired(&self, now: Instant) -> Vec<Summary> {
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        self.drain_closed(&mut w, now)
    }

    /// Closes every window now (at shutdown, and the test hook).
    pub fn close_all(&self) -> Vec<Summary> {
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<Summary> = w
            .by_source
            .drain()
            .filter_map(|(source, win)| win.summary(&source))
            .collect();
        if let Some(win) = w.overflow.take() {
            out.extend(win.summary(OVERFLOW_SOURCE));
        }
        out
    }

    /// Addresses with an open window (for tests and metrics).
    pub fn sources(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_source
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn throttle() -> DenialThrottle {
        DenialThrottle::new(5, MIN, 100)
    }

    fn verdicts(t: &DenialThrottle, source: &str, n: usize, now: Instant) -> Vec<Verdict> {
        (0..n).map(|_| t.admit(source, now).0).collect()
    }

    #[test]
    fn the_first_denials_of_a_window_are_written_and_the_rest_counted() {
        let t = throttle();
        let now = Instant::now();
        let v = verdicts(&t, "192.0.2.1", 12, now);
        assert_eq!(v.iter().filter(|v| **v == Verdict::Write).count(), 5);
        assert_eq!(v[5..], [Verdict::Count; 7]);
        let summaries = t.close_all();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].source, "192.0.2.1");
        assert_eq!(summaries[0].count, 7);
    }

    #[test]
    fn another_address_has_its_own_first_denials() {
        let t = throttle();
        let now = Instant::now();
        verdicts(&t, "192.0.2.1", 20, now);
        assert_eq!(verdicts(&t, "192.0.2.2", 5, now), [Verdict::Write; 5]);
    }

    #[test]
    fn a_closed_window_is_summarised_once_and_a_new_one_opens() {
        let t = throttle();
        let start = Instant::now();
        verdicts(&t, "192.0.2.1", 8, start);
        assert!(t.close_expired(start + MIN / 2).is_empty(), "still open");
        let later = start + MIN;
        let summaries = t.close_expired(later);
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].count, 3);
        assert!(t.close_expired(later).is_empty(), "summarised once");
        assert_eq!(t.admit("192.0.2.1", later).0, Verdict::Write);
    }

    #[test]
    fn a_denial_after_the_window_closes_it_and_answers_its_summary() {
        let t = throttle();
        let start = Instant::now();
        verdicts(&t, "192.0.2.1", 6, start);
        let (verdict, closed) = t.admit("192.0.2.1", start + MIN);
        assert_eq!(verdict, Verdict::Write);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].count, 1);
    }

    #[test]
    fn a_window_with_nothing_counted_needs_no_summary() {
        let t = throttle();
        let now = Instant::now();
        verdicts(&t, "192.0.2.1", 5, now);
        assert!(t.close_all().is_empty());
    }

    #[test]
    fn the_map_is_bounded_and_new_addresses_share_the_overflow_window() {
        let t = DenialThrottle::new(1, MIN, 3);
        let now = Instant::now();
        for i in 0..3 {
            t.admit(&format!("192.0.2.{i}"), now);
        }
        assert_eq!(t.sources(), 3);
        // Full and nothing closed: the next addresses share one window.
        assert_eq!(t.admit("198.51.100.1", now).0, Verdict::Write);
        assert_eq!(t.admit("198.51.100.2", now).0, Verdict::Count);
        assert_eq!(t.sources(), 3);
        // Once the windows have closed, their places are free again.
        let (verdict, closed) = t.admit("198.51.100.3", now + MIN);
        assert_eq!(verdict, Verdict::Write);
        assert_eq!(t.sources(), 1);
        assert_eq!(closed.len(), 1, "{closed:?}");
        assert_eq!(closed[0].source, OVERFLOW_SOURCE);
        assert_eq!(closed[0].count, 1);
    }

    #[test]
    fn zero_writes_every_denial() {
        let t = DenialThrottle::new(0, MIN, 3);
        let now = Instant::now();
        assert_eq!(verdicts(&t, "192.0.2.1", 50, now), [Verdict::Write; 50]);
        assert!(t.close_all().is_empty());
    }
}
