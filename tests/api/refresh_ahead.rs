//! The background task: refresh ahead of expiry, and the keep-alive.

use std::time::Duration;

use serde_json::json;

use crate::helpers::ZohoApp;

/// Polls `check` every 200 ms for up to 20 s; the bound only keeps a broken
/// build from hanging, it asserts nothing about speed.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn a_token_in_use_is_refreshed_before_it_expires_without_a_caller_waiting() {
    let z = ZohoApp::spawn_with(&[
        ("ZOHO_VAULT_ZOHO__EXPIRY_MARGIN_SECS", "0"),
        ("ZOHO_VAULT_BROKER__DEFAULT_MIN_VALID_SECS", "0"),
        ("ZOHO_VAULT_REFRESH_AHEAD__INTERVAL_SECS", "1"),
        ("ZOHO_VAULT_REFRESH_AHEAD__AHEAD_SECS", "600"),
    ]);
    z.set_access_token_ttl(4);
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    let (status, first) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200);
    assert!(eventually(|| z.fake.counters().refreshes >= 1).await);
    let (_, view) = z.app.server.get("/v1/connections/acme", Some(&admin)).await;
    assert_eq!(view["health"]["state"], "active");
    // Zoho answered before the vault wrote the refresh and its event: wait
    // for the event, not for a moment.
    let mut events = serde_json::Value::Null;
    for _ in 0..100 {
        events = z
            .app
            .server
            .get("/v1/audit?action=connection_refreshed", Some(&admin))
            .await
            .1;
        if events["events"][0].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(events["events"][0]["actor"], "system", "{events}");
    let (_, later) = z.issue("acme", &admin, json!({})).await;
    assert_ne!(first["access_token"], later["access_token"]);
}

#[tokio::test]
async fn an_idle_connection_is_kept_alive_and_a_dead_refresh_token_shows_up_early() {
    let z = ZohoApp::spawn_with(&[
        ("ZOHO_VAULT_REFRESH_AHEAD__INTERVAL_SECS", "1"),
        ("ZOHO_VAULT_REFRESH_AHEAD__KEEPALIVE_SECS", "1"),
    ]);
    let rt = z.import("acme").await;
    assert!(
        eventually(|| z.fake.counters().refreshes >= 2).await,
        "import + keep-alive"
    );
    assert!(z.fake.revoke(&rt));
    let admin = z.app.admin.clone();
    let mut state = String::new();
    for _ in 0..100 {
        let (_, view) = z.app.server.get("/v1/connections/acme", Some(&admin)).await;
        state = view["health"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if state == "needs_reauth" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(state, "needs_reauth");
}
