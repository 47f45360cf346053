//! The delivery worker: fans queued events out to the subscribed
//! endpoints, claims due deliveries (a lease in the delivery record, taken
//! with a compare-and-swap, so with several replicas each attempt is made
//! by one), POSTs them signed, and records the outcome.
//!
//! Each endpoint has its own small pool of in-flight attempts, so a
//! receiver that hangs holds at most `webhooks.per_endpoint_concurrency`
//! attempts (each cut off at `webhooks.timeout_ms`) and never delays other
//! endpoints or token issue, which never waits on a delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::delivery_error;
use super::endpoint::{EndpointRecord, Format};
use super::event::{subscribed, Event};
use super::outbox::{
    attempt_key, backoff, decode, encode, endpoint_prefix, Attempt, Delivery, Outcome,
    ATTEMPTS_KEPT,
};
use super::signing::sign;
use crate::config::WebhookSettings;
use crate::metrics::Metrics;
use crate::store::{AsyncStore, Op, Scan, StoreError, Tree};

/// Outbox events fanned out per tick.
const FAN_OUT_BATCH: usize = 200;
/// Deliveries looked at per tick.
const DELIVERY_BATCH: usize = 1000;
/// A delivery whose endpoint is gone is removed once its event is this
/// old.
const ORPHAN_AFTER: Duration = Duration::from_secs(600);
/// How long past the request timeout a claim holds, for writing the
/// outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The delivery worker of one replica.
pub struct Worker {
    store: AsyncStore,
    client: reqwest::Client,
    settings: WebhookSettings,
    metrics: Arc<Metrics>,
    node: String,
    clock: fn() -> OffsetDateTime,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// What an attempt got back.
struct Answer {
    status: Option<u16>,
    error: Option<String>,
}

impl Worker {
    /// A worker over `store`, reading time from `clock`.
    pub fn new(
        store: AsyncStore,
        settings: WebhookSettings,
        metrics: Arc<Metrics>,
        node: String,
        clock: fn() -> OffsetDateTime,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .user_agent(concat!("zoho-vault/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            client,
            settings,
            metrics,
            node,
            clock,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// One pass: fan out queued events, then start every due delivery
    /// that has a free slot. Answers how many attempts it started.
    pub async fn tick(
        self: &Arc<Self>,
        endpoints: Vec<EndpointRecord>,
    ) -> Result<usize, StoreError> {
        let now = (self.clock)();
        self.fan_out(&endpoints, now).await?;
        let by_id: HashMap<&str, &EndpointRecord> =
            endpoints.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut started = 0;
        let entries = self
            .store
            .scan(Scan::prefix(Tree::WebhookDeliveries, b"", DELIVERY_BATCH))
            .await?;
        for (key, value) in entries {
            let delivery: Delivery = match decode(Tree::WebhookDeliveries, &key, &value) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "an unreadable webhook delivery is skipped");
                    continue;
                }
            };
            if !delivery.is_due(now) {
                continue;
            }
            let Some(endpoint) = by_id.get(delivery.endpoint.as_str()) else {
                // An endpoint created after this pass read the list (its
                // test event may already be queued), or one deleted while a
                // fan-out raced the delete: only the latter, long stale,
                // is removed.
                if delivery.event.at + ORPHAN_AFTER < now {
                    self.store
                        .compare_and_swap(Tree::WebhookDeliveries, key, Some(value), None)
                        .await?
                        .ok();
                }
                continue;
            };
            let Ok(permit) = self.slot(&endpoint.id).try_acquire_owned() else {
                continue;
            };
            let mut claimed = delivery.clone();
            claimed.lease_until = Some(now + self.lease());
            claimed.lease_owner = Some(self.node.clone());
            let claimed_bytes = encode(Tree::WebhookDeliveries, &claimed)?;
            let won = self
                .store
                .compare_and_swap(
                    Tree::WebhookDeliveries,
                    key,
                    Some(value),
                    Some(claimed_bytes.clone()),
                )
                .await?;
            if won.is_err() {
                continue;
            }
            started += 1;
            let worker = Arc::clone(self);
            let target = Target {
                url: endpoint.url.secret().clone(),
                secret: endpoint.secret.secret().clone(),
                format: endpoint.format,
            };
            tokio::spawn(async move {
                worker.attempt(target, claimed, claimed_bytes, permit).await;
            });
        }
        Ok(started)
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.settings.timeout_ms) + LEASE_MARGIN
    }

