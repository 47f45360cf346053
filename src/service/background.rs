//! Work without a caller: refresh ahead of expiry, the keep-alive, and
//! the metrics read at scrape time.

use std::time::Duration;

use crate::audit::{AuditEvent, RequestContext};

use crate::broker::Issued;
use crate::connections::ConnectionError;

use super::*;

impl VaultService {
    /// Refreshes the tokens of connections in use that expire within
    /// `ahead`; returns how many were refreshed. Failures are logged and
    /// audited like a caller's, with no actor.
    pub async fn refresh_ahead_tick(&self, ahead: Duration, active: Duration) -> usize {
        let Ok(keyring) = self.vault.keyring() else {
            return 0;
        };
        // Each connection is looked at by one replica per interval: the
        // others skip it (one process alone always claims).
        let period = Duration::from_secs(self.settings.refresh_ahead.interval_secs.max(1));
        let mut refreshed = 0;
        for name in self.broker.due_ahead(ahead, active) {
            if !self
                .claimed("refresh_ahead", &format!("#refresh-ahead:{name}"), period)
                .await
            {
                continue;
            }
            let result = self
                .broker
                .refresh_ahead(&keyring, &name, ahead, false)
                .await;
            refreshed += usize::from(self.record_background(&name, result).await);
        }
        refreshed
    }

    /// Refreshes connections whose last successful refresh is older than
    /// `idle`, to find dead refresh tokens early; returns how many.
    pub async fn keepalive_tick(&self, idle: Duration) -> usize {
        let Ok(keyring) = self.vault.keyring() else {
            return 0;
        };
        // One replica sweeps per period (the period of the caller's loop).
        if !self
            .claimed(
                "keep_alive",
                "#keep-alive",
                idle.min(Duration::from_secs(600)),
            )
            .await
        {
            return 0;
        }
        let names = match self.connections.idle_since(&keyring, idle).await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(error = %e, "keep-alive cannot list connections");
                return 0;
            }
        };
        let mut refreshed = 0;
        for name in names {
            // Stored names were checked when written; one that no longer
            // parses is damage the keep-alive cannot fix.
            let Ok(name) = crate::model::ConnectionName::parse(name) else {
                tracing::warn!("keep-alive skips a stored connection with an invalid name");
                continue;
            };
            let result = self
                .broker
                .refresh_ahead(&keyring, &name, Duration::ZERO, true)
                .await;
            refreshed += usize::from(self.record_background(&name, result).await);
        }
        refreshed
    }

    /// Whether this process runs background job `job` (of metric label
    /// `kind`) this `period`. A coordinator failure skips the job (it is
    /// tried again next period).
    pub(super) async fn claimed(&self, kind: &'static str, job: &str, period: Duration) -> bool {
        let claimed = match self.coord.claim(job, period).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(job, error = %e, "cannot claim a background job; skipped");
                false
            }
        };
        let outcome = if claimed { "claimed" } else { "skipped" };
        self.metrics
            .background_claims
            .with_label_values(&[kind, outcome])
            .inc();
        claimed
    }

    /// Audits a background refresh; true if it refreshed.
    async fn record_background(&self, name: &str, result: Result<Issued, ConnectionError>) -> bool {
        let ctx = RequestContext::local();
        match result {
            Ok(issued) if issued.refreshed => {
                let event = AuditEvent::connection_refreshed(
                    None,
                    name,
                    issued.expires_at,
                    issued.rotated,
                    &ctx,
                );
                self.record_done(event).await;
                true
            }
            Ok(_) => false,
            Err(ConnectionError::NeedsReauth {
                fresh: true, code, ..
            }) => {
                tracing::warn!(
                    connection = name,
                    "background refresh: the connection needs re-authorization"
                );
                self.record_done(AuditEvent::connection_needs_reauth(None, name, &code, &ctx))
                    .await;
                false
            }
            Err(e) => {
                tracing::debug!(connection = name, error = %e, "background refresh skipped or failed");
                false
            }
        }
    }

    /// The Prometheus text of every metric, with the sealed state and the
    /// connection health counts read now.
    pub async fn render_metrics(&self) -> String {
        self.metrics.sealed.set(i64::from(self.vault.is_sealed()));
        if let Ok(keyring) = self.vault.keyring() {
            match self.connections.health_counts(&keyring).await {
                Ok(counts) => {
                    self.metrics.connections.reset();
                    for (state, n) in counts {
                        self.metrics.connections.with_label_values(&[state]).set(n);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot count connections for metrics"),
            }
        }
        self.metrics.render()
    }
}
