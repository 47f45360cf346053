//! Integration tests of the fake Zoho server itself, over real HTTP.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use zoho_vault::fake_zoho::{Client, ConfigPatch, FakeZoho, FakeZohoConfig, FaultKind};

const SCOPE: &str = "ZohoInvoice.fullaccess.all";

fn start() -> FakeZoho {
    start_with(FakeZohoConfig::default())
}

fn start_with(config: FakeZohoConfig) -> FakeZoho {
    FakeZoho::start(config).expect("the fake starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

async fn json_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let body = resp.json().await.expect("a JSON body");
    (status, body)
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    json_of(
        http()
            .post(url)
            .form(form)
            .send()
            .await
            .expect("request sent"),
    )
    .await
}

fn code_form<'a>(client: &'a Client, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", &client.client_id),
        ("client_secret", &client.client_secret),
        ("code", code),
    ]
}

fn refresh_form<'a>(client: &'a Client, refresh_token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "refresh_token"),
        ("client_id", &client.client_id),
        ("client_secret", &client.client_secret),
        ("refresh_token", refresh_token),
    ]
}

/// A registered self client plus a fresh code for it.
fn client_and_code(fake: &FakeZoho) -> (Client, String) {
    let client = fake.register_client();
    let file = fake
        .self_client_json(&client, &[SCOPE], 180)
        .expect("code issued");
    (client, file.code)
}

/// Exchanges a fresh code; answers the client and the token response.
async fn exchange(fake: &FakeZoho) -> (Client, Value) {
    let (client, code) = client_and_code(fake);
    let (_, body) = post_form(&fake.token_url(), &code_form(&client, &code)).await;
    assert!(body["access_token"].is_string(), "exchange failed: {body}");
    (client, body)
}

fn is_zoho_token(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts[0] == "1000"
        && parts[1..]
            .iter()
            .all(|p| p.len() == 32 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

async fn create_contact(fake: &FakeZoho, token: &str) -> (StatusCode, Value) {
    let resp = http()
        .post(format!("{}/invoice/v3/contacts", fake.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .header("X-com-zoho-invoice-organizationid", "10234695")
        .json(&json!({"contact_name": "Acme"}))
        .send()
        .await
        .expect("request sent");
    json_of(resp).await
}

#[tokio::test]
async fn code_exchange_via_urlencoded_body() {
    let fake = start();
    let (client, code) = client_and_code(&fake);
    let resp = http()
        .post(fake.token_url())
        .form(&code_form(&client, &code))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(content_type, "application/json;charset=UTF-8");
    let body: Value = resp.json().await.expect("json");
    assert!(is_zoho_token(&body["access_token"]));
    assert!(is_zoho_token(&body["refresh_token"]));
    assert_eq!(body["api_domain"], json!(fake.base_url()));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], SCOPE);
    assert_eq!(fake.counters().code_exchanges, 1);
}

#[tokio::test]
async fn code_exchange_via_query_string() {
    let fake = start();
    let (client, code) = client_and_code(&fake);
    let resp = http()
        .post(fake.token_url())
        .query(&code_form(&client, &code))
        .send()
        .await
        .expect("sent");
    let (_, body) = json_of(resp).await;
    assert!(body["refresh_token"].is_string(), "{body}");
}

#[tokio::test]
async fn code_exchange_via_multipart() {
    let fake = start();
    let (client, code) = client_and_code(&fake);
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in code_form(&client, &code) {
        form = form.text(k.to_owned(), v.to_owned());
    }
    let resp = http()
        .post(fake.token_url())
        .multipart(form)
        .send()
        .await
        .expect("sent");
    let (_, body) = json_of(resp).await;
    assert!(body["refresh_token"].is_string(), "{body}");
}

#[tokio::test]
async fn scope_is_space_joined_or_absent_by_config() {
    let fake = start();
    let client = fake.register_client();
    let file = fake
        .self_client_json(&client, &["A.b.READ", "A.b.CREATE"], 180)
        .expect("code");
    let (_, body) = post_form(&fake.token_url(), &code_form(&client, &file.code)).await;
    assert_eq!(body["scope"], "A.b.READ A.b.CREATE");
    fake.update_config(ConfigPatch {
        include_scope: Some(false),
        ..Default::default()
    })
    .expect("patch");
    let refresh_token = body["refresh_token"].as_str().unwrap_or_default();
    let (_, body) = post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
    assert!(
        body["access_token"].is_string() && body.get("scope").is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn code_reuse_gives_invalid_code_with_http_200() {
    let fake = start();
    let (client, code) = client_and_code(&fake);
    post_form(&fake.token_url(), &code_form(&client, &code)).await;
    let (status, body) = post_form(&fake.token_url(), &code_form(&client, &code)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"error": "invalid_code"}));
    assert_eq!(fake.counters().errors.get("invalid_code"), Some(&1));
}

#[tokio::test]
async fn expired_code_gives_invalid_code() {
    let fake = start();
    let client = fake.register_client();
    let file = fake.self_client_json(&client, &[SCOPE], 180).expect("code");
    fake.advance_clock(Duration::from_secs(181));
    let (status, body) = post_form(&fake.token_url(), &code_form(&client, &file.code)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"error": "invalid_code"}))
    );
}

