//! Token issue: caching, single-flight refresh, budget, Zoho's failures.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{error_code, ZohoApp, PASSPHRASE};
use zoho_vault::fake_zoho::FaultKind;

#[tokio::test]
async fn a_service_token_gets_the_cached_token_without_a_refresh() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    assert!(svc.starts_with("zvs_"));
    let (status, first) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["token_type"], "Zoho-oauthtoken");
    assert_eq!(first["api_domain"], z.fake.base_url());
    assert!(first["expires_in"].as_i64().expect("expires_in") > 3000);
    assert!(first["expires_at"].is_string());
    let (_, second) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(first["access_token"], second["access_token"]);
    assert_eq!(z.fake.counters().refreshes, 0);
}

#[tokio::test]
async fn a_stale_token_is_refreshed_once_for_two_hundred_concurrent_callers() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000); // cached token lives < 3000 s
    z.connect("acme").await;
    z.set_access_token_ttl(3600);
    z.fake
        .update_config(zoho_vault::fake_zoho::ConfigPatch {
            latency_ms: Some(200),
            ..Default::default()
        })
        .expect("latency");
    let svc = z.service_token(&["*"]).await;
    let mut calls = Vec::new();
    for _ in 0..200 {
        calls.push(z.issue("acme", &svc, json!({"min_valid_secs": 3000})));
    }
    let answers = futures_util::future::join_all(calls).await;
    let first = answers[0].1["access_token"].clone();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["access_token"], first);
    }
    assert_eq!(z.fake.counters().refreshes, 1);
}

#[tokio::test]
async fn the_budget_answers_429_before_zoho_would_throttle() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000); // every demand of 3000 s needs a refresh
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    for _ in 0..7 {
        let (status, body) = z.issue("acme", &svc, json!({"min_valid_secs": 3000})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = z.issue("acme", &svc, json!({"min_valid_secs": 3000})).await;
    assert_eq!(status, 429);
    assert_eq!(error_code(&body), "refresh_budget_exhausted");
    assert_eq!(z.fake.counters().throttled, 0);
    // A plain request still gets the cached token.
    let (status, _) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_budget_answer_carries_retry_after() {
    let z = ZohoApp::spawn_with(&[("ZOHO_VAULT_BROKER__MINT_BUDGET", "1")]);
    z.set_access_token_ttl(3000);
    z.connect("acme").await;
    let resp = z
        .app
        .server
        .http
        .post(z.app.server.url("/v1/connections/acme/token"))
        .bearer_auth(&z.app.admin)
        .json(&json!({"min_valid_secs": 3000}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!(retry > 0 && retry <= 600);
}

async fn throttled_by_zoho(status_code: u16) {
    let z = ZohoApp::spawn();
    z.fake
        .update_config(zoho_vault::fake_zoho::ConfigPatch {
            mint_limit: Some(2),
            throttle_http_status: Some(status_code),
            access_token_ttl_secs: Some(3000),
            ..Default::default()
        })
        .expect("config");
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    assert_eq!(
        z.issue("acme", &admin, json!({"min_valid_secs": 3000}))
            .await
            .0,
        200
    );
    let (status, body) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "upstream_throttled");
    let (_, view) = z.app.server.get("/v1/connections/acme", Some(&admin)).await;
    assert_eq!(view["health"]["state"], "throttled");
    // While throttled the vault does not ask again.
    let before = z.fake.counters().token_requests;
    assert_eq!(
        z.issue("acme", &admin, json!({"min_valid_secs": 3000}))
            .await
            .0,
        429
    );
    assert_eq!(z.fake.counters().token_requests, before);
    // Plain requests keep getting the still-valid cached token.
    assert_eq!(z.issue("acme", &admin, json!({})).await.0, 200);
}

#[tokio::test]
async fn zoho_throttle_with_http_200_marks_the_connection_throttled() {
    throttled_by_zoho(200).await;
}

#[tokio::test]
async fn zoho_throttle_with_http_400_marks_the_connection_throttled() {
    throttled_by_zoho(400).await;
}

#[tokio::test]
async fn a_revoked_refresh_token_makes_the_connection_need_reauth() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    let rt = z.import("acme").await;
    assert!(z.fake.revoke(&rt));
    let admin = z.app.admin.clone();
    let (status, err) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(error_code(&err), "needs_reauth");
    let hint = err["error"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("Generate Code"), "{err}");
    // The route with the real name, not a `{name}` placeholder.
    assert!(hint.contains("PUT /v1/connections/acme"), "{err}");
    assert!(!hint.contains("{name}"), "{err}");
    let reauthorize = json!({"code": "reauthorize", "connection": "acme"});
    assert_eq!(err["error"]["fix"], reauthorize);
    let (_, view) = z.app.server.get("/v1/connections/acme", Some(&admin)).await;
    assert_eq!(view["health"]["state"], "needs_reauth");
    assert!(view["health"]["fix"].is_string());
    assert_eq!(view["health"]["action"], reauthorize);
    // Stored, so the next answer (from the record) says the same.
    let (_, again) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(again["error"]["fix"], reauthorize);
    // Not retried: the next call does not reach Zoho.
    let before = z.fake.counters().token_requests;
    assert_eq!(z.issue("acme", &admin, json!({})).await.0, 409);
    assert_eq!(z.fake.counters().token_requests, before);
}

#[tokio::test]
async fn server_errors_are_retried_and_then_succeed() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    z.connect("acme").await;
    z.fake.inject_fault(FaultKind::Status500, 2);
    let admin = z.app.admin.clone();
    let (status, body) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(z.fake.counters().refreshes, 1);
}

#[tokio::test]
async fn persistent_server_errors_keep_serving_a_still_valid_token_and_mark_degraded() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    let first = z.connect("acme").await;
    drop(first);
    z.fake.inject_fault(FaultKind::Status503, 3);
    let admin = z.app.admin.clone();
    let (status, body) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, view) = z.app.server.get("/v1/connections/acme", Some(&admin)).await;
    assert_eq!(view["health"]["state"], "degraded");
    assert!(view["health"]["last_error"]["message"].is_string());
}

