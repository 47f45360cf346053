//! Audit first, fail closed, durable: a token or service token is
//! handed out only once its event is durable (503 otherwise), and a kill -9
//! while tokens are being issued loses no event of a token that was
//! returned. A connection whose creation cannot be audited is removed
//! again (503). Deletions and revocations, whose effect already happened,
//! are the documented exception: they succeed and log an error.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::{access_token, stale, vault_with};
use crate::helpers::{error_code, TestApp, ZohoApp};

const FAULTS: (&str, &str) = ("ZOHO_VAULT_AUDIT__FAULT_INJECTION", "true");

/// Makes the next audit batch write fail.
async fn fail_next_audit_write(app: &TestApp) {
    let (status, body) = app
        .admin_post("/v1/sys/audit-faults", json!({"fail_next": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn token_issue_answers_503_without_the_token_when_its_event_cannot_be_written() {
    let z = vault_with(&["acme"], &[FAULTS]).await;
    let (_, svc) = z.app.create_service_token("billing", &["acme"]).await;
    let (status, first) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{first}");

    // A cached token, then a refresh whose event cannot be written.
    let mut refused = Vec::new();
    for demand in [json!({}), stale()] {
        fail_next_audit_write(&z.app).await;
        let (status, body) = z.issue("acme", &svc, demand).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(error_code(&body), "audit_unavailable");
        assert!(body.get("access_token").is_none(), "{body}");
        refused.push(body.to_string());
    }
    let (status, last) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{last}");
    for body in &refused {
        assert!(!body.contains(access_token(&first)) && !body.contains(access_token(&last)));
    }
    // Only the two tokens handed out are in the trail.
    assert_eq!(z.app.events("action=token_issued").await.len(), 2);
    assert_eq!(z.app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_service_token_whose_creation_cannot_be_audited_is_refused_and_removed() {
    let app = TestApp::spawn_with(&[FAULTS]);
    app.create_service_token("billing", &["*"]).await;
    fail_next_audit_write(&app).await;
    let body = json!({"name": "doomed", "connections": ["*"]});
    let (status, answer) = app.admin_post("/v1/service-tokens", body).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(error_code(&answer), "audit_unavailable");
    assert!(answer.get("token").is_none() && !answer.to_string().contains("zvs_"));
    // The plain token was never shown, so what proves it is gone is that
    // the registry no longer lists it.
    let (status, list) = app.admin_get("/v1/service-tokens").await;
    assert_eq!(status, 200);
    let names: Vec<_> = list["service_tokens"]
        .as_array()
        .expect("service_tokens")
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("billing")], "{list}");
    // The one created, and the refused attempt (its refusal recorded once
    // the trail took writes again).
    let created = app.events("action=service_token_created&order=asc").await;
    assert_eq!(created.len(), 2, "{created:#?}");
    assert_eq!(created[0]["outcome"], "success");
    assert_eq!(created[1]["outcome"], "failure");
    assert_eq!(created[1]["details"]["error"], "audit_unavailable");
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_connection_whose_creation_cannot_be_audited_is_refused_removed_and_its_token_revoked() {
    let z = ZohoApp::spawn_with(&[FAULTS]);
    fail_next_audit_write(&z.app).await;
    let (status, answer) = z.put_connection("acme", &z.upload_body()).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(error_code(&answer), "audit_unavailable");
    // Nothing is left: no connection, and the refresh token minted from the
    // spent code is revoked at Zoho instead of lingering unrecorded.
    let (status, _) = z.app.admin_get("/v1/connections/acme").await;
    assert_eq!(status, 404);
    let counters = z.fake.counters();
    assert_eq!((counters.code_exchanges, counters.revocations), (1, 1));
    assert_eq!(counters.live_refresh_tokens, 0);
    // Only the refusal is on record (with its code), no creation.
    let refused = z.app.events("action=connection_created").await;
    assert_eq!(successes(&refused), 0, "{refused:?}");
    assert!(refused
        .iter()
        .all(|e| e["outcome"] == "failure" && e["details"]["error"] == "audit_unavailable"));
    // The same name can be created once the trail takes writes again.
    z.connect("acme").await;
    assert_eq!(
        successes(&z.app.events("action=connection_created").await),
        1
    );
    assert_eq!(z.app.verify().await["ok"], true);
}

#[tokio::test]
async fn an_imported_connection_whose_creation_cannot_be_audited_is_refused_and_removed() {
    let z = ZohoApp::spawn_with(&[FAULTS]);
    let rt = z
        .fake
        .mint_refresh_token(&z.client, &crate::helpers::SCOPES)
        .expect("refresh token");
    let body = json!({"client_id": z.client.client_id,
        "client_secret": z.client.client_secret, "refresh_token": rt,
        "accounts_url": z.fake.base_url()});
    fail_next_audit_write(&z.app).await;
    let (status, answer) = z.put_connection("acme", &body).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(error_code(&answer), "audit_unavailable");
    assert_eq!(z.app.admin_get("/v1/connections/acme").await.0, 404);
    // The owner's refresh token is not the vault's to revoke: it still
    // works, so the same upload succeeds later.
    assert_eq!(z.fake.counters().revocations, 0);
    let (status, answer) = z.put_connection("acme", &body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        successes(&z.app.events("action=connection_created").await),
        1
    );
}

#[tokio::test]
async fn admin_actions_already_done_upstream_succeed_and_log_an_error_when_unrecorded() {
    let z = ZohoApp::spawn_with(&[FAULTS]);
    let (svc_id, _) = z.app.create_service_token("billing", &["*"]).await;
    z.connect("acme").await;
    // The refresh token revoked at Zoho and the service token deleted:
    // each answers success although its event could not be written.
    fail_next_audit_write(&z.app).await;
    assert_eq!(z.app.admin_delete("/v1/connections/acme").await.0, 200);
    fail_next_audit_write(&z.app).await;
    let path = format!("/v1/service-tokens/{svc_id}");
    assert_eq!(z.app.admin_delete(&path).await.0, 200);

    for action in ["connection_deleted", "service_token_revoked"] {
        let events = z.app.events(&format!("action={action}")).await;
        assert!(events.is_empty(), "{action}: {events:#?}");
    }
    let unrecorded = z
        .app
        .server
        .log_text()
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("its audit event could not be written"))
        .count();
    assert_eq!(unrecorded, 2);
    assert_eq!(z.app.verify().await["ok"], true);
}

/// One token request of the kill -9 test and what came back.
struct Sent {
    request_id: String,
    connection: &'static str,
    actor: String,
    answer: Option<(u16, Value)>,
}

#[tokio::test]
async fn every_token_answered_before_a_kill_9_has_its_event_after_restart() {
    const REQUESTS: usize = 200;
    const KILL_AFTER: usize = 50;
    let conns = ["acme", "globex", "initech"];
    let z = vault_with(&conns, &[]).await;
    let (two_id, two) = z.app.create_service_token("two", &conns[..2]).await;
    let (all_id, all) = z.app.create_service_token("all", &["*"]).await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..REQUESTS {
        let connection = conns[i % 3];
        let (id, token) = if connection != "initech" && i % 2 == 0 {
            (&two_id, &two)
        } else {
            (&all_id, &all)
        };
        // Every fifth request needs a refresh (once per connection).
        let demand = if i % 5 == 0 { stale() } else { json!({}) };
        let req = z
            .app
            .server
            .http
            .post(
                z.app
                    .server
                    .url(&format!("/v1/connections/{connection}/token")),
            )
            .bearer_auth(token)
            .header("x-request-id", format!("kill9-{i}"))
            .json(&demand);
        let mut sent = Sent {
            request_id: format!("kill9-{i}"),
            connection,
            actor: format!("service:{id}"),
            answer: None,
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            // Spread over ~0.8 s so that requests are still arriving and in
            // flight when the server dies.
            tokio::time::sleep(Duration::from_millis(4 * i as u64)).await;
            if let Ok(resp) = req.send().await {
                let status = resp.status().as_u16();
                if let Ok(body) = resp.json::<Value>().await {
                    sent.answer = Some((status, body));
                }
            }
            let _ = tx.send(sent);
        });
    }
    drop(tx);
    let mut done = Vec::new();
    while done.iter().filter(|s: &&Sent| s.answer.is_some()).count() < KILL_AFTER {
        done.push(rx.recv().await.expect("a request outcome"));
    }
    let z = z.crashed_and_restarted();
    while let Some(sent) = rx.recv().await {
        done.push(sent);
    }
    assert_eq!(done.len(), REQUESTS);

    // A loaded machine may refuse some requests (e.g. 503 when the audit
    // write misses its deadline); a refusal hands no token out. Every 200
    // must have its event.
    let mut by_token: BTreeMap<String, Vec<&Sent>> = BTreeMap::new();
    for (status, body, sent) in done
        .iter()
        .filter_map(|s| s.answer.as_ref().map(|(st, b)| (*st, b, s)))
    {
        if status == 200 {
            let token = access_token(body).to_string();
            by_token.entry(token).or_default().push(sent);
        } else {
            assert!(body.get("access_token").is_none(), "{status}: {body}");
        }
    }
    let answered = done.iter().filter(|s| s.answer.is_some()).count();
    assert!(
        answered < REQUESTS,
        "all {answered} answered: the kill must land while requests are in flight"
    );
    assert!(
        !by_token.is_empty(),
        "no request got a token before the kill"
    );
    for (token, sents) in &by_token {
        let fp = z.app.fingerprint(token).await;
        let events = z.app.all_events(&format!("fingerprint={fp}")).await;
        let recorded: BTreeSet<(String, String, String)> = events
            .iter()
            .map(|e| {
                let field = |v: &Value| v.as_str().unwrap_or_default().to_string();
                (
                    field(&e["request_id"]),
                    field(&e["actor"]),
                    field(&e["connection"]),
                )
            })
            .collect();
        for sent in sents {
            let key = (
                sent.request_id.clone(),
                sent.actor.clone(),
                sent.connection.to_string(),
            );
            assert!(recorded.contains(&key), "no token_issued event for {key:?}");
        }
    }
    let report = z.app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
}

/// Events that record a done action (refusals are recorded too).
fn successes(events: &[serde_json::Value]) -> usize {
    events.iter().filter(|e| e["outcome"] == "success").count()
}
