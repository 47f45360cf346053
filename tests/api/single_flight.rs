//! Single flight when the refresh fails: callers queued behind a refresh
//! share its outcome, success or failure, instead of each asking Zoho again.
//! One failing refresh costs Zoho one chain of attempts (the client's own
//! retries), spends one mint of the budget, and answers every caller.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::{error_code, ZohoApp};
use zoho_vault::fake_zoho::{ConfigPatch, FaultKind};

/// The vault's Zoho client tries each call this many times (the default of
/// `zoho.max_attempts`): one refresh is this many token requests at most.
const ATTEMPTS_PER_REFRESH: u64 = 3;
const CALLERS: usize = 20;

fn expires_at(answer: &Value) -> OffsetDateTime {
    let text = answer["expires_at"].as_str().expect("expires_at");
    OffsetDateTime::parse(text, &Rfc3339).expect("RFC 3339 expires_at")
}

/// The next `faults` token requests answer 500, each held for a second, so
/// the refresh chain outlasts the moment all callers are queued behind it
/// by seconds (a caller that came after it would start a second chain and
/// fail the test, never pass it).
fn fail_slowly(z: &ZohoApp, faults: u32) {
    z.fake
        .update_config(ConfigPatch {
            latency_ms: Some(1000),
            ..Default::default()
        })
        .expect("latency");
    z.fake.inject_fault(FaultKind::Status500, faults);
}

/// Sends the bodies at once and collects every answer.
async fn callers(z: &Arc<ZohoApp>, token: &str, bodies: Vec<Value>) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let z = Arc::clone(z);
            let token = token.to_string();
            tokio::spawn(async move { z.issue("acme", &token, body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("caller"));
    }
    answers
}

#[tokio::test]
async fn callers_behind_a_failing_refresh_share_it_and_get_the_still_valid_cached_token() {
    let z = Arc::new(ZohoApp::spawn());
    // The cached token lives 2940 s: a demand of 3000 s needs a refresh,
    // the default demand does not.
    z.set_access_token_ttl(3000);
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    let (status, cached) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{cached}");
    let before = z.fake.counters().token_requests;

    fail_slowly(&z, 1000);
    let bodies = (0..CALLERS)
        .map(|i| match i % 2 {
            0 => json!({"min_valid_secs": 3000}),
            _ => json!({}),
        })
        .collect();
    let answers = callers(&z, &svc, bodies).await;

    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["access_token"], cached["access_token"]);
        assert!(expires_at(answer) > OffsetDateTime::now_utc());
    }
    let requests = z.fake.counters().token_requests - before;
    assert_eq!(
        requests, ATTEMPTS_PER_REFRESH,
        "one refresh chain, not one per queued caller"
    );
    let (_, view) = z.app.admin_get("/v1/connections/acme").await;
    assert_eq!(view["health"]["state"], "degraded", "{view}");
}

#[tokio::test]
async fn callers_behind_a_failing_refresh_of_an_expired_token_share_its_failure() {
    let z = Arc::new(ZohoApp::spawn());
    // A 2 s token is handed out for 1 s (half its life).
    z.set_access_token_ttl(2);
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    let (status, cached) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{cached}");
    while OffsetDateTime::now_utc() <= expires_at(&cached) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = z.fake.counters().token_requests;

    fail_slowly(&z, ATTEMPTS_PER_REFRESH as u32);
    let answers = callers(&z, &svc, vec![json!({}); CALLERS]).await;

    for (status, answer) in &answers {
        assert_eq!(*status, 502, "{answer}");
        assert_eq!(error_code(answer), "upstream_unavailable", "{answer}");
    }
    let requests = z.fake.counters().token_requests - before;
    assert_eq!(
        requests, ATTEMPTS_PER_REFRESH,
        "one refresh chain, not one per queued caller"
    );

    // Zoho is back: the next caller refreshes, with budget to spare.
    z.fake
        .update_config(ConfigPatch {
            latency_ms: Some(0),
            access_token_ttl_secs: Some(3600),
            ..Default::default()
        })
        .expect("config");
    let (status, fresh) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{fresh}");
    assert_ne!(fresh["access_token"], cached["access_token"]);
}
