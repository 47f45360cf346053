//! Per-token rate limit and serialized unseal attempts.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, Server, VaultDir, PASSPHRASE};
use crate::support::{events, service_token};

#[tokio::test]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after_and_others_are_unaffected() {
    let app = crate::helpers::TestApp::spawn_with(&[
        ("ZOHO_VAULT_RATELIMIT__PER_TOKEN_PER_SEC", "1"),
        ("ZOHO_VAULT_RATELIMIT__BURST", "3"),
    ]);
    let s = &app.server;
    // 1: creating the service token.
    let (svc, _) = service_token(s, &app.admin, &["*"], None).await;
    let mut limited = None;
    for _ in 0..5 {
        let resp = s
            .http
            .get(s.url("/v1/service-tokens"))
            .bearer_auth(&app.admin)
            .send()
            .await
            .expect("send");
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let resp = limited.expect("the admin token was never limited");
    let retry_after: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry_after >= 1);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(error_code(&body), "rate_limited");

    // Another token has its own bucket (404: no such connection, not 429).
    let (status, body) = s
        .post("/v1/connections/acme/token", Some(&svc), json!({}))
        .await;
    assert_eq!(status, 404, "{body}");

    // After the delay the admin is served again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, _) = s.get("/v1/service-tokens", Some(&app.admin)).await;
    assert_eq!(status, 200);
    // A 429 is not a denial.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(events(s, &app.admin, "action=access_denied")
        .await
        .is_empty());
}

#[tokio::test]
async fn unauthenticated_requests_never_reach_a_bucket() {
    // The per-token limit is keyed by valid tokens only: garbage tokens are
    // never charged to a token's bucket (they meet the per-address limit of
    // failed authentications instead: tests/api/flood.rs).
    let app = crate::helpers::TestApp::spawn_with(&[
        ("ZOHO_VAULT_RATELIMIT__PER_TOKEN_PER_SEC", "1"),
        ("ZOHO_VAULT_RATELIMIT__BURST", "1"),
    ]);
    let unknown = format!("zva_{}", "B".repeat(43));
    for _ in 0..3 {
        let (status, _) = app.server.get("/v1/service-tokens", Some(&unknown)).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn concurrent_wrong_unseal_attempts_all_fail_and_the_right_one_then_unseals() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let server = Server::start(&dir, None, &[]);
    // From four addresses: each is checked, or refused unchecked because
    // the key derivation's queue is full (one address's concurrent attempts
    // are covered in tests/api/unseal.rs).
    let attempts = (0..4).map(|i| {
        let from = std::net::Ipv4Addr::new(127, 0, 0, 2 + i);
        let client = reqwest::Client::builder()
            .local_address(std::net::IpAddr::V4(from))
            .build()
            .expect("client");
        let req = client
            .request(Method::POST, server.url("/v1/sys/unseal"))
            .json(&json!({ "passphrase": format!("wrong passphrase {i}") }));
        async move { crate::helpers::answer(req).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let mut checked = 0;
    for (status, body) in &answers {
        match *status {
            401 => {
                assert_eq!(error_code(body), "wrong_passphrase");
                checked += 1;
            }
            _ => {
                assert_eq!(*status, 429, "{body}");
                assert_eq!(error_code(body), "unseal_busy");
            }
        }
    }
    assert!(
        checked >= 2,
        "the running attempt and one queued are checked"
    );
    assert_eq!(server.health().await["sealed"], true);
    let (status, body) = server
        .post("/v1/sys/unseal", None, json!({"passphrase": PASSPHRASE}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.health().await["sealed"], false);
    // Every checked attempt is in the trail, the failures before the success.
    let unseals = events(&server, &admin, "action=unseal&order=asc").await;
    let outcomes: Vec<&str> = unseals
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(outcomes.len(), checked + 1, "{unseals:?}");
    assert!(outcomes[..checked].iter().all(|o| *o == "failure"));
    assert_eq!(outcomes[checked], "success");
}
