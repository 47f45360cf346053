//! Endpoint administration: create (the secret is shown once), list, show,
//! delete, send a test event, read recent attempts.

use std::ops::Bound;

use rand::RngCore;
use secrecy::SecretString;
use time::OffsetDateTime;

use super::endpoint::{redact, validate_url, EndpointRecord};
use super::event::{parse_subscription, Event, EventType};
use super::outbox::{decode, delivery_key, encode, endpoint_prefix, Attempt, Delivery, Outcome};
use super::signing::new_secret;
use super::WebhookError;
use crate::config::WebhookSettings;
use crate::crypto::keys::DataKey;
use crate::store::records::{seal_op, SealedSecret};
use crate::store::{prefix_end, AsyncStore, Op, Scan, Tree};

/// Most endpoints one vault keeps.
pub const MAX_ENDPOINTS: usize = 100;
/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 200;
/// An endpoint failing for longer than this is flagged in lists.
const FAILING_FLAG_SECS: i64 = 3600;

pub use super::views::*;

/// Endpoint administration over the store.
#[derive(Clone)]
pub struct Webhooks {
    store: AsyncStore,
    allow_http: bool,
}

/// Whether `id` has the shape of an endpoint id (`wh_` + 16 hex digits).
pub fn is_endpoint_id(id: &str) -> bool {
    id.strip_prefix("wh_")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Webhooks {
    /// Administration over `store`.
    pub fn new(store: AsyncStore, settings: &WebhookSettings) -> Self {
        Self {
            store,
            allow_http: settings.allow_http,
        }
    }

    /// Creates an endpoint after checking the request; nothing is stored
    /// when it is refused.
    pub async fn create(
        &self,
        dk: &DataKey,
        req: CreateEndpoint,
        now: OffsetDateTime,
    ) -> Result<Created, WebhookError> {
        let url = validate_url(&req.url, self.allow_http).map_err(WebhookError::Invalid)?;
        let events = parse_subscription(&req.events).map_err(WebhookError::Invalid)?;
        let description = req.description.map(|d| d.trim().to_string());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control))
        {
            return Err(WebhookError::Invalid(format!(
                "`description` must be at most {MAX_DESCRIPTION} characters without control characters"
            )));
        }
        if self.records(dk).await?.len() >= MAX_ENDPOINTS {
            return Err(WebhookError::Invalid(format!(
                "at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
            )));
        }
        let id = format!("wh_{:016x}", rand::rngs::OsRng.next_u64());
        let secret = new_secret();
        let record = EndpointRecord {
            id: id.clone(),
            url: SealedSecret::new(SecretString::from(url.to_string())),
            secret: SealedSecret::new(secret.clone()),
            events,
            description,
            format: req.format,
            created_at: now,
        };
        self.store
            .apply(vec![seal_op(dk, id.as_bytes(), &record)?])
            .await?;
        let view = self.view(&record, now).await?;
        Ok(Created { view, secret })
    }

    /// Every endpoint, sealed records opened.
    pub async fn records(&self, dk: &DataKey) -> Result<Vec<EndpointRecord>, WebhookError> {
        Ok(self
            .store
            .scan_sealed::<EndpointRecord>(dk, b"", MAX_ENDPOINTS * 2)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Every endpoint, as admins see them.
    pub async fn list(
        &self,
        dk: &DataKey,
        now: OffsetDateTime,
    ) -> Result<Vec<EndpointView>, WebhookError> {
        let mut out = Vec::new();
        for r in self.records(dk).await? {
            out.push(self.view(&r, now).await?);
        }
        Ok(out)
    }

    async fn record(&self, dk: &DataKey, id: &str) -> Result<EndpointRecord, WebhookError> {
        if !is_endpoint_id(id) {
            return Err(WebhookError::NotFound(id.chars().take(40).collect()));
        }
        self.store
            .get_sealed::<EndpointRecord>(dk, id.as_bytes())
            .await?
            .ok_or_else(|| WebhookError::NotFound(id.to_string()))
    }

    /// One endpoint.
    pub async fn get(
        &self,
        dk: &DataKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<EndpointView, WebhookError> {
        let r = self.record(dk, id).await?;
        self.view(&r, now).await
    }

    /// Deletes an endpoint with its pending deliveries and its attempts.
    pub async fn delete(&self, dk: &DataKey, id: &str) -> Result<EndpointView, WebhookError> {
        let r = self.record(dk, id).await?;
        let view = self.view(&r, OffsetDateTime::now_utc()).await?;
        let mut ops = vec![Op::Delete {
            tree: Tree::WebhookEndpoints,
            key: id.as_bytes().to_vec(),
        }];
        for tree in [Tree::WebhookDeliveries, Tree::WebhookAttempts] {
            for (key, _) in self
                .store
                .scan(Scan::prefix(tree, &endpoint_prefix(id), usize::MAX))
                .await?
            {
                ops.push(Op::Delete { tree, key });
            }
        }
        self.store.apply(ops).await?;
        Ok(view)
    }

    /// Queues a `webhook.test` event for this endpoint alone; answers its
    /// event id.
    pub async fn test(
        &self,
        dk: &DataKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<String, WebhookError> {
        let r = self.record(dk, id).await?;
        let event = Event::new(
            EventType::WebhookTest,
            now,
            serde_json::json!({ "endpoint": r.id, "message": "a test event, sent on request" }),
        );
        let delivery = Delivery {
            event: event.clone(),
            endpoint: r.id.clone(),
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            lease_owner: None,
        };
        self.store
            .apply(vec![Op::Put {
                tree: Tree::WebhookDeliveries,
                key: delivery_key(&r.id, &event.id),
                value: encode(Tree::WebhookDeliveries, &delivery)?,
            }])
            .await?;
        Ok(event.id)
    }

    /// Announces, once per token, each service token that expires within
    /// a day: the marker and the event are written together, and only by
    /// the first replica to try. Answers how many it announced.
    pub async fn announce_expiring(
        &self,
        tokens: &[ExpiringToken],
        now: OffsetDateTime,
    ) -> Result<usize, WebhookError> {
        let mut announced = 0;
        for t in tokens {
            let left = (t.expires_at - now).whole_seconds();
            if left <= 0 || left > EXPIRING_NOTICE_SECS {
                continue;
            }
            let event = Event::new(
                EventType::ServiceTokenExpiring,
                now,
                serde_json::json!({
                    "token_id": t.id,
                    "name": t.name,
                    "expires_at": super::event::rfc3339(t.expires_at),
                }),
            );
            let marker = format!("expiring/{}", t.id).into_bytes();
            let first = self
                .store
                .compare_and_swap_with(
                    Tree::WebhookMarks,
                    marker,
                    None,
                    Some(event.id.clone().into_bytes()),
                    vec![super::outbox::enqueue(&event)?],
                )
                .await?;
            announced += usize::from(first.is_ok());
        }
        Ok(announced)
    }

    /// Recent attempts (newest first) and unfinished deliveries.
    pub async fn deliveries(&self, dk: &DataKey, id: &str) -> Result<DeliveryLog, WebhookError> {
        let r = self.record(dk, id).await?;
        let mut attempts = self.attempts(&r.id).await?;
        attempts.reverse();
        Ok(DeliveryLog {
            attempts,
            pending: self
                .pending(&r.id)
                .await?
                .into_iter()
                .map(|d| PendingDelivery {
                    event_id: d.event.id,
                    kind: d.event.kind.as_str().into(),
                    attempts: d.attempts,
                    next_attempt_at: d.next_attempt_at,
                })
                .collect(),
        })
    }

    /// The endpoint's kept attempts, oldest first.
    async fn attempts(&self, id: &str) -> Result<Vec<Attempt>, WebhookError> {
        let prefix = endpoint_prefix(id);
        let scan = Scan {
            tree: Tree::WebhookAttempts,
            start: Bound::Included(prefix.clone()),
            end: prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded),
            reverse: false,
            limit: usize::MAX,
        };
        self.store
            .scan(scan)
            .await?
            .into_iter()
            .map(|(k, v)| decode(Tree::WebhookAttempts, &k, &v).map_err(Into::into))
            .collect()
    }

    async fn pending(&self, id: &str) -> Result<Vec<Delivery>, WebhookError> {
        self.store
            .scan(Scan::prefix(
                Tree::WebhookDeliveries,
                &endpoint_prefix(id),
                usize::MAX,
            ))
            .await?
            .into_iter()
            .map(|(k, v)| decode(Tree::WebhookDeliveries, &k, &v).map_err(Into::into))
            .collect()
    }

    async fn view(
        &self,
        r: &EndpointRecord,
        now: OffsetDateTime,
    ) -> Result<EndpointView, WebhookError> {
        let attempts = self.attempts(&r.id).await?;
        let (last_error, failing_since) = failing(&attempts);
        Ok(EndpointView {
            id: r.id.clone(),
            url: redact(secrecy::ExposeSecret::expose_secret(r.url.secret())),
            events: r.events.clone(),
            description: r.description.clone(),
            format: r.format,
            created_at: r.created_at,
            pending: self.pending(&r.id).await?.len(),
            last_error,
            failing_since,
            failing: failing_since.is_some_and(|s| (now - s).whole_seconds() > FAILING_FLAG_SECS),
        })
    }
}

/// The latest attempt's error, and since when attempts have failed without
/// a success in between (among the kept attempts, oldest first).
fn failing(attempts: &[Attempt]) -> (Option<String>, Option<OffsetDateTime>) {
    let Some(last) = attempts.last() else {
        return (None, None);
    };
    if last.outcome == Outcome::Delivered {
        return (None, None);
    }
    let since = attempts
        .iter()
        .rev()
        .take_while(|a| a.outcome != Outcome::Delivered)
        .last()
        .map(|a| a.at);
    (last.error.clone(), since)
}
