//! `ANY /v1/proxy/{name}/{path...}`: who may use it, what crosses the vault
//! and what never does. The fake Zoho's echo endpoints show what arrived.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{error_code, ZohoApp};

/// A vault with the fake Zoho and connection `acme`.
pub async fn proxied(env: &[(&str, &str)]) -> ZohoApp {
    let z = ZohoApp::spawn_with(env);
    z.connect("acme").await;
    z
}

/// Creates a service token with `extra` fields (e.g. `access`); the token.
pub async fn token_with(z: &ZohoApp, extra: Value) -> String {
    let mut body = json!({"name": "backend", "connections": ["acme"]});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let (status, created) = z.app.admin_post("/v1/service-tokens", body).await;
    assert_eq!(status, 201, "{created}");
    created["token"].as_str().expect("token").to_string()
}

/// A request through the proxy.
pub fn call(
    z: &ZohoApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    z.app
        .server
        .http
        .request(method, z.app.server.url(&format!("/v1/proxy/acme{path}")))
        .bearer_auth(token)
}

/// `GET` through the proxy: status and JSON body (or Null).
pub async fn get(z: &ZohoApp, path: &str, token: &str) -> (u16, Value) {
    super::helpers::answer(call(z, reqwest::Method::GET, path, token)).await
}

/// Creates a contact in the fake Zoho Invoice through the proxy.
pub async fn create_contact(z: &ZohoApp, token: &str) -> (u16, Value) {
    let req = call(z, reqwest::Method::POST, "/invoice/v3/contacts", token)
        .header("X-com-zoho-invoice-organizationid", "10234695")
        .json(&json!({"contact_name": "Acme Ltd"}));
    super::helpers::answer(req).await
}

/// Data API calls the fake Zoho has seen.
pub fn zoho_calls(z: &ZohoApp) -> u64 {
    z.fake.counters().invoice_calls
}

/// Sends `GET <target>` byte for byte (no client-side URL normalising);
/// the status and body.
async fn raw_get(z: &ZohoApp, target: &str, token: &str) -> (u16, String) {
    let addr = z.app.server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn a_proxy_only_token_cannot_fetch_a_token_but_can_call_zoho_through_the_vault() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({"access": "proxy"})).await;
    let (status, body) = z.issue("acme", &token, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "proxy_only");
    assert!(
        body["error"]["hint"]
            .as_str()
            .expect("hint")
            .contains("/v1/proxy/acme/"),
        "{body}"
    );
    assert!(body.get("access_token").is_none());

    let (status, body) = create_contact(&z, &token).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["contact"]["contact_name"], "Acme Ltd");
}

#[tokio::test]
async fn service_tokens_record_their_access_and_old_style_requests_get_token_access() {
    let z = proxied(&[]).await;
    let (_, plain) = z.app.create_service_token("plain", &["acme"]).await;
    let (status, _) = z.issue("acme", &plain, json!({})).await;
    assert_eq!(
        status, 200,
        "a token created without `access` may still fetch tokens"
    );
    token_with(
        &z,
        json!({"access": "proxy", "proxy_paths": ["/invoice/v3/"]}),
    )
    .await;
    let (_, list) = z.app.admin_get("/v1/service-tokens").await;
    let tokens = list["service_tokens"].as_array().expect("list");
    assert_eq!(tokens[0]["access"], "token");
    assert_eq!(tokens[1]["access"], "proxy");
    assert_eq!(tokens[1]["proxy_paths"], json!(["/invoice/v3/"]));
    for bad in [
        json!({"access": "everything"}),
        json!({"proxy_paths": ["invoice/"]}),
        json!({"proxy_paths": ["/a/../b"]}),
    ] {
        let mut body = json!({"name": "x", "connections": ["acme"]});
        for (k, v) in bad.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (status, answer) = z.app.admin_post("/v1/service-tokens", body).await;
        assert_eq!(status, 400, "{bad} was accepted: {answer}");
    }
}

