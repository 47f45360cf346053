//! The in-process [`Coordinator`]: one async mutex and one generation per
//! connection name, and a tokio broadcast channel for invalidations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::{CoordError, Coordinator, Invalidation, LeaseKind, RefreshLease};

/// Invalidations a slow subscriber may fall behind by before it is told it
/// lagged (and then drops everything).
const CHANNEL_CAPACITY: usize = 1024;

#[derive(Default)]
struct Entry {
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Bumped by every exclusive acquisition.
    generation: u64,
}

/// Coordination inside one process. Cheap to share behind an `Arc`.
pub struct LocalCoordinator {
    entries: Mutex<HashMap<String, Entry>>,
    invalidations: broadcast::Sender<Invalidation>,
}

impl Default for LocalCoordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalCoordinator {
    /// A coordinator with no leases held.
    pub fn new() -> Self {
        let (invalidations, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            entries: Mutex::new(HashMap::new()),
            invalidations,
        }
    }

    /// The lock of `name` and its generation, bumping it first if asked.
    fn entry(&self, name: &str, bump: bool) -> (Arc<tokio::sync::Mutex<()>>, u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.entry(name.to_string()).or_default();
        if bump {
            entry.generation += 1;
        }
        (Arc::clone(&entry.lock), entry.generation)
    }

    fn generation(&self, name: &str) -> u64 {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(name).map_or(0, |e| e.generation)
    }
}

#[async_trait::async_trait]
impl Coordinator for LocalCoordinator {
    async fn acquire_refresh(&self, name: &str) -> Result<RefreshLease, CoordError> {
        let (lock, _) = self.entry(name, false);
        let guard = lock.lock_owned().await;
        // Read after the wait: an exclusive writer that held the lock
        // meanwhile bumped it, and this lease starts after that writer.
        let generation = self.generation(name);
        Ok(RefreshLease::new(
            name,
            generation,
            LeaseKind::Refresh,
            Box::new(guard),
        ))
    }

    async fn acquire_exclusive(&self, name: &str) -> Result<RefreshLease, CoordError> {
        // Bump before waiting: a refresh in flight now is fenced off even
        // though it still holds the lock.
        let (lock, generation) = self.entry(name, true);
        let guard = lock.lock_owned().await;
        Ok(RefreshLease::new(
            name,
            generation,
            LeaseKind::Exclusive,
            Box::new(guard),
        ))
    }

    async fn is_current(&self, lease: &RefreshLease) -> Result<bool, CoordError> {
        Ok(self.generation(lease.name()) == lease.generation())
    }

    fn publish(&self, invalidation: Invalidation) {
        // No subscriber is not an error: nothing is cached anywhere.
        let _ = self.invalidations.send(invalidation);
    }

    fn subscribe(&self) -> broadcast::Receiver<Invalidation> {
        self.invalidations.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Whether `fut` is still pending after the runtime had every chance to
    /// run it (no wall clock decides: the paused clock only advances when
    /// every task is idle).
    async fn still_pending<F: std::future::Future>(fut: F) -> bool {
        tokio::time::timeout(Duration::from_secs(3600), fut)
            .await
            .is_err()
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_lease_is_held_by_one_caller_at_a_time() {
        let coord = LocalCoordinator::new();
        let first = coord.acquire_refresh("acme").await.expect("first");
        assert!(still_pending(coord.acquire_refresh("acme")).await);
        drop(first);
        let second = coord.acquire_refresh("acme").await.expect("second");
        assert_eq!(second.name(), "acme");
        assert_eq!(second.kind(), LeaseKind::Refresh);
    }

    #[tokio::test(start_paused = true)]
    async fn leases_of_different_connections_do_not_wait_for_each_other() {
        let coord = LocalCoordinator::new();
        let _acme = coord.acquire_refresh("acme").await.expect("acme");
        let other = tokio::time::timeout(Duration::from_secs(1), coord.acquire_refresh("other"))
            .await
            .expect("another connection is not blocked");
        assert!(other.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_exclusive_writer_fences_off_the_refresh_in_flight() {
        let coord = Arc::new(LocalCoordinator::new());
        let refresh = coord.acquire_refresh("acme").await.expect("refresh");
        assert!(coord.is_current(&refresh).await.expect("current"));
        let writer = {
            let coord = Arc::clone(&coord);
            tokio::spawn(async move { coord.acquire_exclusive("acme").await })
        };
        // The writer bumped the generation while waiting for the lock.
        tokio::task::yield_now().await;
        while coord.is_current(&refresh).await.expect("check") {
            tokio::task::yield_now().await;
        }
        assert!(!writer.is_finished(), "the writer waits for the holder");
        drop(refresh);
        let exclusive = writer.await.expect("join").expect("exclusive");
        assert_eq!(exclusive.kind(), LeaseKind::Exclusive);
        assert!(coord.is_current(&exclusive).await.expect("current"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_after_an_exclusive_writer_gets_the_new_generation() {
        let coord = LocalCoordinator::new();
        let before = coord
            .acquire_refresh("acme")
            .await
            .expect("before")
            .generation();
        drop(coord.acquire_exclusive("acme").await.expect("exclusive"));
        let after = coord.acquire_refresh("acme").await.expect("after");
        assert!(after.generation() > before);
        assert!(coord.is_current(&after).await.expect("current"));
    }

    #[tokio::test]
    async fn invalidations_reach_every_subscriber_in_order() {
        let coord = LocalCoordinator::new();
        let mut a = coord.subscribe();
        let mut b = coord.subscribe();
        coord.publish(Invalidation::ConnectionChanged("acme".into()));
        coord.publish(Invalidation::BearerRevoked([7; 32]));
        coord.publish(Invalidation::All);
        for rx in [&mut a, &mut b] {
            assert_eq!(
                rx.recv().await.expect("1"),
                Invalidation::ConnectionChanged("acme".into())
            );
            assert_eq!(
                rx.recv().await.expect("2"),
                Invalidation::BearerRevoked([7; 32])
            );
            assert_eq!(rx.recv().await.expect("3"), Invalidation::All);
        }
    }

    #[test]
    fn publishing_with_no_subscriber_is_harmless() {
        LocalCoordinator::new().publish(Invalidation::All);
    }
}
