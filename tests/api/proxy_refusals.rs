//! What a refused proxy or token request leaves behind and tells the
//! caller: its `access_denied` event names the connection (so filtering
//! the trail by connection shows it), and the answer says what was refused
//! and which admin action would allow it. A missing scope (HTTP 400, code
//! 57) is Zoho's answer to pass on, not a dead token (HTTP 401 with code 57
//! is: `proxy_tokens.rs`).

use serde_json::{json, Value};

use super::helpers::error_code;
use super::proxy::{call, get, proxied, token_with, zoho_calls};

/// The `access_denied` events filed under connection `acme`.
async fn denials_of_acme(z: &super::helpers::ZohoApp) -> Vec<Value> {
    z.app
        .all_events("action=access_denied&connection=acme")
        .await
}

#[tokio::test]
async fn proxy_and_token_refusals_are_found_by_filtering_on_their_connection() {
    let z = proxied(&[]).await;
    let bound = token_with(
        &z,
        json!({"access": "proxy", "proxy_paths": ["/invoice/v3/"]}),
    )
    .await;
    let (_, other) = z.app.create_service_token("other", &["globex"]).await;

    let (status, body) = get(&z, "/crm/v2/Leads", &bound).await;
    assert_eq!(error_code(&body), "proxy_path_forbidden", "{status} {body}");
    let (status, body) = z.issue("acme", &bound, json!({})).await;
    assert_eq!(error_code(&body), "proxy_only", "{status} {body}");
    let (status, body) = get(&z, "/invoice/v3/invoices", &other).await;
    assert_eq!(error_code(&body), "forbidden", "{status} {body}");
    let (status, _) = get(&z, "/invoice/v3/invoices", "zvs_not-a-token").await;
    assert_eq!(status, 401);

    let denials = denials_of_acme(&z).await;
    let reasons: Vec<&str> = denials
        .iter()
        .map(|e| e["details"]["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(
        reasons,
        [
            "proxy_path_forbidden",
            "proxy_only",
            "forbidden",
            "invalid_token"
        ],
        "{denials:?}"
    );
    assert!(denials.iter().all(|e| e["connection"] == "acme"));
}

#[tokio::test]
async fn a_path_outside_the_prefixes_names_the_path_and_the_prefixes_but_never_the_query() {
    let z = proxied(&[]).await;
    let token = token_with(
        &z,
        json!({"access": "proxy", "proxy_paths": ["/invoice/v3/", "/crm/v2/Leads"]}),
    )
    .await;
    let (status, body) = get(&z, "/books/v3/invoices?api_key=q-secret-77a1", &token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "proxy_path_forbidden");
    let message = body["error"]["message"].as_str().expect("message");
    for shown in ["/books/v3/invoices", "/invoice/v3/", "/crm/v2/Leads"] {
        assert!(message.contains(shown), "no {shown} in {message}");
    }
    assert!(!body.to_string().contains("q-secret-77a1"), "{body}");
    let hint = body["error"]["hint"].as_str().expect("hint");
    assert!(
        hint.contains("--proxy-path") && hint.contains("/v1/service-tokens"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_connection_not_granted_answers_with_the_admin_command_that_grants_it() {
    let z = proxied(&[]).await;
    let (_, other) = z.app.create_service_token("other", &["globex"]).await;
    for (status, body) in [
        get(&z, "/invoice/v3/invoices", &other).await,
        z.issue("acme", &other, json!({})).await,
    ] {
        assert_eq!(status, 403, "{body}");
        assert_eq!(error_code(&body), "forbidden");
        let hint = body["error"]["hint"].as_str().expect("a hint");
        assert!(
            hint.contains("service-token create") && hint.contains("--connection acme"),
            "{hint}"
        );
    }
}

#[tokio::test]
async fn a_missing_scope_400_code_57_is_passed_through_without_a_refresh() {
    let z = proxied(&[]).await;
    // The test connections may create records, not read invoices.
    let token = token_with(&z, json!({})).await;
    let (refreshes, calls) = (z.fake.counters().refreshes, zoho_calls(&z));
    let resp = call(&z, reqwest::Method::GET, "/invoice/v3/invoices", &token)
        .header("X-com-zoho-invoice-organizationid", "10234695")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], 57, "Zoho's own answer: {body}");
    assert_eq!(z.fake.counters().refreshes, refreshes, "no refresh");
    assert_eq!(zoho_calls(&z), calls + 1, "no retry");
}
