//! One store read per presented token at a time: callers that present a
//! token whose verification is already being read from the store share
//! that read's outcome instead of each reading it. A burst of new callers
//! with one service token (a deployment's pods starting together, or many
//! requests right after a restart) is then one read per replica, not one
//! per caller queued on the store's connections.
//!
//! A read is shared only by callers that started at the same revocation
//! generation: a caller that started after a revocation never takes the
//! outcome of a read made before it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

type Key = ([u8; 32], u64);
type Reads<T> = Mutex<HashMap<Key, Arc<OnceCell<T>>>>;

/// The reads in progress, by token hash and revocation generation.
pub(super) struct Fills<T> {
    reads: Reads<T>,
}

impl<T: Clone> Fills<T> {
    pub(super) fn new() -> Self {
        Self {
            reads: Mutex::new(HashMap::new()),
        }
    }

    /// `read`'s outcome, or that of the same read another caller started
    /// at the same `generation` and has not finished yet. When the caller
    /// running the read goes away (its request was dropped), a waiting one
    /// runs it instead.
    pub(super) async fn read<F, Fut>(&self, hash: [u8; 32], generation: u64, read: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let key = (hash, generation);
        let leave = Leave {
            reads: &self.reads,
            key,
            cell: Some(Arc::clone(lock(&self.reads).entry(key).or_default())),
        };
        match &leave.cell {
            Some(cell) => cell.get_or_init(read).await.clone(),
            None => read().await,
        }
    }

    #[cfg(test)]
    pub(super) fn in_progress(&self) -> usize {
        lock(&self.reads).len()
    }

    /// Callers inside a read, the one running it included.
    #[cfg(test)]
    pub(super) fn callers(&self) -> usize {
        lock(&self.reads)
            .values()
            .map(|c| Arc::strong_count(c) - 1)
            .sum()
    }
}

fn lock<T>(reads: &Reads<T>) -> MutexGuard<'_, HashMap<Key, Arc<OnceCell<T>>>> {
    reads.lock().unwrap_or_else(|p| p.into_inner())
}

/// A caller's hold on a read: takes the read out of the map once it has
/// an outcome (later callers read again, usually from the cache it filled)
/// or nobody waits on it anymore.
struct Leave<'a, T> {
    reads: &'a Reads<T>,
    key: Key,
    /// The caller's only reference to the read, given up under the map's
    /// lock, so that of two callers leaving at once the second sees the
    /// first gone.
    cell: Option<Arc<OnceCell<T>>>,
}

impl<T> Drop for Leave<'_, T> {
    fn drop(&mut self) {
        let mut reads = lock(self.reads);
        let Some(cell) = self.cell.take() else {
            return;
        };
        let done = cell.initialized();
        let ours = reads.get(&self.key).is_some_and(|c| Arc::ptr_eq(c, &cell));
        drop(cell);
        // Only the map's reference left: nobody else waits.
        let alone = reads
            .get(&self.key)
            .is_some_and(|c| Arc::strong_count(c) == 1);
        if ours && (done || alone) {
            reads.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn callers_of_one_token_at_one_generation_share_one_read() {
        let fills = Arc::new(Fills::<u32>::new());
        let reads = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (fills, reads, mut released) =
                    (Arc::clone(&fills), Arc::clone(&reads), released.clone());
                tokio::spawn(async move {
                    fills
                        .read([7; 32], 1, || async move {
                            reads.fetch_add(1, Ordering::SeqCst);
                            let _ = released.wait_for(|r| *r).await;
                            42
                        })
                        .await
                })
            })
            .collect();
        // Every caller has joined before the read is let go.
        while fills.callers() < 50 {
            tokio::task::yield_now().await;
        }
        release.send(true).expect("release");
        for c in callers {
            assert_eq!(c.await.expect("caller"), 42);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(fills.in_progress(), 0, "nothing left behind");
    }

    #[tokio::test]
    async fn a_caller_at_a_later_generation_reads_for_itself() {
        let fills = Fills::<u32>::new();
        let (release, released) = tokio::sync::watch::channel(false);
        let mut first_released = released.clone();
        let first = fills.read([7; 32], 1, || async move {
            let _ = first_released.wait_for(|r| *r).await;
            1
        });
        let later = async {
            let answer = fills.read([7; 32], 2, || async { 2 }).await;
            release.send(true).expect("release");
            answer
        };
        // Were the later caller to wait for the first read, neither would
        // ever finish.
        let both = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            tokio::join!(first, later)
        });
        assert_eq!(
            both.await.expect("the later caller read for itself"),
            (1, 2)
        );
    }

    #[tokio::test]
    async fn a_read_whose_caller_went_away_is_not_left_behind() {
        let fills = Fills::<u32>::new();
        let never = fills.read([7; 32], 1, std::future::pending::<u32>);
        let gone = tokio::time::timeout(std::time::Duration::from_millis(1), never).await;
        assert!(gone.is_err());
        assert_eq!(fills.in_progress(), 0);
        assert_eq!(fills.read([7; 32], 1, || async { 3 }).await, 3);
    }
}