#[tokio::test]
async fn wrong_secret_gives_invalid_client_secret() {
    let fake = start();
    let (mut client, code) = client_and_code(&fake);
    client.client_secret = "0".repeat(42);
    let (status, body) = post_form(&fake.token_url(), &code_form(&client, &code)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"error": "invalid_client_secret"}))
    );
}

#[tokio::test]
async fn client_of_another_data_center_gives_invalid_client() {
    let (us, eu) = (start(), start());
    let (client, code) = client_and_code(&us);
    let (status, body) = post_form(&eu.token_url(), &code_form(&client, &code)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"error": "invalid_client"}))
    );
    // The failed probe did not burn the code at its own data center.
    let (_, body) = post_form(&us.token_url(), &code_form(&client, &code)).await;
    assert!(body["access_token"].is_string());
}

#[tokio::test]
async fn redirect_uri_in_self_client_exchange_is_rejected_and_omitting_it_is_fine() {
    let fake = start();
    let (client, code) = client_and_code(&fake);
    let mut form = code_form(&client, &code);
    form.push(("redirect_uri", "https://example.com/cb"));
    let (status, body) = post_form(&fake.token_url(), &form).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"error": "invalid_redirect_uri"}))
    );
    let (_, body) = post_form(&fake.token_url(), &code_form(&client, &code)).await;
    assert!(body["access_token"].is_string());
}

#[tokio::test]
async fn wrong_redirect_uri_for_web_client_gives_invalid_redirect_uri() {
    let fake = start();
    let client = fake
        .register_web_client("https://app.example/cb")
        .expect("client");
    let file = fake.self_client_json(&client, &[SCOPE], 180).expect("code");
    let mut form = code_form(&client, &file.code);
    form.push(("redirect_uri", "https://evil.example/cb"));
    let (_, body) = post_form(&fake.token_url(), &form).await;
    assert_eq!(body, json!({"error": "invalid_redirect_uri"}));
}

#[tokio::test]
async fn refresh_is_not_rotated() {
    let fake = start();
    let (client, body) = exchange(&fake).await;
    let refresh_token = body["refresh_token"].as_str().expect("refresh token");
    let (status, refreshed) =
        post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(is_zoho_token(&refreshed["access_token"]));
    assert_ne!(refreshed["access_token"], body["access_token"]);
    assert!(refreshed.get("refresh_token").is_none(), "{refreshed}");
    assert_eq!(refreshed["expires_in"], 3600);
    assert_eq!(fake.counters().refreshes, 1);
}

async fn eleventh_mint(throttle_http_status: u16) -> (StatusCode, Value) {
    let fake = start_with(FakeZohoConfig {
        throttle_http_status,
        ..Default::default()
    });
    let (client, body) = exchange(&fake).await;
    let refresh_token = body["refresh_token"].as_str().expect("refresh token");
    for _ in 0..9 {
        let (_, body) = post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
        assert!(body["access_token"].is_string(), "{body}");
    }
    let answer = post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
    assert_eq!(fake.counters().throttled, 1);
    // Still blocked for the rest of the window, free again after it.
    fake.advance_clock(Duration::from_secs(300));
    let (_, again) = post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
    assert_eq!(again["status"], "failure");
    fake.advance_clock(Duration::from_secs(301));
    let (_, later) = post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
    assert!(later["access_token"].is_string(), "{later}");
    answer
}

