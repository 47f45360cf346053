//! PostgreSQL stopped while callers keep asking: every answer is a token
//! or a 503, every token answered has its event, and the chain verifies
//! once the database is back, without restarting the replicas.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::faults::Proxy;

/// Concurrent callers, spread over the replicas.
const CALLERS: usize = 8;

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    unavailable: AtomicUsize,
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every `token_issued` event, across pages.
async fn issued_events(c: &Cluster) -> usize {
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let mut q = "/v1/audit?action=token_issued&limit=1000".to_string();
        if let Some(cursor) = &after {
            q.push_str(&format!("&after={cursor}"));
        }
        let (status, page) = c.at(0).get(&q, Some(&c.admin)).await;
        assert_eq!(status, 200, "{page}");
        count += page["events"].as_array().map_or(0, Vec::len);
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return count,
        }
    }
}

#[tokio::test]
async fn postgres_stopped_under_load_answers_tokens_or_503_and_every_token_has_its_event() {
    let Some((c, proxy)) = Proxy::cluster_behind(2).await else {
        return;
    };
    c.connect(0, "acme").await;
    let (_, svc) = c.service_token(0, &["acme"]).await;

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for i in 0..CALLERS {
        let url = c.at(i % 2).url("/v1/connections/acme/token");
        let (svc, tally, stop) = (svc.clone(), Arc::clone(&tally), Arc::clone(&stop));
        callers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let resp = http
                    .post(&url)
                    .bearer_auth(&svc)
                    .json(&json!({}))
                    .send()
                    .await
                    .expect("the replica answers");
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.expect("json body");
                match status {
                    200 => {
                        assert!(body["access_token"].is_string(), "{body}");
                        tally.ok.fetch_add(1, Ordering::SeqCst);
                    }
                    503 => {
                        let code = body["error"]["code"].as_str().unwrap_or_default();
                        assert!(
                            matches!(code, "store_unavailable" | "audit_unavailable"),
                            "{body}"
                        );
                        assert!(body.get("access_token").is_none(), "{body}");
                        tally.unavailable.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("answered {other}: {body}"),
                }
            }
        }));
    }

    until("tokens before the cut", || {
        tally.ok.load(Ordering::SeqCst) >= 50
    })
    .await;
    proxy.cut();
    until("503s while the database is down", || {
        tally.unavailable.load(Ordering::SeqCst) >= 2 * CALLERS
    })
    .await;
    proxy.restore();
    let resumed_from = tally.ok.load(Ordering::SeqCst);
    until("tokens after the database returned", || {
        tally.ok.load(Ordering::SeqCst) >= resumed_from + 50
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        caller.await.expect("caller");
    }

    let answered = tally.ok.load(Ordering::SeqCst);
    let events = issued_events(&c).await;
    assert!(
        events >= answered,
        "{answered} tokens answered, only {events} token_issued events"
    );
    let (_, report) = c.at(1).get("/v1/audit/verify", Some(&c.admin)).await;
    assert_eq!(report["ok"], true, "{report}");
}
