//! `http.trusted_proxies`: whose `X-Forwarded-For` names the client in the
//! audit trail.

use crate::helpers::TestApp;

/// Sends a request with a made-up token and `X-Forwarded-For: xff`;
/// answers the `source` of the `access_denied` event it left.
async fn denied_source(app: &TestApp, xff: &str) -> String {
    let made_up = format!("zva_{}", "Q".repeat(43));
    let resp = app
        .server
        .http
        .get(app.server.url("/v1/connections"))
        .bearer_auth(&made_up)
        .header("X-Forwarded-For", xff)
        .header("X-Request-Id", "proxied-request")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    let events = app
        .events("action=access_denied&order=asc")
        .await
        .into_iter()
        .filter(|e| e["request_id"] == "proxied-request")
        .collect::<Vec<_>>();
    assert_eq!(events.len(), 1, "{events:?}");
    events[0]["source"].as_str().expect("source").to_string()
}

#[tokio::test]
async fn a_trusted_proxys_forwarded_for_names_the_client_in_the_audit_event() {
    let app = TestApp::spawn_with(&[("ZOHO_VAULT_HTTP__TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")]);
    // The client forged the first entry; the proxy appended the real one.
    assert_eq!(
        denied_source(&app, "6.6.6.6, 198.51.100.23").await,
        "198.51.100.23"
    );
}

#[tokio::test]
async fn an_untrusted_peers_forwarded_for_is_ignored() {
    let app = TestApp::spawn_with(&[("ZOHO_VAULT_HTTP__TRUSTED_PROXIES", "10.0.0.0/8")]);
    assert_eq!(denied_source(&app, "198.51.100.23").await, "127.0.0.1");
}

#[tokio::test]
async fn a_malformed_forwarded_for_from_a_trusted_proxy_is_ignored_for_the_peer() {
    let app = TestApp::spawn_with(&[("ZOHO_VAULT_HTTP__TRUSTED_PROXIES", "127.0.0.0/8")]);
    assert_eq!(
        denied_source(&app, "198.51.100.23, not-an-address").await,
        "127.0.0.1"
    );
}

#[test]
fn a_bad_trusted_proxy_stops_the_start_naming_it() {
    let dir = crate::helpers::VaultDir::new();
    let out = dir
        .command()
        .arg("serve")
        .env("ZOHO_VAULT_HTTP__TRUSTED_PROXIES", "10.0.0.0/8,10.1.2.3/99")
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`10.1.2.3/99`"), "{stderr}");
}
