//! Webhooks in cluster mode: every replica runs the delivery worker, and
//! each event is claimed (a lease taken by compare-and-swap) and delivered
//! by one of them.

#[path = "../support/webhook_receiver.rs"]
mod receiver;

use std::collections::HashMap;

use serde_json::json;

use crate::cluster::Cluster;
use receiver::Receiver;

const EVENTS: usize = 12;

#[tokio::test]
async fn with_three_replicas_each_event_is_delivered_once() {
    let receiver = Receiver::start(&[]);
    let env = [
        ("ZOHO_VAULT_WEBHOOKS__ALLOW_HTTP", "true"),
        ("ZOHO_VAULT_WEBHOOKS__POLL_MS", "20"),
    ];
    let Some(cluster) = Cluster::start(3, &env).await else {
        return;
    };
    let (status, endpoint) = cluster
        .at(0)
        .post(
            "/v1/webhooks",
            Some(&cluster.admin),
            json!({"url": receiver.url, "events": ["connection.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    for i in 0..EVENTS {
        cluster.connect(i % 3, &format!("c{i}")).await;
    }
    receiver
        .wait_for("every connection.created", |got| {
            got.iter()
                .filter(|g| g.json()["type"] == "connection.created")
                .map(|g| g.id.clone())
                .collect::<std::collections::HashSet<_>>()
                .len()
                == EVENTS
        })
        .await;
    // One more event, queued after those were delivered: by the time it
    // arrives every replica has passed over the earlier ones again.
    let id = endpoint["id"].as_str().expect("id");
    let (status, _) = cluster
        .at(2)
        .post(
            &format!("/v1/webhooks/{id}/test"),
            Some(&cluster.admin),
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    receiver.wait_for_type("webhook.test").await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for g in receiver.got() {
        *counts.entry(g.id).or_default() += 1;
    }
    assert_eq!(counts.len(), EVENTS + 1, "{counts:?}");
    assert!(
        counts.values().all(|n| *n == 1),
        "delivered twice: {counts:?}"
    );
}
