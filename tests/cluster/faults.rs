//! Faults across replicas.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;
use zoho_vault::fake_zoho::ConfigPatch;

use crate::cluster::Cluster;

/// Whether replica `node` holds the refresh lease of `name` now.
async fn holds_lease(url: &str, name: &str, node: &str) -> bool {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM zv_leases WHERE name = $1 \
           AND owner LIKE $2 AND lease_until > now())",
    )
    .bind(name)
    .bind(format!("{node}/%"))
    .fetch_one(&mut conn)
    .await
    .expect("lease row")
}

#[tokio::test]
async fn a_replica_killed_while_it_refreshes_is_taken_over_by_the_others_after_its_lease() {
    let Some(mut c) = Cluster::start(3, &[("ZOHO_VAULT_CLUSTER__LEASE_MS", "1000")]).await else {
        return;
    };
    let set = |c: &Cluster, patch: ConfigPatch| c.fake.update_config(patch).expect("config");
    set(
        &c,
        ConfigPatch {
            access_token_ttl_secs: Some(3000),
            ..Default::default()
        },
    );
    c.connect(0, "acme").await;
    set(
        &c,
        ConfigPatch {
            access_token_ttl_secs: Some(3600),
            latency_ms: Some(3000),
            ..Default::default()
        },
    );
    let (_, svc) = c.service_token(0, &["acme"]).await;

    // Replica 0 starts a refresh that Zoho answers slowly...
    let doomed = reqwest::Client::new()
        .post(c.at(0).url("/v1/connections/acme/token"))
        .bearer_auth(&svc)
        .json(&json!({"min_valid_secs": 3000}))
        .send();
    let doomed = tokio::spawn(doomed);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds_lease(&c.db.url, "acme", "replica-0").await {
        assert!(Instant::now() < deadline, "replica-0 never took the lease");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...and dies holding the lease.
    c.replicas.remove(0).server.kill();
    assert!(
        doomed.await.expect("task").is_err(),
        "the killed replica answered"
    );

    // The others wait out its lease, refresh once, and agree.
    let (first, second) = tokio::join!(
        c.issue(0, "acme", &svc, json!({"min_valid_secs": 3000})),
        c.issue(1, "acme", &svc, json!({"min_valid_secs": 3000})),
    );
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(second.0, 200, "{}", second.1);
    assert_eq!(first.1["access_token"], second.1["access_token"]);
    let refreshes = c.fake.counters().refreshes;
    assert!(
        (1..=2).contains(&refreshes),
        "the dead replica's refresh plus at most one more: {refreshes}"
    );
}
