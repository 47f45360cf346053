//! The background task that refreshes tokens shortly before they expire,
//! so callers rarely wait on Zoho, and refreshes idle connections now and
//! then, so a revoked or evicted refresh token shows up as `needs_reauth`
//! before a caller needs it. It goes through the broker's single flight and
//! mint budget like any caller, and only while the vault is unsealed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::RefreshAheadSettings;
use crate::service::VaultService;

/// Runs until the task is dropped or aborted.
pub async fn run(service: Arc<VaultService>, settings: RefreshAheadSettings) {
    if !settings.enabled {
        return;
    }
    let interval = Duration::from_secs(settings.interval_secs.max(1));
    let ahead = Duration::from_secs(settings.ahead_secs);
    let active = Duration::from_secs(settings.active_secs);
    let keepalive = Duration::from_secs(settings.keepalive_secs);
    // The keep-alive reads every connection record, so it sweeps at most
    // every ten minutes (or every keep-alive period if that is shorter).
    let sweep_every = keepalive.min(Duration::from_secs(600));
    let mut last_sweep: Option<Instant> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if service.is_sealed() {
            continue;
        }
        let refreshed = service.refresh_ahead_tick(ahead, active).await;
        if refreshed > 0 {
            tracing::debug!(refreshed, "refreshed tokens ahead of expiry");
        }
        if !keepalive.is_zero() && last_sweep.is_none_or(|t| t.elapsed() >= sweep_every) {
            last_sweep = Some(Instant::now());
            let kept = service.keepalive_tick(keepalive).await;
            if kept > 0 {
                tracing::info!(refreshed = kept, "keep-alive refreshed idle connections");
            }
        }
    }
}
