//! Token issue and the admin actions around it, as the trail records them,
//! against the fake Zoho: `token_issued` with the token's fingerprint,
//! refreshes, re-authorisation, denials, connection and service-token
//! events.

use serde_json::{json, Value};

use super::{access_token, stale, vault_with};
use crate::helpers::{error_code, TestApp, ZohoApp};

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect()
}

/// The one event of `action` (asserted to be exactly one).
async fn only(app: &TestApp, action: &str) -> Value {
    let events = app.all_events(&format!("action={action}")).await;
    assert_eq!(events.len(), 1, "{action}: {events:#?}");
    events[0].clone()
}

/// The events of `action`, each asserted to be a success by the first admin.
async fn by_admin(app: &TestApp, action: &str) -> Vec<Value> {
    let events = app.all_events(&format!("action={action}")).await;
    for e in &events {
        assert!(e["actor"].as_str().is_some_and(|a| a.starts_with("admin:")));
        assert_eq!(e["details"]["actor_name"], "initial admin");
        assert_eq!(e["outcome"], "success");
    }
    events
}

#[tokio::test]
async fn every_issued_token_has_a_token_issued_event_found_by_its_fingerprint() {
    let z = vault_with(&["acme"], &[]).await;
    let (svc_id, svc) = z.app.create_service_token("billing", &["acme"]).await;
    let mut answers = Vec::new();
    for demand in [json!({}), json!({}), stale(), json!({})] {
        let (status, answer) = z.issue("acme", &svc, demand).await;
        assert_eq!(status, 200, "{answer}");
        answers.push(answer);
    }
    let cached = access_token(&answers[0]);
    let refreshed = access_token(&answers[2]);
    assert_ne!(cached, refreshed);
    assert_eq!(access_token(&answers[1]), cached);
    assert_eq!(access_token(&answers[3]), refreshed);

    let events = z.app.all_events("action=token_issued").await;
    assert_eq!(events.len(), answers.len(), "{events:#?}");
    let sources = ["cached", "cached", "refreshed", "cached"];
    for ((event, answer), source) in events.iter().zip(&answers).zip(sources) {
        assert_eq!(event["actor"], format!("service:{svc_id}"));
        assert_eq!(event["details"]["actor_name"], "billing");
        assert_eq!(event["connection"], "acme");
        assert_eq!(event["outcome"], "success");
        assert_eq!(event["details"]["source"], source);
        assert_eq!(event["details"]["expires_at"], answer["expires_at"]);
        let fp = z.app.fingerprint(access_token(answer)).await;
        assert_eq!(event["details"]["fingerprint"], fp.as_str());
    }

    // Filtering by a token's fingerprint finds exactly the events that
    // issued it.
    for (token, issued) in [(cached, &events[..2]), (refreshed, &events[2..])] {
        let fp = z.app.fingerprint(token).await;
        let found = z.app.all_events(&format!("fingerprint={fp}")).await;
        assert_eq!(seqs(&found), seqs(issued), "{found:#?}");
    }
    assert_eq!(z.app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_refresh_is_recorded_as_connection_refreshed_before_its_token_issued() {
    let z = vault_with(&["acme"], &[]).await;
    let (svc_id, svc) = z.app.create_service_token("billing", &["acme"]).await;
    let (status, answer) = z.issue("acme", &svc, stale()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(z.fake.counters().refreshes, 1);

    let refreshed = only(&z.app, "connection_refreshed").await;
    assert_eq!(refreshed["actor"], format!("service:{svc_id}"));
    assert_eq!(refreshed["connection"], "acme");
    assert_eq!(refreshed["details"]["expires_at"], answer["expires_at"]);
    assert_eq!(refreshed["details"]["refresh_token_rotated"], false);
    let issued = only(&z.app, "token_issued").await;
    assert_eq!(issued["details"]["source"], "refreshed");
    assert!(refreshed["seq"].as_u64() < issued["seq"].as_u64());
    assert_eq!(refreshed["request_id"], issued["request_id"]);
}

#[tokio::test]
async fn connection_and_service_token_admin_actions_are_recorded() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    z.import("globex").await;
    let (svc_id, _) = z
        .app
        .create_service_token("billing", &["acme", "globex"])
        .await;
    let body = json!({"name": "nightly", "connections": ["acme"], "ttl_secs": 3600});
    let (status, timed) = z.app.admin_post("/v1/service-tokens", body).await;
    assert_eq!(status, 201, "{timed}");
    let path = format!("/v1/service-tokens/{svc_id}");
    assert_eq!(z.app.admin_delete(&path).await.0, 200);
    assert_eq!(z.app.admin_delete("/v1/connections/acme").await.0, 200);
    let path = "/v1/connections/globex?revoke=false";
    assert_eq!(z.app.admin_delete(path).await.0, 200);

    let created = by_admin(&z.app, "connection_created").await;
    let methods: Vec<_> = created
        .iter()
        .map(|e| (e["connection"].clone(), e["details"]["method"].clone()))
        .collect();
    assert_eq!(
        methods,
        vec![
            (json!("acme"), json!("exchange")),
            (json!("globex"), json!("import"))
        ]
    );
    assert!(created
        .iter()
        .all(|e| e["details"]["data_center"].is_string()));

    let tokens = by_admin(&z.app, "service_token_created").await;
    assert_eq!(tokens.len(), 2, "{tokens:#?}");
    assert_eq!(tokens[0]["details"]["token_id"], svc_id.as_str());
    assert_eq!(tokens[0]["details"]["token_name"], "billing");
    assert_eq!(tokens[0]["details"]["connections"], "acme,globex");
    assert!(tokens[0]["details"].get("expires_at").is_none());
    assert_eq!(tokens[1]["details"]["token_id"], timed["id"]);
    assert!(tokens[1]["details"]["expires_at"].is_string());

    let revoked = by_admin(&z.app, "service_token_revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:#?}");
    assert_eq!(revoked[0]["details"]["token_id"], svc_id.as_str());

    let deleted = by_admin(&z.app, "connection_deleted").await;
    let upstream: Vec<_> = deleted
        .iter()
        .map(|e| {
            (
                e["connection"].clone(),
                e["details"]["revoked_upstream"].clone(),
            )
        })
        .collect();
    assert_eq!(
        upstream,
        vec![
            (json!("acme"), json!(true)),
            (json!("globex"), json!(false))
        ]
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_yields_one_needs_reauth_event_not_one_per_call() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    let rt = z.import("acme").await;
    assert!(z.fake.revoke(&rt));
    let admin = z.app.admin.clone();
    // Concurrent callers discover it together, later ones find it known.
    let calls = (0..5).map(|_| z.issue("acme", &admin, stale()));
    for (status, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 409, "{body}");
    }
    for demand in [stale(), json!({}), json!({})] {
        assert_eq!(z.issue("acme", &admin, demand).await.0, 409);
    }

    let event = only(&z.app, "connection_needs_reauth").await;
    assert_eq!(event["connection"], "acme");
    assert_eq!(event["outcome"], "failure");
    assert_eq!(event["details"]["error"], "invalid_code");
    assert!(event["actor"]
        .as_str()
        .is_some_and(|a| a.starts_with("admin:")));
    assert!(z.app.events("action=token_issued").await.is_empty());
}

#[tokio::test]
async fn a_connection_not_granted_to_the_service_token_is_an_access_denied_event() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    z.connect("globex").await;
    let (svc_id, svc) = z.app.create_service_token("billing", &["acme"]).await;
    let (status, body) = z.issue("globex", &svc, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    let (status, _) = z.app.server.get("/v1/connections", Some(&svc)).await;
    assert_eq!(status, 403);

    let denied = z.app.all_events("action=access_denied").await;
    let routes: Vec<_> = denied
        .iter()
        .map(|e| e["details"]["route"].clone())
        .collect();
    assert_eq!(
        routes,
        vec![
            json!("/v1/connections/globex/token"),
            json!("/v1/connections")
        ]
    );
    for event in &denied {
        assert_eq!(event["actor"], format!("service:{svc_id}"));
        assert_eq!(event["details"]["actor_name"], "billing");
        assert_eq!(event["details"]["status"], 403);
        assert_eq!(event["details"]["reason"], "forbidden");
        assert_eq!(event["outcome"], "denied");
    }
    assert!(z.app.events("action=token_issued").await.is_empty());
}