#[tokio::test]
async fn persistent_server_errors_without_a_valid_token_answer_502() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(2); // the cached token dies at once
    z.connect("acme").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    z.fake.inject_fault(FaultKind::Status500, 3);
    let admin = z.app.admin.clone();
    let (status, err) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(error_code(&err), "upstream_unavailable");
}

#[tokio::test]
async fn timeouts_are_retried_then_answer_504() {
    let z = ZohoApp::spawn_with(&[("ZOHO_VAULT_ZOHO__TIMEOUT_SECS", "1")]);
    z.set_access_token_ttl(2);
    z.connect("acme").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    z.fake.inject_fault(FaultKind::Timeout, 3);
    let admin = z.app.admin.clone();
    let (status, err) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 504, "{err}");
    assert_eq!(error_code(&err), "upstream_timeout");
}

#[tokio::test]
async fn a_service_token_reaches_only_its_connections() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    z.connect("globex").await;
    let svc = z.service_token(&["acme"]).await;
    assert_eq!(z.issue("acme", &svc, json!({})).await.0, 200);
    let (status, err) = z.issue("globex", &svc, json!({})).await;
    assert_eq!(status, 403);
    assert_eq!(error_code(&err), "forbidden");
    let (status, _) = z.app.server.get("/v1/connections", Some(&svc)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_revoked_service_token_is_refused() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let (_, created) = z
        .app
        .server
        .post(
            "/v1/service-tokens",
            Some(&z.app.admin),
            json!({"name": "b", "connections": ["*"]}),
        )
        .await;
    let svc = created["token"].as_str().expect("token").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    let (_, list) = z
        .app
        .server
        .get("/v1/service-tokens", Some(&z.app.admin))
        .await;
    assert_eq!(list["service_tokens"][0]["id"], id.as_str());
    assert!(!list.to_string().contains(&svc));
    let req = z
        .app
        .server
        .http
        .delete(z.app.server.url(&format!("/v1/service-tokens/{id}")))
        .bearer_auth(&z.app.admin);
    assert_eq!(crate::helpers::answer(req).await.0, 200);
    let (status, err) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&err), "invalid_token");
}

#[tokio::test]
async fn an_unknown_connection_is_404_and_a_bad_demand_is_400() {
    let z = ZohoApp::spawn();
    let admin = z.app.admin.clone();
    assert_eq!(z.issue("nope", &admin, json!({})).await.0, 404);
    z.connect("acme").await;
    assert_eq!(
        z.issue("acme", &admin, json!({"min_valid_secs": 99999}))
            .await
            .0,
        400
    );
    assert_eq!(
        z.issue("acme", &admin, json!({"min_valid": 1})).await.0,
        400
    );
}

#[tokio::test]
async fn a_restart_keeps_the_connection_and_its_cached_token() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    let (_, before) = z.issue("acme", &admin, json!({})).await;
    let ZohoApp { app, fake, client } = z;
    let app = app.restarted(Some(PASSPHRASE));
    let z = ZohoApp { app, fake, client };
    let (status, after) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(before["access_token"], after["access_token"]);
    assert_eq!(z.fake.counters().refreshes, 0);
}

#[tokio::test]
async fn no_secret_reaches_the_data_directory() {
    let z = ZohoApp::spawn();
    let rt = z.import("acme").await;
    let svc = z.service_token(&["acme"]).await;
    let (_, issued) = z.issue("acme", &svc, json!({})).await;
    let access = issued["access_token"].as_str().expect("token").to_string();
    let secret = z.client.client_secret.clone();
    let ZohoApp { app, .. } = z;
    let crate::helpers::TestApp { dir, server, admin } = app;
    let log = server.log_text();
    server.stop();
    let planted = [
        PASSPHRASE,
        secret.as_str(),
        rt.as_str(),
        access.as_str(),
        svc.as_str(),
        admin.as_str(),
    ];
    dir.assert_no_plaintext(&planted);
    for p in planted {
        assert!(!log.contains(p), "the server log holds a secret");
    }
}
