//! Every proxied call is audited, first: `proxy_request` is durable before
//! Zoho is called (else 503, and Zoho never hears of it), `proxy_completed`
//! follows. Neither holds a body, a query value or a header value.

use serde_json::json;

use super::helpers::{error_code, Planted};
use super::proxy::{call, proxied, token_with, zoho_calls};

const FAULTS: (&str, &str) = ("ZOHO_VAULT_AUDIT__FAULT_INJECTION", "true");

#[tokio::test]
async fn every_call_is_audited_before_and_after_without_bodies_or_query_values() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({"access": "proxy"})).await;
    let mut planted = Planted::default();
    planted.add("query value", "q-secret-4f1b2c");
    planted.add("body", "body-secret-9a8b7c");
    planted.add("header value", "header-secret-5d6e7f");
    planted.add("vault token", &token);
    let body = "{\"password\":\"body-secret-9a8b7c\"}";
    let resp = call(
        &z,
        reqwest::Method::POST,
        "/echo/v1/upload?api_key=q-secret-4f1b2c",
        &token,
    )
    .header("X-Custom", "header-secret-5d6e7f")
    .body(body)
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), 200);
    let request_id = resp.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    let _ = resp.text().await;

    let requests = z
        .app
        .all_events("action=proxy_request&connection=acme")
        .await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(r["details"]["method"], "POST");
    assert_eq!(
        r["details"]["path"], "/echo/v1/upload",
        "the path without its query"
    );
    assert_eq!(r["request_id"], request_id.as_str());
    assert!(r["actor"].as_str().expect("actor").starts_with("service:"));
    let done = z.app.all_events("action=proxy_completed").await;
    let d = done
        .iter()
        .find(|e| e["request_id"] == request_id.as_str())
        .expect("completed");
    assert_eq!(d["details"]["status"], 200);
    assert_eq!(d["details"]["request_bytes"], body.len());
    assert!(d["details"]["response_bytes"].as_i64().expect("bytes") > 0);
    assert_eq!(d["details"]["retried"], false);
    assert!(
        d["seq"].as_u64() > r["seq"].as_u64(),
        "completed after the request"
    );

    let export = z
        .app
        .server
        .http
        .get(z.app.server.url("/v1/audit/export"))
        .bearer_auth(&z.app.admin)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    assert!(export.contains("proxy_request"));
    planted.assert_absent("the audit export", &export);
    planted.assert_absent("the server log", &z.app.server.log_text());
}

#[tokio::test]
async fn when_the_audit_trail_cannot_be_written_the_call_is_503_and_zoho_never_hears_of_it() {
    let z = proxied(&[FAULTS]).await;
    let token = token_with(&z, json!({})).await;
    let (status, body) = z
        .app
        .admin_post("/v1/sys/audit-faults", json!({"fail_next": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    let before = zoho_calls(&z);
    let (status, body) =
        super::helpers::answer(call(&z, reqwest::Method::GET, "/crm/v2/Leads", &token)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "audit_unavailable");
    assert_eq!(
        zoho_calls(&z),
        before,
        "Zoho was called without an audit event"
    );
    let (status, _) =
        super::helpers::answer(call(&z, reqwest::Method::GET, "/crm/v2/Leads", &token)).await;
    assert_eq!(status, 200, "the next call, audited, goes through");
}

#[tokio::test]
async fn proxied_calls_are_counted_by_connection_method_and_status_class() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    super::helpers::answer(call(&z, reqwest::Method::GET, "/crm/v2/Leads", &token)).await;
    z.fake.expire_access_tokens();
    super::helpers::answer(call(&z, reqwest::Method::POST, "/echo/v1/upload", &token).body("x"))
        .await;
    let text = z
        .app
        .server
        .http
        .get(z.app.server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "zoho_vault_proxy_requests_total{connection=\"acme\",method=\"read\",status=\"2xx\"} 1",
        "zoho_vault_proxy_requests_total{connection=\"acme\",method=\"write\",status=\"2xx\"} 1",
        "zoho_vault_proxy_retries_total{connection=\"acme\"} 1",
        "zoho_vault_proxy_upstream_seconds_count{connection=\"acme\"} 3",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn a_dead_token_whose_refresh_fails_is_not_recorded_as_retried() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    let (status, issued) = z.issue("acme", &token, json!({})).await;
    assert_eq!(status, 200);
    // Zoho refuses the cached token, and every refresh fails: the vault
    // sends the request once and never again.
    assert!(z
        .fake
        .revoke_access_token(issued["access_token"].as_str().expect("token")));
    z.fake
        .inject_fault(zoho_vault::fake_zoho::FaultKind::Status503, 50);
    let calls_before = zoho_calls(&z);
    let resp = call(&z, reqwest::Method::GET, "/crm/v2/Leads", &token)
        .send()
        .await
        .expect("send");
    assert_ne!(resp.status(), 200);
    let request_id = resp.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    let _ = resp.text().await;
    assert_eq!(zoho_calls(&z), calls_before + 1, "no second data call");
    let done = z.app.all_events("action=proxy_completed").await;
    let d = done
        .iter()
        .find(|e| e["request_id"] == request_id.as_str())
        .expect("completed");
    assert_eq!(d["details"]["retried"], false, "{d}");
}
