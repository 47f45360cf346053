//! The durable outbox: the store writes that enqueue an event, the
//! per-endpoint deliveries it fans out into, the attempts kept for
//! operators, and the retry schedule.
//!
//! An event is written into [`Tree::WebhookOutbox`] in the same atomic
//! write as the change it announces. The worker fans it out into one
//! [`Delivery`] per subscribed endpoint, deleting the event in the same
//! write, and retries each delivery on its own schedule. Nothing here is
//! secret (payloads never carry one), so these records are stored as JSON.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::event::Event;
use crate::store::{Op, StoreError, Tree};

/// The write that enqueues `event`, for the batch of the change it
/// announces.
pub fn enqueue(event: &Event) -> Result<Op, StoreError> {
    Ok(Op::Put {
        tree: Tree::WebhookOutbox,
        key: event.id.as_bytes().to_vec(),
        value: encode(Tree::WebhookOutbox, event)?,
    })
}

/// JSON of an outbox record.
pub fn encode<T: Serialize>(tree: Tree, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        tree: tree.name(),
        key: String::new(),
        reason: e.to_string(),
    })
}

/// An outbox record from its JSON.
pub fn decode<T: for<'de> Deserialize<'de>>(
    tree: Tree,
    key: &[u8],
    value: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
        tree: tree.name(),
        key: String::from_utf8_lossy(key).chars().take(64).collect(),
        reason: e.to_string(),
    })
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The event (its id is the `webhook-id` of every attempt).
    pub event: Event,
    /// The endpoint's id.
    pub endpoint: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// While an attempt is in flight: until when its replica holds it. A
    /// replica that dies mid-attempt leaves it to another once this passed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub lease_until: Option<OffsetDateTime>,
    /// The replica holding the lease.
    #[serde(default)]
    pub lease_owner: Option<String>,
}

impl Delivery {
    /// The store key: `<endpoint id>/<event id>`.
    pub fn key(&self) -> Vec<u8> {
        delivery_key(&self.endpoint, &self.event.id)
    }

    /// Whether an attempt may start now.
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        self.next_attempt_at <= now && self.lease_until.is_none_or(|until| until <= now)
    }
}

/// The key of an endpoint's delivery of an event.
pub fn delivery_key(endpoint: &str, event_id: &str) -> Vec<u8> {
    format!("{endpoint}/{event_id}").into_bytes()
}

/// The key prefix of everything kept for one endpoint.
pub fn endpoint_prefix(endpoint: &str) -> Vec<u8> {
    format!("{endpoint}/").into_bytes()
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx in time.
    Delivered,
    /// Failed; tried again at `next_attempt_at`.
    Retrying,
    /// Failed, and the event is older than `webhooks.max_age`: given
    /// up.
    Failed,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retrying => "retrying",
            Outcome::Failed => "failed",
        }
    }
}

/// One attempt, kept in [`Tree::WebhookAttempts`] for
/// `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did (never the URL).
    pub error: Option<String>,
    /// What became of it.
    pub outcome: Outcome,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// When the next attempt is due (retrying only).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// Attempts kept per endpoint; older ones are removed as new ones land.
pub const ATTEMPTS_KEPT: usize = 100;

/// The key of an attempt: `<endpoint>/<time, hex nanoseconds>/<event id>`,
/// so an endpoint's attempts scan oldest first.
pub fn attempt_key(endpoint: &str, attempt: &Attempt) -> Vec<u8> {
    let nanos = u64::try_from(attempt.at.unix_timestamp_nanos()).unwrap_or(0);
    format!(
        "{endpoint}/{nanos:016x}/{}/{}",
        attempt.event_id, attempt.attempt
    )
    .into_bytes()
}

/// The wait before attempt `failed + 1` after `failed` failures: about
/// 5 s, 30 s, 2 min, 10 min, 1 h, then hourly, each moved by up to ±20 %
/// so that receivers that failed together are not retried together.
pub fn backoff(failed: u32) -> Duration {
    let base: u64 = match failed {
        0 | 1 => 5,
        2 => 30,
        3 => 120,
        4 => 600,
        _ => 3600,
    };
    let jitter = rand::thread_rng().gen_range(0.8..=1.2);
    Duration::from_secs_f64(base as f64 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::event::EventType;

    #[test]
    fn backoff_grows_to_hourly_with_bounded_jitter() {
        let expected = [5.0, 30.0, 120.0, 600.0, 3600.0, 3600.0, 3600.0];
        for (i, base) in expected.iter().enumerate() {
            for _ in 0..50 {
                let got = backoff(i as u32 + 1).as_secs_f64();
                assert!(got >= base * 0.8 && got <= base * 1.2, "{i}: {got}");
            }
        }
    }

    #[test]
    fn a_delivery_is_due_once_its_time_came_and_no_lease_holds_it() {
        let t = OffsetDateTime::from_unix_timestamp(1000).expect("test value");
        let mut d = Delivery {
            event: Event::new(EventType::WebhookTest, t, serde_json::Value::Null),
            endpoint: "wh_1".into(),
            attempts: 0,
            next_attempt_at: t,
            lease_until: None,
            lease_owner: None,
        };
        assert!(d.is_due(t));
        assert!(!d.is_due(t - time::Duration::seconds(1)));
        d.lease_until = Some(t + time::Duration::seconds(30));
        assert!(!d.is_due(t));
        assert!(d.is_due(t + time::Duration::seconds(30)));
    }

    #[test]
    fn the_enqueue_write_goes_to_the_outbox_under_the_event_id() {
        let e = Event::new(
            EventType::ConnectionCreated,
            OffsetDateTime::now_utc(),
            serde_json::json!({"connection": "acme"}),
        );
        let Op::Put { tree, key, value } = enqueue(&e).expect("test value") else {
            panic!("a put");
        };
        assert_eq!(tree, Tree::WebhookOutbox);
        assert_eq!(key, e.id.as_bytes());
        assert_eq!(decode::<Event>(tree, &key, &value).expect("test value"), e);
    }
}
