//! Who may try a passphrase now.
//!
//! Guessing is slowed per source, never globally, so the operator's right
//! passphrase does not wait behind anyone else's wrong ones:
//!
//! - each source (an IPv4 address; an IPv6 /64, since one host commonly
//!   holds a whole /64) has its own count of consecutive failures, and after
//!   the n-th it may try again only after `base · 2^(n-1)` (capped);
//! - a source with an attempt already running, or still inside its
//!   back-off, is refused at once with the time it must wait: nothing of
//!   it is queued;
//! - at most one key derivation runs at a time and at most `queue` more
//!   attempts (from other sources) wait for it; beyond that an attempt is
//!   refused at once. An admitted attempt therefore waits for at most
//!   `queue` derivations of other clients (one with the default).
//!
//! Memory is bounded: at most [`MAX_SOURCES`] sources are remembered; a
//! source idle for longer than the cap is forgotten first (its next delay
//! could not exceed the cap anyway), and when every slot is still in use,
//! further sources share one overflow entry, so an attacker with many
//! addresses gains one shared budget, not one each.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::UnsealSettings;

/// Sources remembered at most (about 64 bytes each).
pub const MAX_SOURCES: usize = 4096;

/// Where an attempt comes from, as the back-off counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    /// On the host (the start-up passphrase) or a peer that is unknown.
    Local,
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
    /// Every source that found the table full.
    Overflow,
}

impl Source {
    fn parse(peer: Option<&str>) -> Self {
        match peer.and_then(|p| p.parse::<IpAddr>().ok()) {
            Some(IpAddr::V4(v4)) => Self::V4(v4.octets()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.octets()),
                None => Self::V6((v6.to_bits() >> 64) as u64),
            },
            None => Self::Local,
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    failures: u32,
    not_before: Option<Instant>,
    running: bool,
    last_seen: Option<Instant>,
}

/// Why an attempt was refused before its passphrase was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This source is backing off (or has an attempt running): retry after
    /// this many seconds.
    Source { retry_after: u64 },
    /// The key derivation and its small queue are taken by other clients.
    Busy,
}

/// The per-source back-off and the bounded derivation queue.
#[derive(Debug)]
pub struct Gate {
    sources: Mutex<HashMap<Source, Entry>>,
    capacity: usize,
    admitted: AtomicUsize,
    kdf: Arc<tokio::sync::Semaphore>,
    settings: UnsealSettings,
}

/// An admitted attempt holding the key derivation; report its outcome
/// with [`Pass::succeeded`] or [`Pass::failed`]. Dropped without either
/// (an error other than a wrong passphrase, or the client went away), the
/// source's count stays as it was.
pub struct Pass {
    _kdf: tokio::sync::OwnedSemaphorePermit,
    slot: Slot,
}

/// A source's place in the queue: while it lives the source counts as
/// running and takes one of the queue's places. Dropping it gives both back,
/// also when the waiting future is cancelled.
struct Slot {
    gate: Arc<Gate>,
    source: Source,
}

impl Gate {
    /// A gate with the settings' delays and queue.
    pub fn new(settings: UnsealSettings) -> Arc<Self> {
        Self::with_capacity(settings, MAX_SOURCES)
    }

    fn with_capacity(settings: UnsealSettings, capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            sources: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            admitted: AtomicUsize::new(0),
            kdf: Arc::new(tokio::sync::Semaphore::new(1)),
            settings,
        })
    }

    /// Admits an attempt from `peer` (an IP address; `None` on the host),
    /// or refuses it at once. An admitted attempt holds the key derivation
    /// when this returns.
    pub async fn admit(self: &Arc<Self>, peer: Option<&str>) -> Result<Pass, Refusal> {
        let source = self.claim(Source::parse(peer), Instant::now())?;
        let in_queue = self.admitted.fetch_add(1, Ordering::SeqCst);
        let slot = Slot {
            gate: Arc::clone(self),
            source,
        };
        if in_queue > self.settings.queue as usize {
            return Err(Refusal::Busy);
        }
        match Arc::clone(&self.kdf).acquire_owned().await {
            Ok(permit) => Ok(Pass { _kdf: permit, slot }),
            Err(_) => Err(Refusal::Busy),
        }
    }

    /// Marks `source` running, unless it is running or backing off.
    fn claim(&self, source: Source, now: Instant) -> Result<Source, Refusal> {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let source = if sources.contains_key(&source) || sources.len() < self.capacity {
            source
        } else {
            let cap = self.cap();
            sources.retain(|_, e| {
                e.running
                    || e.last_seen
                        .is_some_and(|seen| now.duration_since(seen) <= cap)
            });
            if sources.len() < self.capacity {
                source
            } else {
                Source::Overflow
            }
        };
        let entry = sources.entry(source).or_default();
        entry.last_seen = Some(now);
        let wait = entry
            .not_before
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        if entry.running || !wait.is_zero() {
            return Err(Refusal::Source {
                retry_after: whole_secs(wait),
            });
        }
        entry.running = true;
        Ok(source)
    }

    /// Records `source`'s outcome: a failure grows its back-off, a success
    /// clears it.
    fn record(&self, source: Source, failed: bool) {
        let now = Instant::now();
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = sources.get_mut(&source) else {
            return;
        };
        entry.last_seen = Some(now);
        if failed {
            entry.failures = entry.failures.saturating_add(1);
            entry.not_before = Some(now + self.delay_after(entry.failures));
        } else {
            entry.failures = 0;
            entry.not_before = None;
        }
    }

    fn cap(&self) -> Duration {
        Duration::from_millis(self.settings.max_delay_ms)
    }

    /// The back-off after `failures` consecutive failures.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let factor = 1u64 << failures.saturating_sub(1).min(20);
        Duration::from_millis(
            self.settings
                .base_delay_ms
                .saturating_mul(factor)
                .min(self.settings.max_delay_ms),
        )
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.sources.lock().map(|s| s.len()).unwrap_or(0)
    }
}