fn throttle_json() -> Value {
    json!({
        "error_description": "You have made too many requests continuously. Please try again after some time.",
        "error": "Access Denied",
        "status": "failure",
    })
}

#[tokio::test]
async fn eleventh_mint_in_window_is_throttled_with_http_200() {
    assert_eq!(eleventh_mint(200).await, (StatusCode::OK, throttle_json()));
}

#[tokio::test]
async fn eleventh_mint_in_window_is_throttled_with_http_400_when_configured() {
    assert_eq!(
        eleventh_mint(400).await,
        (StatusCode::BAD_REQUEST, throttle_json())
    );
}

#[tokio::test]
async fn live_token_cap_evicts_the_oldest_access_token() {
    let fake = start_with(FakeZohoConfig {
        live_token_cap: 3,
        ..Default::default()
    });
    let (client, body) = exchange(&fake).await;
    let first = body["access_token"].as_str().expect("token").to_owned();
    let refresh_token = body["refresh_token"].as_str().expect("refresh token");
    assert_eq!(create_contact(&fake, &first).await.0, StatusCode::CREATED);
    for _ in 0..3 {
        post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
    }
    let (status, body) = create_contact(&fake, &first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], 57);
    assert_eq!(fake.counters().live_access_tokens, 3);
}

#[tokio::test]
async fn twenty_first_refresh_token_evicts_the_oldest_and_its_access_tokens() {
    let fake = start();
    let client = fake.register_client();
    let mut first = None;
    for _ in 0..21 {
        let file = fake.self_client_json(&client, &[SCOPE], 180).expect("code");
        let (_, body) = post_form(&fake.token_url(), &code_form(&client, &file.code)).await;
        first.get_or_insert(body);
    }
    let first = first.expect("21 exchanges");
    let old_refresh = first["refresh_token"].as_str().expect("refresh token");
    let (_, body) = post_form(&fake.token_url(), &refresh_form(&client, old_refresh)).await;
    assert_eq!(body, json!({"error": "invalid_code"}));
    let old_access = first["access_token"].as_str().expect("access token");
    assert!(!fake.is_access_token_live(old_access));
    assert_eq!(fake.counters().live_refresh_tokens, 20);
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_it_and_its_access_tokens() {
    let fake = start();
    let (client, body) = exchange(&fake).await;
    let refresh_token = body["refresh_token"].as_str().expect("refresh token");
    let revoke_url = format!("{}/revoke", fake.token_url());
    let resp = http()
        .post(&revoke_url)
        .query(&[("token", refresh_token)])
        .send()
        .await
        .expect("sent");
    assert_eq!(
        json_of(resp).await,
        (StatusCode::OK, json!({"status": "success"}))
    );
    let (_, again) = post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
    assert_eq!(again, json!({"error": "invalid_code"}));
    let (status, body) =
        create_contact(&fake, body["access_token"].as_str().unwrap_or_default()).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!(57))
    );
    let (status, _) = post_form(&revoke_url, &[("token", refresh_token)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fake.counters().revocations, 1);
}

#[tokio::test]
async fn legacy_mode_answers_expires_in_milliseconds() {
    let fake = start_with(FakeZohoConfig {
        legacy_expires: true,
        ..Default::default()
    });
    let (_, body) = exchange(&fake).await;
    assert_eq!(body["expires_in"], 3_600_000);
    assert_eq!(body["expires_in_sec"], 3600);
}

