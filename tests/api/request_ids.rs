//! Request ids: one per request, in the answer, the audit event and the log.

use serde_json::json;

use crate::helpers::ZohoApp;

async fn issue_with_id(z: &ZohoApp, token: &str, id: Option<&str>) -> (String, u16) {
    let mut req = z
        .app
        .server
        .http
        .post(z.app.server.url("/v1/connections/acme/token"))
        .bearer_auth(token)
        .json(&json!({}));
    if let Some(id) = id {
        req = req.header("x-request-id", id);
    }
    let resp = req.send().await.expect("send");
    let echoed = resp.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    (echoed, resp.status().as_u16())
}

#[tokio::test]
async fn a_callers_request_id_is_echoed_audited_and_logged() {
    let z = ZohoApp::spawn_with(&[("ZOHO_VAULT_LOG__FORMAT", "json")]);
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    let (echoed, status) = issue_with_id(&z, &svc, Some("billing-run-42")).await;
    assert_eq!(status, 200);
    assert_eq!(echoed, "billing-run-42");
    let (_, page) = z
        .app
        .server
        .get("/v1/audit?action=token_issued", Some(&z.app.admin))
        .await;
    assert_eq!(page["events"][0]["request_id"], "billing-run-42", "{page}");
    assert!(z.app.server.log_text().contains("billing-run-42"));
}

#[tokio::test]
async fn without_one_the_vault_makes_an_id_and_a_malformed_one_is_replaced() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    let (made, _) = issue_with_id(&z, &admin, None).await;
    assert_eq!(made.len(), 32);
    let (replaced, _) = issue_with_id(&z, &admin, Some("bad id with spaces")).await;
    assert_ne!(replaced, "bad id with spaces");
    let (_, page) = z
        .app
        .server
        .get("/v1/audit?action=token_issued&order=asc", Some(&admin))
        .await;
    assert_eq!(page["events"][0]["request_id"], made.as_str(), "{page}");
    assert_eq!(page["events"][1]["request_id"], replaced.as_str());
}
