//! The proxy's token handling: a token Zoho refuses as dead is replaced by
//! one refresh (shared by every caller that saw it refused) and the request
//! is retried once; a dead connection answers 409 without calling Zoho.

use serde_json::{json, Value};

use super::helpers::error_code;
use super::proxy::{call, get, proxied, token_with, zoho_calls};

async fn completed(z: &super::helpers::ZohoApp) -> Vec<Value> {
    z.app.all_events("action=proxy_completed").await
}

#[tokio::test]
async fn a_dead_token_401_from_crm_gets_one_refresh_one_retry_and_a_200() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({"access": "proxy"})).await;
    assert_eq!(get(&z, "/crm/v2/Leads", &token).await.0, 200);
    z.fake.expire_access_tokens();
    let (refreshes, calls) = (z.fake.counters().refreshes, zoho_calls(&z));
    let (status, body) = get(&z, "/crm/v2/Leads", &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["Last_Name"], "Fake");
    assert_eq!(z.fake.counters().refreshes, refreshes + 1);
    assert_eq!(
        zoho_calls(&z),
        calls + 2,
        "the refused call and its one retry"
    );
    let last = completed(&z).await.pop().expect("event");
    assert_eq!(last["details"]["retried"], true, "{last}");
    assert_eq!(last["details"]["status"], 200, "{last}");
}

#[tokio::test]
async fn invoices_code_57_401_is_a_dead_token_too() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    z.fake.expire_access_tokens();
    let refreshes = z.fake.counters().refreshes;
    let (status, body) = super::proxy::create_contact(&z, &token).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(z.fake.counters().refreshes, refreshes + 1);
}

#[tokio::test]
async fn a_second_401_after_the_retry_is_passed_through_not_looped() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    z.fake.refuse_data_calls(5);
    let (refreshes, calls) = (z.fake.counters().refreshes, zoho_calls(&z));
    let (status, body) = get(&z, "/crm/v2/Leads", &token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "INVALID_TOKEN", "Zoho's own answer: {body}");
    assert_eq!(
        z.fake.counters().refreshes,
        refreshes + 1,
        "one refresh only"
    );
    assert_eq!(zoho_calls(&z), calls + 2, "one retry only");
}

#[tokio::test]
async fn a_streamed_body_is_not_retried_and_the_401_is_passed_through() {
    let z = proxied(&[("ZOHO_VAULT_PROXY__REPLAY_LIMIT_BYTES", "1024")]).await;
    let token = token_with(&z, json!({})).await;
    z.fake.refuse_data_calls(1);
    let (refreshes, calls) = (z.fake.counters().refreshes, zoho_calls(&z));
    let resp = call(&z, reqwest::Method::POST, "/echo/v1/upload", &token)
        .body(vec![b'a'; 4096])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        z.fake.counters().refreshes,
        refreshes,
        "no refresh without a retry"
    );
    assert_eq!(zoho_calls(&z), calls + 1);
}

#[tokio::test]
async fn two_hundred_concurrent_calls_on_a_dead_token_share_exactly_one_refresh() {
    let z = proxied(&[("ZOHO_VAULT_PROXY__MAX_CONCURRENT_PER_CONNECTION", "200")]).await;
    let token = token_with(&z, json!({"access": "proxy"})).await;
    assert_eq!(get(&z, "/crm/v2/Leads", &token).await.0, 200);
    z.fake.expire_access_tokens();
    let refreshes = z.fake.counters().refreshes;
    let calls = (0..200).map(|_| {
        let req = call(&z, reqwest::Method::GET, "/crm/v2/Leads", &token);
        async move { req.send().await.expect("send").status().as_u16() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        z.fake.counters().refreshes,
        refreshes + 1,
        "exactly one refresh"
    );
}

#[tokio::test]
async fn an_expired_cached_token_is_refreshed_once_for_many_concurrent_calls() {
    let z = super::helpers::ZohoApp::spawn_with(&[(
        "ZOHO_VAULT_PROXY__MAX_CONCURRENT_PER_CONNECTION",
        "200",
    )]);
    // The vault caches a token that lives 20 s: too short for the proxy's
    // default demand (30 s), so the next calls need a refresh.
    z.set_access_token_ttl(20);
    z.connect("acme").await;
    z.set_access_token_ttl(3600);
    let token = token_with(&z, json!({})).await;
    let refreshes = z.fake.counters().refreshes;
    let calls = (0..50).map(|_| {
        let req = call(&z, reqwest::Method::GET, "/crm/v2/Leads", &token);
        async move { req.send().await.expect("send").status().as_u16() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(z.fake.counters().refreshes, refreshes + 1);
}

#[tokio::test]
async fn a_connection_needing_reauthorization_answers_409_without_calling_zoho() {
    let z = proxied(&[]).await;
    let token = token_with(&z, json!({})).await;
    let rt = z.import("dead").await;
    let (_, dead_token) = z.app.create_service_token("d", &["dead"]).await;
    assert!(z.fake.revoke(&rt));
    z.fake.expire_access_tokens();
    let url = |p: &str| z.app.server.url(&format!("/v1/proxy/dead{p}"));
    let first = z
        .app
        .server
        .http
        .get(url("/crm/v2/Leads"))
        .bearer_auth(&dead_token);
    let (status, body) = super::helpers::answer(first).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "needs_reauth");
    let (token_requests, calls) = (z.fake.counters().token_requests, zoho_calls(&z));
    let again = z
        .app
        .server
        .http
        .get(url("/crm/v2/Leads"))
        .bearer_auth(&dead_token);
    let (status, body) = super::helpers::answer(again).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["fix"]["code"], "reauthorize", "{body}");
    assert_eq!(
        z.fake.counters().token_requests,
        token_requests,
        "Zoho was asked"
    );
    assert_eq!(zoho_calls(&z), calls, "Zoho was called");
    // Other connections are not affected.
    assert_eq!(get(&z, "/crm/v2/Leads", &token).await.0, 200);
}
