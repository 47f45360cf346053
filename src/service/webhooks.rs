//! Webhook endpoints through the facade: create and delete (audited admin
//! actions), list, show, test, recent deliveries; and the delivery
//! worker's tick, run by the background loop while the vault is unsealed.

use std::time::Duration;

use crate::audit::{AuditEvent, RequestContext};
use crate::auth::Principal;
use crate::webhooks::admin::{Created, DeliveryLog, ExpiringToken};

/// How often the worker looks for service tokens about to expire: every
/// minute, or every 20 polls when polling faster.
const EXPIRY_SCAN_EVERY: Duration = Duration::from_secs(60);
use crate::webhooks::{CreateEndpoint, EndpointView};

use super::*;

impl VaultService {
    /// Creates a webhook endpoint (admin); its secret is answered once,
    /// and only after the creation is audited (else it is removed again).
    pub async fn create_webhook(
        &self,
        by: &Principal,
        req: CreateEndpoint,
        ctx: &RequestContext,
    ) -> Result<Created, ServiceError> {
        let keyring = self.vault.keyring()?;
        let dk = keyring.data_key();
        let created = self.webhooks.create(dk, req, crate::clock::now()).await?;
        let v = &created.view;
        let event = AuditEvent::webhook_created(by, &v.id, &v.url, &v.events, ctx);
        if let Err(e) = self.audit.append(event).await {
            self.webhooks.delete(dk, &v.id).await?;
            return Err(e.into());
        }
        Ok(created)
    }

    /// Every webhook endpoint (admin), URLs redacted.
    pub async fn webhooks(&self) -> Result<Vec<EndpointView>, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self
            .webhooks
            .list(keyring.data_key(), crate::clock::now())
            .await?)
    }

    /// One webhook endpoint (admin).
    pub async fn webhook(&self, id: &str) -> Result<EndpointView, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self
            .webhooks
            .get(keyring.data_key(), id, crate::clock::now())
            .await?)
    }

    /// Deletes a webhook endpoint and what is queued for it (admin).
    pub async fn delete_webhook(
        &self,
        by: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<EndpointView, ServiceError> {
        let keyring = self.vault.keyring()?;
        let view = self.webhooks.delete(keyring.data_key(), id).await?;
        self.record_done(AuditEvent::webhook_deleted(by, id, ctx))
            .await;
        Ok(view)
    }

    /// Queues a `webhook.test` event for one endpoint (admin); answers its
    /// event id.
    pub async fn test_webhook(&self, id: &str) -> Result<String, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self
            .webhooks
            .test(keyring.data_key(), id, crate::clock::now())
            .await?)
    }

    /// Recent attempts and unfinished deliveries of one endpoint (admin).
    pub async fn webhook_deliveries(&self, id: &str) -> Result<DeliveryLog, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self.webhooks.deliveries(keyring.data_key(), id).await?)
    }

    /// One pass of the delivery worker; nothing while sealed (the
    /// endpoints are sealed). Answers how many attempts it started.
    pub async fn webhooks_tick(&self) -> usize {
        let Ok(keyring) = self.vault.keyring() else {
            return 0;
        };
        let endpoints = match self.webhooks.records(keyring.data_key()).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery cannot read the endpoints");
                return 0;
            }
        };
        match self.webhook_worker.tick(endpoints).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery pass failed");
                0
            }
        }
    }

    /// Queues `service_token.expiring` for each service token with under
    /// a day left that was not announced yet.
    pub async fn announce_expiring_tokens(&self) -> usize {
        let Ok(keyring) = self.vault.keyring() else {
            return 0;
        };
        let tokens = match self
            .tokens
            .list(
                keyring.data_key(),
                Some(crate::crypto::token::TokenKind::Service),
            )
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list service tokens for expiry notices");
                return 0;
            }
        };
        let expiring: Vec<ExpiringToken> = tokens
            .into_iter()
            .filter_map(|t| {
                t.expires_at.map(|expires_at| ExpiringToken {
                    id: t.id,
                    name: t.name,
                    expires_at,
                })
            })
            .collect();
        match self
            .webhooks
            .announce_expiring(&expiring, crate::clock::now())
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot queue service token expiry notices");
                0
            }
        }
    }

    /// Runs the delivery worker until the task is aborted; looks for
    /// expiring service tokens about once a minute.
    pub async fn deliver_webhooks(self: Arc<Self>) {
        let every = Duration::from_millis(self.settings.webhooks.poll_ms.max(10));
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let scan_every = EXPIRY_SCAN_EVERY.min(every * 20);
        let mut last_expiry_scan: Option<std::time::Instant> = None;
        loop {
            ticker.tick().await;
            if last_expiry_scan.is_none_or(|t| t.elapsed() >= scan_every) {
                last_expiry_scan = Some(std::time::Instant::now());
                self.announce_expiring_tokens().await;
            }
            self.webhooks_tick().await;
        }
    }
}

/// The hook the audit writer calls when its writes work again after an
/// outage: enqueues one `audit.unavailable` event (it could not be
/// recorded while the trail was down). Spawned, since the writer must not
/// wait on the store; a crash in between loses only this notice.
pub(super) fn audit_recovery_hook(
    store: crate::store::AsyncStore,
) -> crate::audit::outage::OnRecovery {
    use crate::webhooks::event::{rfc3339, Event, EventType};
    Box::new(move |outage: crate::audit::Outage| {
        let event = Event::new(
            EventType::AuditUnavailable,
            outage.recovered_at,
            serde_json::json!({
                "started_at": rfc3339(outage.started_at),
                "recovered_at": rfc3339(outage.recovered_at),
                "refused_requests": outage.refused,
                "reason": outage.reason,
            }),
        );
        let store = store.clone();
        tokio::spawn(async move {
            let written = match crate::webhooks::outbox::enqueue(&event) {
                Ok(op) => store.apply(vec![op]).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::error!(error = %e, "the audit.unavailable webhook event could not be enqueued");
            }
        });
    })
}
