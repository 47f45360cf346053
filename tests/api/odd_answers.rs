//! Odd answers from Zoho's token endpoint (a proxy's HTML page, an error
//! Zoho does not document, an empty object, a firewall's 403, nonsense
//! lifetimes): each is a passing upstream fault. The connection turns
//! `degraded`, never `needs_reauth`; a still-valid cached token keeps being
//! served; the next refresh after the fault clears works with no admin
//! action; and no answer ever carries an expired token.

use std::time::Duration;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::{error_code, ZohoApp};
use zoho_vault::fake_zoho::FaultKind;

async fn health(z: &ZohoApp, name: &str) -> Value {
    let (status, view) = z
        .app
        .server
        .get(&format!("/v1/connections/{name}"), Some(&z.app.admin))
        .await;
    assert_eq!(status, 200, "{view}");
    view["health"].clone()
}

fn expires_at(answer: &Value) -> OffsetDateTime {
    let text = answer["expires_at"].as_str().expect("expires_at");
    OffsetDateTime::parse(text, &Rfc3339).expect("RFC 3339 expires_at")
}

/// Waits until the instant the vault said a token stops being valid has
/// passed (a condition, not a guess at how long something takes).
async fn wait_past(instant: OffsetDateTime) {
    while OffsetDateTime::now_utc() <= instant {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One odd answer during a forced refresh: degraded, the cached token is
/// served, and the next refresh after the fault works.
async fn an_odd_refresh_answer_degrades_and_the_cached_token_is_served(kind: FaultKind) {
    let z = ZohoApp::spawn();
    // The cached token lives 2940 s, so a demand of 3000 s forces a refresh.
    z.set_access_token_ttl(3000);
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    let (status, cached) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200, "{cached}");

    z.fake.inject_fault(kind, 1);
    let (status, served) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 200, "{kind:?}: {served}");
    assert_eq!(served["access_token"], cached["access_token"], "{kind:?}");
    assert!(expires_at(&served) > OffsetDateTime::now_utc(), "{kind:?}");
    assert_eq!(
        z.fake.counters().faults.get(kind.as_str()),
        Some(&1),
        "{kind:?}: the fault was not served"
    );
    let degraded = health(&z, "acme").await;
    assert_eq!(degraded["state"], "degraded", "{kind:?}: {degraded}");
    assert_eq!(
        degraded["last_error"]["code"], "upstream_unavailable",
        "{kind:?}"
    );

    // The fault has cleared: the next refresh works, no admin involved.
    z.set_access_token_ttl(3600);
    let (status, fresh) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 200, "{kind:?}: {fresh}");
    assert_ne!(fresh["access_token"], cached["access_token"], "{kind:?}");
    assert_eq!(health(&z, "acme").await["state"], "active", "{kind:?}");
}

#[tokio::test]
async fn an_html_page_with_http_200_degrades_and_the_cached_token_is_served() {
    an_odd_refresh_answer_degrades_and_the_cached_token_is_served(FaultKind::Html200).await;
}

#[tokio::test]
async fn an_undocumented_error_with_http_200_degrades_and_the_cached_token_is_served() {
    an_odd_refresh_answer_degrades_and_the_cached_token_is_served(FaultKind::UnknownError200).await;
}

#[tokio::test]
async fn an_empty_json_object_degrades_and_the_cached_token_is_served() {
    an_odd_refresh_answer_degrades_and_the_cached_token_is_served(FaultKind::EmptyJson200).await;
}

#[tokio::test]
async fn a_firewall_403_page_degrades_and_the_cached_token_is_served() {
    an_odd_refresh_answer_degrades_and_the_cached_token_is_served(FaultKind::Waf403).await;
}

#[tokio::test]
async fn a_negative_lifetime_degrades_and_the_cached_token_is_served() {
    an_odd_refresh_answer_degrades_and_the_cached_token_is_served(FaultKind::NegativeExpiresIn)
        .await;
}

#[tokio::test]
async fn a_zero_lifetime_degrades_and_the_cached_token_is_served() {
    an_odd_refresh_answer_degrades_and_the_cached_token_is_served(FaultKind::ZeroExpiresIn).await;
}

#[tokio::test]
async fn an_absurd_lifetime_is_clamped_to_an_hour() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    z.fake.inject_fault(FaultKind::HugeExpiresIn, 1);
    let before = OffsetDateTime::now_utc();
    let (status, fresh) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(z.fake.counters().faults.get("huge_expires_in"), Some(&1));
    let lifetime = expires_at(&fresh) - before;
    assert!(
        lifetime <= time::Duration::seconds(3600),
        "cached for {lifetime}"
    );
    assert!(fresh["expires_in"].as_i64().expect("expires_in") <= 3600);
    assert_eq!(health(&z, "acme").await["state"], "active");
}

#[tokio::test]
async fn a_zero_lifetime_without_a_valid_cached_token_answers_502_never_an_expired_token() {
    let z = ZohoApp::spawn();
    // A 2 s token is handed out for 1 s (half its life, see the expiry rule).
    z.set_access_token_ttl(2);
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    let (status, cached) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200, "{cached}");
    wait_past(expires_at(&cached)).await;

    z.set_access_token_ttl(3600);
    z.fake.inject_fault(FaultKind::ZeroExpiresIn, 1);
    let (status, err) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(error_code(&err), "upstream_unavailable");
    assert!(err["error"]["hint"].is_string(), "{err}");
    assert_eq!(z.fake.counters().faults.get("zero_expires_in"), Some(&1));
    assert_eq!(health(&z, "acme").await["state"], "degraded");

    let (status, fresh) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200, "{fresh}");
    assert!(expires_at(&fresh) > OffsetDateTime::now_utc());
    assert_eq!(health(&z, "acme").await["state"], "active");
}

#[tokio::test]
async fn a_cached_token_that_expires_during_a_failing_refresh_is_not_served() {
    // Each attempt times out after 2 s and the client tries 3 times, so the
    // refresh outlasts the cached token (handed out for 3 s of its 6).
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(6);
    z.connect("acme").await;
    let admin = z.app.admin.clone();
    let (status, cached) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200, "{cached}");
    z.fake.inject_fault(FaultKind::Timeout, 3);
    let (status, answer) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    let now = OffsetDateTime::now_utc();
    assert!(now > expires_at(&cached), "the refresh was too quick");
    assert_eq!(status, 504, "an expired token was answered: {answer}");
    assert_eq!(error_code(&answer), "upstream_timeout");
}

#[tokio::test]
async fn an_html_page_at_upload_is_an_upstream_error_not_a_bad_code() {
    let z = ZohoApp::spawn();
    z.fake.inject_fault(FaultKind::Html200, 1);
    let (status, err) = z.put_connection("acme", &z.upload_body()).await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(error_code(&err), "upstream_unavailable");
    let (status, _) = z
        .app
        .server
        .get("/v1/connections/acme", Some(&z.app.admin))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_undocumented_error_at_upload_is_a_clear_refusal() {
    let z = ZohoApp::spawn();
    z.fake.inject_fault(FaultKind::UnknownError200, 1);
    let (status, err) = z.put_connection("acme", &z.upload_body()).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(error_code(&err), "upstream_rejected");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("internal_error"), "{message}");
}