#[tokio::test]
async fn status_500_fault_hits_only_the_next_requests() {
    let fake = start();
    let (client, code) = client_and_code(&fake);
    fake.inject_fault(FaultKind::Status500, 2);
    for _ in 0..2 {
        let resp = http()
            .post(fake.token_url())
            .form(&code_form(&client, &code))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let (_, body) = post_form(&fake.token_url(), &code_form(&client, &code)).await;
    assert!(
        body["access_token"].is_string(),
        "the code survives faults: {body}"
    );
    assert_eq!(fake.counters().faults.get("status_500"), Some(&2));
}

#[tokio::test]
async fn timeout_fault_holds_the_request_without_blocking_others() {
    let fake = start();
    fake.inject_fault(FaultKind::Timeout, 1);
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let held = tokio::spawn(short.post(fake.token_url()).send());
    // The other request goes only once the first has taken the fault, so
    // which one is held never depends on timing.
    wait_until("the first request takes the fault", || {
        fake.counters().faults.get("timeout") == Some(&1)
    })
    .await;
    let (_, other) = exchange(&fake).await;
    assert!(other["access_token"].is_string());
    let held = held.await.expect("task");
    assert!(held.expect_err("held past the client timeout").is_timeout());
}

/// Waits until `done` holds (a condition, not a duration, decides); gives
/// up loudly after a minute so a broken fake fails instead of hanging.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..6000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn drop_fault_gives_the_client_no_usable_answer() {
    let fake = start();
    let (client, code) = client_and_code(&fake);
    fake.inject_fault(FaultKind::Drop, 1);
    let outcome = match http()
        .post(fake.token_url())
        .form(&code_form(&client, &code))
        .send()
        .await
    {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        outcome.is_err(),
        "a dropped connection must fail the client"
    );
}

#[tokio::test]
async fn odd_answer_faults_replace_the_answer_and_leave_the_code_usable() {
    let fake = start();
    let (client, code) = client_and_code(&fake);
    let cases = [
        (FaultKind::Html200, StatusCode::OK, None),
        (FaultKind::Waf403, StatusCode::FORBIDDEN, None),
        (
            FaultKind::UnknownError200,
            StatusCode::OK,
            Some(json!({"error": "internal_error"})),
        ),
        (FaultKind::EmptyJson200, StatusCode::OK, Some(json!({}))),
    ];
    for (kind, status, json_body) in cases {
        fake.inject_fault(kind, 1);
        let resp = http()
            .post(fake.token_url())
            .form(&code_form(&client, &code))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), status, "{kind:?}");
        let text = resp.text().await.expect("body");
        match json_body {
            Some(expected) => {
                let body: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(body, expected, "{kind:?}");
            }
            None => assert!(text.starts_with("<html>"), "{kind:?}: {text}"),
        }
        assert_eq!(fake.counters().faults.get(kind.as_str()), Some(&1));
    }
    let (_, body) = post_form(&fake.token_url(), &code_form(&client, &code)).await;
    assert!(
        body["access_token"].is_string(),
        "the code survives: {body}"
    );
}

#[tokio::test]
async fn lifetime_faults_mint_a_real_token_with_a_lying_expires_in() {
    let fake = start();
    let (client, body) = exchange(&fake).await;
    let refresh_token = body["refresh_token"].as_str().expect("refresh token");
    let cases = [
        (FaultKind::NegativeExpiresIn, json!(-3600)),
        (FaultKind::ZeroExpiresIn, json!(0)),
        (FaultKind::HugeExpiresIn, json!(1e18)),
    ];
    for (kind, lie) in cases {
        let minted = fake.counters().refreshes;
        fake.inject_fault(kind, 1);
        let (status, body) =
            post_form(&fake.token_url(), &refresh_form(&client, refresh_token)).await;
        assert_eq!(status, StatusCode::OK, "{kind:?}");
        assert!(is_zoho_token(&body["access_token"]), "{kind:?}: {body}");
        assert_eq!(body["expires_in"], lie, "{kind:?}");
        assert_eq!(fake.counters().refreshes, minted + 1, "{kind:?}");
    }
}

fn auth_url(fake: &FakeZoho, client: &Client, redirect_uri: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/oauth/v2/auth", fake.base_url())).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair(
            "scope",
            "ZohoInvoice.contacts.CREATE,ZohoInvoice.invoices.CREATE",
        )
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("state", "xyz 1");
    url.to_string()
}