    fn slot(&self, endpoint: &str) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(slots.entry(endpoint.to_string()).or_insert_with(|| {
            Arc::new(Semaphore::new(
                self.settings.per_endpoint_concurrency.max(1),
            ))
        }))
    }

    /// Moves queued events into per-endpoint deliveries. Each event leaves
    /// the outbox in the same write that creates its deliveries, and only
    /// if it is still there (another replica may have fanned it out).
    async fn fan_out(
        &self,
        endpoints: &[EndpointRecord],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let queued = self
            .store
            .scan(Scan::prefix(Tree::WebhookOutbox, b"", FAN_OUT_BATCH))
            .await?;
        for (key, value) in queued {
            let event: Event = match decode(Tree::WebhookOutbox, &key, &value) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "an unreadable webhook event is dropped");
                    self.store
                        .apply(vec![Op::Delete {
                            tree: Tree::WebhookOutbox,
                            key,
                        }])
                        .await?;
                    continue;
                }
            };
            let mut also = Vec::new();
            for endpoint in endpoints
                .iter()
                .filter(|e| subscribed(&e.events, event.kind))
            {
                let delivery = Delivery {
                    event: event.clone(),
                    endpoint: endpoint.id.clone(),
                    attempts: 0,
                    next_attempt_at: now,
                    lease_until: None,
                    lease_owner: None,
                };
                also.push(Op::Put {
                    tree: Tree::WebhookDeliveries,
                    key: delivery.key(),
                    value: encode(Tree::WebhookDeliveries, &delivery)?,
                });
            }
            self.store
                .compare_and_swap_with(Tree::WebhookOutbox, key, Some(value), None, also)
                .await?
                .ok();
        }
        Ok(())
    }

    /// Sends one claimed delivery and records the outcome (only if the
    /// claim still stands: a deleted endpoint takes its deliveries along).
    async fn attempt(
        &self,
        target: Target,
        claimed: Delivery,
        claimed_bytes: Vec<u8>,
        _permit: OwnedSemaphorePermit,
    ) {
        let sent_at = (self.clock)();
        let answer = self.send(&target, &claimed.event, sent_at).await;
        let done = (self.clock)();
        let attempt_no = claimed.attempts + 1;
        let delivered = answer.status.is_some_and(|s| (200..300).contains(&s));
        let too_old = (done - claimed.event.at).whole_seconds()
            >= i64::try_from(self.settings.max_age().as_secs()).unwrap_or(i64::MAX);
        let (outcome, next) = if delivered {
            (Outcome::Delivered, None)
        } else if too_old {
            (Outcome::Failed, None)
        } else {
            (Outcome::Retrying, Some(done + backoff(attempt_no)))
        };
        let record = Attempt {
            event_id: claimed.event.id.clone(),
            kind: claimed.event.kind.as_str().into(),
            attempt: attempt_no,
            status: answer.status,
            error: answer.error,
            outcome,
            at: sent_at,
            next_attempt_at: next,
        };
        if let Err(e) = self.record(&claimed, claimed_bytes, record, next).await {
            tracing::warn!(error = %e, endpoint = %claimed.endpoint, "a webhook attempt's outcome could not be stored; it is retried when its lease runs out");
            return;
        }
        self.metrics
            .webhook_deliveries
            .with_label_values(&[&claimed.endpoint, outcome.as_str()])
            .inc();
        match outcome {
            Outcome::Delivered => {}
            Outcome::Retrying => {
                tracing::info!(endpoint = %claimed.endpoint, event = %claimed.event.id, attempt = attempt_no, "webhook delivery failed; retrying later")
            }
            Outcome::Failed => {
                tracing::warn!(endpoint = %claimed.endpoint, event = %claimed.event.id, attempt = attempt_no, "webhook delivery failed for good: the event is older than webhooks.max_age")
            }
        }
    }

    async fn record(
        &self,
        claimed: &Delivery,
        claimed_bytes: Vec<u8>,
        attempt: Attempt,
        next: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let new = match next {
            Some(at) => {
                let mut d = claimed.clone();
                d.attempts = attempt.attempt;
                d.next_attempt_at = at;
                d.lease_until = None;
                d.lease_owner = None;
                Some(encode(Tree::WebhookDeliveries, &d)?)
            }
            None => None,
        };
        let mut also = vec![Op::Put {
            tree: Tree::WebhookAttempts,
            key: attempt_key(&claimed.endpoint, &attempt),
            value: encode(Tree::WebhookAttempts, &attempt)?,
        }];
        // Keep the newest attempts only.
        let kept = self
            .store
            .scan(Scan::prefix(
                Tree::WebhookAttempts,
                &endpoint_prefix(&claimed.endpoint),
                ATTEMPTS_KEPT * 2,
            ))
            .await?;
        let surplus = (kept.len() + 1).saturating_sub(ATTEMPTS_KEPT);
        also.extend(kept.into_iter().take(surplus).map(|(key, _)| Op::Delete {
            tree: Tree::WebhookAttempts,
            key,
        }));
        self.store
            .compare_and_swap_with(
                Tree::WebhookDeliveries,
                claimed.key(),
                Some(claimed_bytes),
                new,
                also,
            )
            .await?
            .ok();
        Ok(())
    }

    /// One POST. The error text names what failed, never the URL.
    async fn send(&self, target: &Target, event: &Event, now: OffsetDateTime) -> Answer {
        let body = match target.format {
            Format::Json => event.body(),
            Format::Slack => event.slack_body(),
        };
        let timestamp = now.unix_timestamp();
        let Some(signature) = sign(&target.secret, &event.id, timestamp, &body) else {
            return Answer {
                status: None,
                error: Some("the stored signing secret is unreadable".into()),
            };
        };
        let request = self
            .client
            .post(target.url.expose_secret())
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        match request.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                Answer {
                    status: Some(status),
                    error: (!(200..300).contains(&status)).then(|| delivery_error::status(status)),
                }
            }
            Err(e) => Answer {
                status: None,
                error: Some(delivery_error::transport(&e, self.settings.timeout_ms)),
            },
        }
    }
}

/// Where and how one delivery goes.
struct Target {
    url: SecretString,
    secret: SecretString,
    format: Format,
}
