//! At most `proxy.max_concurrent_per_connection` proxied requests in
//! flight per connection; the excess waits up to `proxy.queue_wait_ms`
//! for a place, then is refused (Zoho counts concurrent calls per
//! organization and answers 429 past its own ceiling).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ProxyError;

/// The per-connection cap. Cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    per_connection: usize,
    wait: Duration,
    slots: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Limiter {
    /// A cap of `per_connection` (at least 1) with a queue wait of `wait`.
    pub fn new(per_connection: u32, wait: Duration) -> Self {
        Self {
            per_connection: per_connection.max(1) as usize,
            wait,
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A place for one request to `connection`, held until dropped.
    pub async fn acquire(&self, connection: &str) -> Result<OwnedSemaphorePermit, ProxyError> {
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.get(connection) {
                Some(semaphore) => Arc::clone(semaphore),
                None => Arc::clone(
                    slots
                        .entry(connection.to_string())
                        .or_insert_with(|| Arc::new(Semaphore::new(self.per_connection))),
                ),
            }
        };
        let busy = || ProxyError::Busy {
            connection: connection.to_string(),
            retry_after: self.wait.as_secs().max(1),
        };
        if let Ok(permit) = Arc::clone(&semaphore).try_acquire_owned() {
            return Ok(permit);
        }
        if self.wait.is_zero() {
            return Err(busy());
        }
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cap_refuses_the_excess_and_frees_a_place_on_drop() {
        let limiter = Limiter::new(2, Duration::ZERO);
        let a = limiter.acquire("acme").await.expect("first");
        let _b = limiter.acquire("acme").await.expect("second");
        assert!(matches!(
            limiter.acquire("acme").await,
            Err(ProxyError::Busy { .. })
        ));
        assert!(
            limiter.acquire("globex").await.is_ok(),
            "caps are per connection"
        );
        drop(a);
        assert!(limiter.acquire("acme").await.is_ok());
    }
}