async fn decide(fake: &FakeZoho, client: &Client, decision: &str) -> url::Url {
    let page = http()
        .get(auth_url(fake, client, "https://app.example/cb"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Accept") && html.contains("Deny") && html.contains("/oauth/v2/auth/decide")
    );
    let form = [
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        (
            "scope",
            "ZohoInvoice.contacts.CREATE,ZohoInvoice.invoices.CREATE",
        ),
        ("state", "xyz 1"),
        ("decision", decision),
    ];
    let resp = http()
        .post(format!("{}/oauth/v2/auth/decide", fake.base_url()))
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().expect("ascii");
    url::Url::parse(location).expect("callback url")
}

fn query_value(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn auth_accept_redirects_with_a_code_that_exchanges() {
    let fake = start();
    let client = fake
        .register_web_client("https://app.example/cb")
        .expect("client");
    let callback = decide(&fake, &client, "accept").await;
    assert!(callback
        .as_str()
        .starts_with("https://app.example/cb?code=1000."));
    assert_eq!(query_value(&callback, "location").as_deref(), Some("us"));
    assert_eq!(
        query_value(&callback, "accounts-server"),
        Some(fake.base_url())
    );
    assert_eq!(query_value(&callback, "state").as_deref(), Some("xyz 1"));
    let code = query_value(&callback, "code").expect("code");
    let mut form = code_form(&client, &code);
    form.push(("redirect_uri", "https://app.example/cb"));
    let (_, body) = post_form(&fake.token_url(), &form).await;
    assert!(body["refresh_token"].is_string(), "{body}");
    assert_eq!(
        body["scope"],
        "ZohoInvoice.contacts.CREATE ZohoInvoice.invoices.CREATE"
    );
}

#[tokio::test]
async fn auth_deny_redirects_with_access_denied() {
    let fake = start();
    let client = fake
        .register_web_client("https://app.example/cb")
        .expect("client");
    let callback = decide(&fake, &client, "deny").await;
    assert_eq!(
        query_value(&callback, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_value(&callback, "state").as_deref(), Some("xyz 1"));
    assert_eq!(query_value(&callback, "code"), None);
}

#[tokio::test]
async fn auth_with_wrong_redirect_uri_or_unknown_client_shows_an_error_page() {
    let fake = start();
    let client = fake
        .register_web_client("https://app.example/cb")
        .expect("client");
    let resp = http()
        .get(auth_url(&fake, &client, "https://evil.example/cb"))
        .send()
        .await
        .expect("sent");
    assert!(resp.headers().get("location").is_none());
    assert!(resp
        .text()
        .await
        .expect("html")
        .contains("Invalid Redirect Uri"));
    let stranger = Client {
        client_id: "1000.NOPE".to_owned(),
        ..client
    };
    let resp = http()
        .get(auth_url(&fake, &stranger, "https://app.example/cb"))
        .send()
        .await
        .expect("sent");
    assert!(resp.headers().get("location").is_none());
    assert!(resp.text().await.expect("html").contains("Invalid Client"));
}

#[tokio::test]
async fn invoice_api_without_authorization_gives_code_14() {
    let fake = start();
    let resp = http()
        .post(format!(
            "{}/invoice/v3/contacts?organization_id=1",
            fake.base_url()
        ))
        .json(&json!({"contact_name": "Acme"}))
        .send()
        .await
        .expect("sent");
    let (status, body) = json_of(resp).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!(14))
    );
}

#[tokio::test]
async fn invoice_api_with_expired_or_unknown_token_gives_code_57() {
    let fake = start();
    let (_, body) = exchange(&fake).await;
    let token = body["access_token"].as_str().expect("token");
    fake.expire_access_tokens();
    let (status, body) = create_contact(&fake, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"code": 57, "message": "You are not authorized to perform this operation"})
    );
    assert_eq!(create_contact(&fake, "1000.unknown").await.1["code"], 57);
}

#[tokio::test]
async fn invoice_api_contact_without_name_gives_code_3013() {
    let fake = start();
    let (_, body) = exchange(&fake).await;
    let resp = http()
        .post(format!(
            "{}/invoice/v3/contacts?organization_id=1",
            fake.base_url()
        ))
        .header(
            "Authorization",
            format!(
                "Bearer {}",
                body["access_token"].as_str().unwrap_or_default()
            ),
        )
        .json(&json!({"company_name": "Acme"}))
        .send()
        .await
        .expect("sent");
    let (status, body) = json_of(resp).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(3013))
    );
}

