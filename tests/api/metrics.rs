//! `GET /metrics`: Prometheus text and its access setting.

use serde_json::json;

use crate::helpers::{answer, ZohoApp};

async fn scrape(z: &ZohoApp, token: Option<&str>) -> (u16, String) {
    let mut req = z.app.server.http.get(z.app.server.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("scrape");
    (resp.status().as_u16(), resp.text().await.expect("text"))
}

#[tokio::test]
async fn metrics_count_issues_refreshes_upstream_calls_and_audit_flushes() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    assert_eq!(z.issue("acme", &admin, json!({})).await.0, 200);
    assert_eq!(
        z.issue("acme", &admin, json!({"min_valid_secs": 3000}))
            .await
            .0,
        200
    );
    let (status, text) = scrape(&z, None).await;
    assert_eq!(status, 200, "open on loopback by default");
    for line in [
        "zoho_vault_token_issues_total{source=\"cached\"} 1",
        "zoho_vault_token_issues_total{source=\"refreshed\"} 1",
        "zoho_vault_refreshes_total{outcome=\"ok\"} 1",
        "zoho_vault_upstream_seconds_count{op=\"exchange_code\"} 1",
        "zoho_vault_upstream_seconds_count{op=\"refresh\"} 1",
        "zoho_vault_sealed 0",
        "zoho_vault_connections{state=\"active\"} 1",
        "zoho_vault_audit_flush_seconds_count",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(!text.contains(&admin));
}

#[tokio::test]
async fn admin_access_needs_the_admin_token_and_off_hides_the_route() {
    let z = ZohoApp::spawn_with(&[("ZOHO_VAULT_METRICS__ACCESS", "admin")]);
    assert_eq!(scrape(&z, None).await.0, 401);
    let svc = z.service_token(&["*"]).await;
    assert_eq!(scrape(&z, Some(&svc)).await.0, 403);
    assert_eq!(scrape(&z, Some(&z.app.admin)).await.0, 200);

    let off = ZohoApp::spawn_with(&[("ZOHO_VAULT_METRICS__ACCESS", "off")]);
    let (status, body) = answer(off.app.server.http.get(off.app.server.url("/metrics"))).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}
