//! `audit.unavailable`: while the audit trail cannot be written requests
//! are refused; once it works again, receivers get exactly one event
//! saying when the outage started and ended, how many requests it refused
//! and why.

use serde_json::json;

use crate::helpers::{error_code, ZohoApp};
use crate::webhooks::receiver::Receiver;
use crate::webhooks::{subscribe, ENV};

#[tokio::test]
async fn a_healed_audit_outage_is_announced_once_with_its_span_count_and_reason() {
    let receiver = Receiver::start(&[]);
    let mut env = ENV.to_vec();
    env.push(("ZOHO_VAULT_AUDIT__FAULT_INJECTION", "true"));
    let z = ZohoApp::spawn_with(&env);
    z.set_access_token_ttl(3000);
    z.import("acme").await;
    let (id, _) = subscribe(
        &z.app,
        &receiver.url,
        json!(["audit.unavailable", "webhook.test"]),
    )
    .await;
    let admin = z.app.admin.clone();

    let (status, body) = z
        .app
        .admin_post("/v1/sys/audit-faults", json!({"fail_next": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..2 {
        let (status, err) = z.issue("acme", &admin, json!({})).await;
        assert_eq!(status, 503, "{err}");
        assert_eq!(error_code(&err), "audit_unavailable");
    }
    assert!(receiver.got().is_empty(), "announced before it healed");
    let (status, issued) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200, "{issued}");

    let got = receiver.wait_for_type("audit.unavailable").await;
    let data = &got.json()["data"];
    assert_eq!(data["refused_requests"], 2, "{data}");
    assert_eq!(data["reason"], "injected", "{data}");
    let started = data["started_at"].as_str().expect("started_at");
    let recovered = data["recovered_at"].as_str().expect("recovered_at");
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    assert!(parse(started) <= parse(recovered), "{data}");

    // Later writes that work announce nothing more: a test event sent
    // afterwards arrives with still only the one outage before it.
    let (status, issued) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200, "{issued}");
    let (status, body) = z
        .app
        .admin_post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert!(status < 300, "{status} {body}");
    receiver.wait_for_type("webhook.test").await;
    let outages = receiver
        .got()
        .iter()
        .filter(|g| g.json()["type"] == "audit.unavailable")
        .count();
    assert_eq!(outages, 1);
}