#[tokio::test]
async fn invoice_api_without_organization_is_refused() {
    let fake = start();
    let (_, body) = exchange(&fake).await;
    let resp = http()
        .post(format!("{}/invoice/v3/contacts", fake.base_url()))
        .header(
            "Authorization",
            format!(
                "Zoho-oauthtoken {}",
                body["access_token"].as_str().unwrap_or_default()
            ),
        )
        .json(&json!({"contact_name": "Acme"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invoice_api_creates_contact_and_invoice_from_multipart_jsonstring() {
    let fake = start();
    let (_, body) = exchange(&fake).await;
    let token = body["access_token"].as_str().expect("token");
    let (status, contact) = create_contact(&fake, token).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(contact["message"], "The contact has been added.");
    let contact_id = contact["contact"]["contact_id"]
        .as_str()
        .expect("contact id");
    let invoice = json!({"customer_id": contact_id, "line_items": [{"name": "Work", "rate": 10.0, "quantity": 2}]});
    let form = reqwest::multipart::Form::new().text("JSONString", invoice.to_string());
    let resp = http()
        .post(format!("{}/invoice/v3/invoices", fake.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .header("X-com-zoho-invoice-organizationid", "10234695")
        .multipart(form)
        .send()
        .await
        .expect("sent");
    let (status, body) = json_of(resp).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::CREATED, json!(0))
    );
    assert_eq!(body["message"], "The invoice has been created.");
    assert_eq!(body["invoice"]["total"], 20.0);
    assert_eq!(fake.counters().invoice_calls, 2);
}

#[tokio::test]
async fn invoice_api_answers_a_missing_scope_with_http_400_code_57() {
    let fake = start();
    let client = fake.register_client();
    let file = fake
        .self_client_json(&client, &["ZohoInvoice.invoices.CREATE"], 180)
        .expect("code");
    let (_, body) = post_form(&fake.token_url(), &code_form(&client, &file.code)).await;
    let (status, body) =
        create_contact(&fake, body["access_token"].as_str().unwrap_or_default()).await;
    // Zoho's answer for a live token without the scope: code 57 like a
    // dead token, but HTTP 400, which a refresh does not fix.
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(57))
    );
}

#[tokio::test]
async fn control_api_issues_self_client_json_and_reports_counters() {
    let fake = start();
    let base = fake.base_url();
    let (_, client) = json_of(
        http()
            .post(format!("{base}/_fake/clients"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let client_id = client["client_id"].as_str().expect("id");
    assert!(client_id.starts_with("1000.") && client_id.len() == 35);
    assert_eq!(client["client_secret"].as_str().map(str::len), Some(42));
    let resp = http()
        .post(format!("{base}/_fake/codes"))
        .json(&json!({"client_id": client_id, "scope": [SCOPE], "ttl_secs": 180}))
        .send()
        .await
        .expect("sent");
    let (status, file) = json_of(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(file["grant_type"], "authorization_code");
    assert_eq!(file["client_secret"], client["client_secret"]);
    assert!(file["expiry_time"].as_i64().unwrap_or_default() > 1_600_000_000_000);
    let resp = http()
        .put(format!("{base}/_fake/config"))
        .json(&json!({"throttle_http_status": 418}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = http()
        .post(format!("{base}/_fake/faults"))
        .json(&json!({"kind": "status_503", "count": 1}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http().post(fake.token_url()).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (_, counters) = json_of(
        http()
            .get(format!("{base}/_fake/counters"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(counters["token_requests"], 1);
    assert_eq!(counters["faults"]["status_503"], 1);
    http()
        .post(format!("{base}/_fake/reset"))
        .send()
        .await
        .expect("sent");
    assert_eq!(fake.counters().token_requests, 0);
}

#[tokio::test]
async fn unsupported_grant_type_gives_an_error_body() {
    let fake = start();
    let (status, body) = post_form(&fake.token_url(), &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"error": "unsupported_grant_type"}))
    );
}

#[test]
fn starts_and_stops_from_sync_code() {
    let fake = start();
    let addr = fake.addr();
    drop(fake);
    assert!(std::net::TcpStream::connect(addr).is_err());
}
