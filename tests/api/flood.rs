//! An anonymous flood cannot grow the trail without bound: per address,
//! the first denials of a window are written, the rest counted into one
//! summary; failed authentications are rate-limited per address.

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp};

const MADE_UP: &str = "zva_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// A window that cannot close by itself during the test, and no 429s.
const COUNTING: [(&str, &str); 4] = [
    ("ZOHO_VAULT_AUDIT__DENIAL_WINDOW_SECS", "86400"),
    ("ZOHO_VAULT_AUDIT__FAULT_INJECTION", "true"),
    ("ZOHO_VAULT_RATELIMIT__ANONYMOUS_PER_ADDR_PER_SEC", "0"),
    ("ZOHO_VAULT_HTTP__TRUSTED_PROXIES", "127.0.0.1"),
];

/// `n` requests with a made-up token, as if from `client` (through the
/// trusted local "proxy").
async fn deny(app: &TestApp, client: &str, n: usize) {
    for _ in 0..n {
        let resp = app
            .server
            .http
            .get(app.server.url("/v1/connections"))
            .bearer_auth(MADE_UP)
            .header("X-Forwarded-For", client)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 401);
    }
}

async fn denied_from(app: &TestApp, client: &str) -> Vec<Value> {
    app.all_events("action=access_denied&actor=anonymous")
        .await
        .into_iter()
        .filter(|e| e["source"] == client)
        .collect()
}

async fn summaries(app: &TestApp) -> Vec<Value> {
    app.all_events("action=auth_denied_summary").await
}

#[tokio::test]
async fn denials_beyond_the_first_five_of_a_window_are_counted_into_one_summary() {
    let app = TestApp::spawn_with(&COUNTING);
    deny(&app, "198.51.100.7", 40).await;
    assert_eq!(denied_from(&app, "198.51.100.7").await.len(), 5);
    assert!(summaries(&app).await.is_empty(), "the window is still open");

    let (status, body) = app
        .admin_post(
            "/v1/sys/audit-faults",
            json!({"close_denial_windows": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let all = summaries(&app).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["source"], "198.51.100.7");
    assert_eq!(all[0]["details"]["count"], 35);
    assert_eq!(all[0]["details"]["window_secs"], 86400);
    assert!(all[0]["details"]["window_start"].is_string());
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn another_address_still_gets_its_own_first_denials_written() {
    let app = TestApp::spawn_with(&COUNTING);
    deny(&app, "198.51.100.7", 20).await;
    deny(&app, "203.0.113.9", 3).await;
    assert_eq!(denied_from(&app, "203.0.113.9").await.len(), 3);
    assert_eq!(denied_from(&app, "198.51.100.7").await.len(), 5);
}

#[tokio::test]
async fn counted_denials_are_summarised_at_shutdown() {
    let app = TestApp::spawn_with(&COUNTING);
    deny(&app, "198.51.100.7", 9).await;
    let app = app.restarted(Some(crate::helpers::PASSPHRASE));
    let all = summaries(&app).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["details"]["count"], 4);
}

#[tokio::test]
async fn an_address_that_keeps_failing_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(&[
        ("ZOHO_VAULT_RATELIMIT__ANONYMOUS_PER_ADDR_PER_SEC", "1"),
        ("ZOHO_VAULT_RATELIMIT__ANONYMOUS_BURST", "3"),
    ]);
    let mut limited = None;
    for _ in 0..10 {
        let resp = app
            .server
            .http
            .get(app.server.url("/v1/connections"))
            .bearer_auth(MADE_UP)
            .send()
            .await
            .expect("send");
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 401);
    }
    let resp = limited.expect("never limited");
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(error_code(&body), "rate_limited");
    // A valid token from the same address is not limited.
    let (status, _) = app.admin_get("/v1/connections").await;
    assert_eq!(status, 200);
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| {
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

/// Data-directory growth for 3,000 requests with a made-up token, then a
/// clean stop (which writes the open summaries).
async fn growth_for_a_flood(env: &[(&str, &str)]) -> u64 {
    let app = TestApp::spawn_with(env);
    let before = dir_bytes(&app.dir.data());
    let http = app.server.http.clone();
    let url = app.server.url("/v1/connections");
    futures_util::stream::iter(0..3000)
        .map(|_| {
            let req = http.get(&url).bearer_auth(MADE_UP);
            async move { req.send().await.expect("send").status().as_u16() }
        })
        .buffer_unordered(16)
        .for_each(|status| async move { assert!(matches!(status, 401 | 429), "{status}") })
        .await;
    let TestApp { dir, server, .. } = app;
    server.stop();
    dir_bytes(&dir.data()) - before
}

#[tokio::test]
async fn a_flood_of_3000_made_up_tokens_grows_the_data_directory_by_a_bounded_amount() {
    // Every denial written (the behaviour before counting) against the
    // defaults, in the same run.
    let unbounded = growth_for_a_flood(&[
        ("ZOHO_VAULT_AUDIT__DENIALS_WRITTEN_PER_WINDOW", "0"),
        ("ZOHO_VAULT_RATELIMIT__ANONYMOUS_PER_ADDR_PER_SEC", "0"),
    ])
    .await;
    let bounded = growth_for_a_flood(&[]).await;
    println!("data directory growth for 3000 denials: every one written {unbounded} bytes, counted {bounded} bytes");
    assert!(unbounded > 3000 * 100, "{unbounded}");
    assert!(bounded * 50 < unbounded, "{bounded} vs {unbounded}");
}