#[tokio::test]
async fn the_cli_creates_a_proxy_only_token_limited_to_a_path_prefix() {
    let z = proxied(&[]).await;
    let out = z.app.cli(&[
        "service-token",
        "create",
        "--name",
        "billing",
        "--connection",
        "acme",
        "--access",
        "proxy",
        "--proxy-path",
        "/invoice/v3/",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(z.issue("acme", &token, json!({})).await.0, 403);
    assert_eq!(create_contact(&z, &token).await.0, 201);
    assert_eq!(get(&z, "/crm/v2/Leads", &token).await.0, 403);
}

#[tokio::test]
async fn paths_outside_the_tokens_prefixes_are_refused_before_zoho() {
    let z = proxied(&[]).await;
    let token = token_with(
        &z,
        json!({"access": "proxy", "proxy_paths": ["/crm/v2/Leads"]}),
    )
    .await;
    assert_eq!(get(&z, "/crm/v2/Leads", &token).await.0, 200);
    let before = zoho_calls(&z);
    for path in [
        "/invoice/v3/organizations",
        "/crm/v2/Contacts",
        "/crm/v3/Leads",
    ] {
        let (status, body) = get(&z, path, &token).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(error_code(&body), "proxy_path_forbidden");
    }
    assert_eq!(zoho_calls(&z), before, "a refused path reached Zoho");
}

#[tokio::test]
async fn a_connection_the_token_was_not_granted_is_refused() {
    let z = proxied(&[]).await;
    z.connect("globex").await;
    let (_, token) = z.app.create_service_token("other", &["globex"]).await;
    let (status, body) = get(&z, "/crm/v2/Leads", &token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "forbidden");
}

#[tokio::test]
async fn host_escape_attempts_are_400_and_never_reach_zoho() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    let before = zoho_calls(&z);
    for target in [
        "/v1/proxy/acme//evil.example/crm/v2/Leads",
        "/v1/proxy/acme/../../evil",
        "/v1/proxy/acme/crm/../../../evil",
        "/v1/proxy/acme/crm/./v2/Leads",
        "/v1/proxy/acme/%2e%2e/evil",
        "/v1/proxy/acme/crm/%2E%2E/%2e%2e/evil",
        "/v1/proxy/acme/crm%2f..%2f..%2fevil",
        "/v1/proxy/acme/%2F%2Fevil.example/x",
        "/v1/proxy/acme/%5cevil.example",
        "/v1/proxy/acme/https://evil.example/crm/v2/Leads",
        "/v1/proxy/acme/http:%2f%2fevil.example",
        "/v1/proxy/acme/crm/v2/Leads%zz",
    ] {
        let (status, body) = raw_get(&z, target, &token).await;
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body.contains("invalid_proxy_path"), "{target}: {body}");
    }
    assert_eq!(zoho_calls(&z), before, "an escape attempt reached Zoho");
    let requests = z.app.events("action=proxy_request").await;
    assert!(
        requests.is_empty(),
        "refused before the audit event: {requests:?}"
    );
}

#[tokio::test]
async fn the_callers_credentials_and_hop_by_hop_headers_never_reach_zoho() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({"access": "proxy"})).await;
    let resp = call(
        &z,
        reqwest::Method::PATCH,
        "/echo/v1/headers?organization_id=42&page=2",
        &token,
    )
    .header("Cookie", "session=caller-cookie")
    .header("Connection", "X-Hop")
    .header("X-Hop", "hop")
    .header("X-Forwarded-For", "10.9.8.7")
    .header("X-com-zoho-invoice-organizationid", "42")
    .header("Content-Type", "application/json")
    .body(r#"{"a":1}"#)
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("x-request-id").is_some(),
        "no X-Request-Id"
    );
    assert_eq!(resp.headers()["server"], "ZGS", "Zoho's headers come back");
    let echo: Value = resp.json().await.expect("json");
    assert_eq!(echo["method"], "PATCH");
    assert_eq!(echo["path"], "/echo/v1/headers");
    assert_eq!(echo["query"], "organization_id=42&page=2");
    let headers = echo["headers"].as_object().expect("headers");
    assert_eq!(
        headers["authorization"], "[present]",
        "the fake saw a Zoho token"
    );
    assert_eq!(headers["x-com-zoho-invoice-organizationid"], "42");
    assert_eq!(headers["content-type"], "application/json");
    for gone in ["cookie", "x-hop", "x-forwarded-for"] {
        assert!(!headers.contains_key(gone), "{gone} reached Zoho: {echo}");
    }
    assert!(
        !echo.to_string().contains(&token),
        "the vault token reached Zoho"
    );
}

#[tokio::test]
async fn the_token_zoho_receives_is_the_connections_own() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    // The only way the fake answers 200 is a live token it minted; a
    // revoked one is refused, so the vault must have sent the real one.
    let (status, issued) = z.issue("acme", &token, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(get(&z, "/crm/v2/Leads", &token).await.0, 200);
    let access = issued["access_token"].as_str().expect("token");
    assert!(z.fake.revoke_access_token(access));
    let before = z.fake.counters().refreshes;
    assert_eq!(get(&z, "/crm/v2/Leads", &token).await.0, 200);
    assert_eq!(
        z.fake.counters().refreshes,
        before + 1,
        "the revoked token was replaced"
    );
}

#[tokio::test]
async fn zoho_redirects_are_returned_not_followed() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = http
        .get(z.app.server.url("/v1/proxy/acme/echo/v1/redirect"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "http://127.0.0.1:9/stolen");
}

#[tokio::test]
async fn zoho_error_answers_pass_through_untouched() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    // Invoice answers 400 code 2 for a missing organization.
    let resp = call(&z, reqwest::Method::POST, "/invoice/v3/contacts", &token)
        .json(&json!({"contact_name": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["code"], 2,
        "Zoho's own body, not the vault's error shape: {body}"
    );
    assert!(body.get("error").is_none());
}