impl Pass {
    /// The passphrase was right: the source starts afresh.
    pub fn succeeded(self) {
        self.slot.gate.record(self.slot.source, false);
    }

    /// The passphrase was wrong: the source backs off.
    pub fn failed(self) {
        self.slot.gate.record(self.slot.source, true);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.admitted.fetch_sub(1, Ordering::SeqCst);
        let mut sources = self.gate.sources.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = sources.get_mut(&self.source) {
            entry.running = false;
        }
    }
}

/// Whole seconds to wait, at least 1 (what `Retry-After` can say).
fn whole_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A back-off long enough that no test run outlives it.
    fn long() -> UnsealSettings {
        UnsealSettings {
            base_delay_ms: 3_600_000,
            max_delay_ms: 7_200_000,
            queue: 1,
        }
    }

    #[tokio::test]
    async fn a_failed_source_is_refused_with_its_wait_while_another_is_admitted() {
        let gate = Gate::new(long());
        gate.admit(Some("192.0.2.1")).await.expect("first").failed();
        match gate.admit(Some("192.0.2.1")).await {
            Err(Refusal::Source { retry_after }) => assert!(retry_after > 3_500, "{retry_after}"),
            other => panic!("expected a back-off, got {:?}", other.err()),
        }
        gate.admit(Some("192.0.2.2"))
            .await
            .expect("other source")
            .succeeded();
    }

    #[tokio::test]
    async fn a_source_with_an_attempt_running_is_refused_at_once() {
        let gate = Gate::new(long());
        let running = gate.admit(Some("192.0.2.1")).await.expect("first");
        assert!(matches!(
            gate.admit(Some("192.0.2.1")).await,
            Err(Refusal::Source { retry_after: 1 })
        ));
        drop(running);
        gate.admit(Some("192.0.2.1")).await.expect("after it ended");
    }

    #[tokio::test]
    async fn a_success_clears_the_back_off() {
        let gate = Gate::new(UnsealSettings {
            base_delay_ms: 0,
            ..long()
        });
        gate.admit(None).await.expect("first").failed();
        gate.admit(None).await.expect("second").succeeded();
        let gate_entry = gate.sources.lock().expect("lock")[&Source::Local].failures;
        assert_eq!(gate_entry, 0);
    }

    #[tokio::test]
    async fn beyond_the_queue_other_sources_are_refused_as_busy() {
        let gate = Gate::new(long());
        let running = gate.admit(Some("192.0.2.1")).await.expect("first");
        let waiting = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.admit(Some("192.0.2.2")).await.map(|p| p.succeeded()) }
        });
        while gate.admitted.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            gate.admit(Some("192.0.2.3")).await,
            Err(Refusal::Busy)
        ));
        drop(running);
        waiting
            .await
            .expect("task")
            .expect("the queued one runs next");
    }

    #[tokio::test]
    async fn many_addresses_share_one_overflow_entry_once_the_table_is_full() {
        let gate = Gate::with_capacity(long(), 4);
        for i in 0..100u8 {
            let _ = gate
                .admit(Some(&format!("198.51.100.{i}")))
                .await
                .map(Pass::failed);
        }
        assert_eq!(gate.remembered(), 5, "four sources and the overflow");
        assert!(matches!(
            gate.admit(Some("203.0.113.9")).await,
            Err(Refusal::Source { .. })
        ));
    }

    #[test]
    fn ipv6_addresses_of_one_64_prefix_are_one_source_and_mapped_v4_is_v4() {
        assert_eq!(
            Source::parse(Some("2001:db8:1:2::1")),
            Source::parse(Some("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Source::parse(Some("2001:db8:1:2::1")),
            Source::parse(Some("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::parse(Some("::ffff:192.0.2.1")),
            Source::parse(Some("192.0.2.1"))
        );
        assert_eq!(Source::parse(Some("not an address")), Source::Local);
    }
}
