//! Admin writers against a refresh in flight: a delete is final.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{error_code, ZohoApp};

/// Waits until the fake Zoho has received `n` token requests (the refresh
/// is then in flight: the fake holds its answer for the configured
/// latency). The poll only waits for the condition; it decides nothing.
async fn until_token_requests(z: &ZohoApp, n: u64) {
    while z.fake.counters().token_requests < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn delete_during_refresh(query: &str) {
    let z = Arc::new(ZohoApp::spawn());
    z.set_access_token_ttl(3000); // the cached token cannot meet 3000 s
    z.connect("acme").await;
    let svc = z.service_token(&["*"]).await;
    let before = z.fake.counters().token_requests;
    z.fake
        .update_config(zoho_vault::fake_zoho::ConfigPatch {
            latency_ms: Some(1500),
            ..Default::default()
        })
        .expect("latency");
    let caller = {
        let z = Arc::clone(&z);
        let svc = svc.clone();
        tokio::spawn(async move { z.issue("acme", &svc, json!({"min_valid_secs": 3000})).await })
    };
    until_token_requests(&z, before + 1).await;
    let (status, body) = z
        .app
        .admin_delete(&format!("/v1/connections/acme{query}"))
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = caller.await.expect("caller");
    assert_eq!(
        status, 404,
        "the caller learns the connection is gone: {body}"
    );
    assert_eq!(error_code(&body), "not_found");
    let (status, _) = z.app.admin_get("/v1/connections/acme").await;
    assert_eq!(status, 404, "the refresh did not write the connection back");
    let (status, _) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 404, "no token is issued for a deleted connection");

    let z = Arc::into_inner(z)
        .expect("one owner")
        .crashed_and_restarted();
    let (status, _) = z.app.admin_get("/v1/connections/acme").await;
    assert_eq!(status, 404, "still gone after a restart");
    z.fake
        .update_config(zoho_vault::fake_zoho::ConfigPatch {
            latency_ms: Some(0),
            ..Default::default()
        })
        .expect("latency");
    z.connect("acme").await;
}

#[tokio::test]
async fn a_delete_without_revocation_during_a_refresh_is_final() {
    delete_during_refresh("?revoke=false").await;
}

#[tokio::test]
async fn a_delete_with_revocation_during_a_refresh_is_final() {
    delete_during_refresh("").await;
}

/// Admin writers serialise per connection name, never across names: deleting
/// one connection does not wait behind the create of another whose code
/// exchange with Zoho hangs.
#[tokio::test]
async fn an_admin_action_never_waits_behind_another_connections_zoho_call() {
    let z = Arc::new(ZohoApp::spawn());
    z.connect("globex").await;
    let before = z.fake.counters().token_requests;
    z.fake
        .update_config(zoho_vault::fake_zoho::ConfigPatch {
            latency_ms: Some(60_000),
            ..Default::default()
        })
        .expect("latency");
    let create = {
        let z = Arc::clone(&z);
        tokio::spawn(async move {
            let body = z.upload_body();
            z.put_connection("acme", &body).await
        })
    };
    until_token_requests(&z, before + 1).await;
    let (status, body) = z
        .app
        .admin_delete("/v1/connections/globex?revoke=false")
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !create.is_finished(),
        "the delete of globex waited for acme's hanging exchange"
    );
    let (status, body) = create.await.expect("create");
    assert_ne!(status, 201, "the hanging exchange cannot succeed: {body}");
}
