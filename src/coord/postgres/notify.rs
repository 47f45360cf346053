//! Invalidations between replicas: sent with `pg_notify` in publish
//! order, and their payload format.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

use super::{INVALIDATE, PUBLISH_ATTEMPTS};
use crate::coord::Invalidation;

/// Sends invalidations to the other replicas in the order they were
/// published, retrying each a few times.
pub(super) async fn send_out(pool: PgPool, mut outgoing: mpsc::UnboundedReceiver<String>) {
    while let Some(payload) = outgoing.recv().await {
        for attempt in 1..=PUBLISH_ATTEMPTS {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(INVALIDATE)
                .bind(&payload)
                .execute(&pool)
                .await;
            match sent {
                Ok(_) => break,
                Err(e) if attempt == PUBLISH_ATTEMPTS => {
                    tracing::warn!(error = %e, "an invalidation did not reach the other replicas; their caches expire on their own");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
            }
        }
    }
}

/// `origin|b|hex`, `origin|c|name` or `origin|a`.
pub(super) fn encode(origin: &str, inv: &Invalidation) -> String {
    match inv {
        Invalidation::BearerRevoked(hash) => format!("{origin}|b|{}", hex::encode(hash)),
        Invalidation::ConnectionChanged(name) => format!("{origin}|c|{name}"),
        Invalidation::All => format!("{origin}|a"),
    }
}

/// The inverse of [`encode`]; anything unreadable means "drop everything".
pub(super) fn decode(payload: &str) -> Option<(&str, Invalidation)> {
    let mut parts = payload.splitn(3, '|');
    let origin = parts.next()?;
    let inv = match (parts.next(), parts.next()) {
        (Some("b"), Some(h)) => hex::decode(h)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map_or(Invalidation::All, Invalidation::BearerRevoked),
        (Some("c"), Some(name)) => Invalidation::ConnectionChanged(name.to_string()),
        _ => Invalidation::All,
    };
    Some((origin, inv))
}
