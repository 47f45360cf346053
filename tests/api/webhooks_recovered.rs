//! Re-uploading a connection that needs re-authorisation: the new
//! credentials replace the dead ones in place (200), the connection keeps
//! its name and grants, and receivers hear `connection.recovered`, never a
//! delete and a create. A live connection is never overwritten, and an
//! upload Zoho refuses leaves the dead record as it was.

use serde_json::{json, Value};

use crate::helpers::{error_code, ZohoApp};
use crate::webhooks::receiver::Receiver;
use crate::webhooks::{subscribe, ENV};

/// A vault with an active connection `acme` (imported), a service token
/// granted on it, and a receiver subscribed to everything.
async fn connected() -> (ZohoApp, Receiver, String, String) {
    let receiver = Receiver::start(&[]);
    let z = ZohoApp::spawn_with(&ENV);
    z.set_access_token_ttl(3000);
    subscribe(&z.app, &receiver.url, json!(["*"])).await;
    let rt = z.import("acme").await;
    let service = z.service_token(&["acme"]).await;
    receiver.wait_for_type("connection.created").await;
    (z, receiver, rt, service)
}

/// Revokes the refresh token at Zoho and lets a forced refresh find out.
async fn kill(z: &ZohoApp, rt: &str, receiver: &Receiver) {
    assert!(z.fake.revoke(rt));
    let (status, err) = z
        .issue("acme", &z.app.admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(error_code(&err), "needs_reauth");
    receiver.wait_for_type("connection.needs_reauth").await;
}

async fn shown(z: &ZohoApp) -> Value {
    let (status, view) = z.app.admin_get("/v1/connections/acme").await;
    assert_eq!(status, 200, "{view}");
    view
}

#[tokio::test]
async fn uploading_over_a_needs_reauth_connection_replaces_it_in_place_and_sends_recovered() {
    let (z, receiver, rt, service) = connected().await;
    let before = shown(&z).await;
    kill(&z, &rt, &receiver).await;

    let (status, view) = z.put_connection("acme", &z.upload_body()).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["health"]["state"], "active", "{view}");
    assert_eq!(view["created_at"], before["created_at"], "history kept");

    // Tokens flow again, to the service token granted before the replace,
    // and a forced refresh works with the new refresh token.
    let (status, issued) = z.issue("acme", &service, json!({})).await;
    assert_eq!(status, 200, "{issued}");
    let (status, issued) = z
        .issue("acme", &service, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 200, "{issued}");

    let got = receiver.wait_for_type("connection.recovered").await;
    let body = got.json();
    assert_eq!(body["data"]["connection"], "acme");
    assert_eq!(body["data"]["state"], "active");
    assert_eq!(body["data"]["previous_state"], "needs_reauth");
    let kinds: Vec<String> = receiver
        .got()
        .iter()
        .map(|g| g.json()["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        !kinds.iter().any(|k| k == "connection.deleted"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "connection.created").count(),
        1,
        "{kinds:?}"
    );

    // Audited like the create, marked as a replace.
    let created = z.app.events("action=connection_created").await;
    assert_eq!(created.len(), 2, "{created:#?}");
    assert!(
        created
            .iter()
            .any(|e| e["details"]["replaced"] == "needs_reauth"),
        "{created:#?}"
    );
}

#[tokio::test]
async fn uploading_over_an_active_connection_is_a_conflict_that_changes_nothing() {
    let (z, receiver, _rt, service) = connected().await;
    let (status, first) = z.issue("acme", &service, json!({})).await;
    assert_eq!(status, 200, "{first}");
    let before = shown(&z).await;

    let (status, err) = z.put_connection("acme", &z.upload_body()).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(error_code(&err), "connection_exists");

    assert_eq!(shown(&z).await, before);
    let (status, again) = z.issue("acme", &service, json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["access_token"], first["access_token"]);
    let kinds: Vec<Value> = receiver
        .got()
        .iter()
        .map(|g| g.json()["type"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("connection.created")]);
}

#[tokio::test]
async fn an_upload_zoho_refuses_leaves_the_needs_reauth_record_untouched() {
    let (z, receiver, rt, service) = connected().await;
    kill(&z, &rt, &receiver).await;
    let before = shown(&z).await;

    let mut body = z.upload_body();
    body["code"] = json!("1000.not-a-code-zoho-issued");
    let (status, err) = z.put_connection("acme", &body).await;
    assert_eq!(status, 422, "{err}");

    assert_eq!(shown(&z).await, before);
    let (status, err) = z.issue("acme", &service, json!({})).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(error_code(&err), "needs_reauth");
    // The refused upload wrote no event; a good one afterwards still can.
    let (status, view) = z.put_connection("acme", &z.upload_body()).await;
    assert_eq!(status, 200, "{view}");
    receiver.wait_for_type("connection.recovered").await;
    assert!(!receiver
        .got()
        .iter()
        .any(|g| g.json()["type"] == "connection.deleted"),);
}

#[tokio::test]
async fn a_replacement_that_names_no_data_center_keeps_the_dead_connections_accounts_server() {
    // self_client.json carries no data center: re-uploading the file alone,
    // as the needs_reauth fix says, must reach the server the client is on.
    let (z, receiver, rt, service) = connected().await;
    kill(&z, &rt, &receiver).await;
    let before = shown(&z).await;

    let mut body = z.upload_body();
    body.as_object_mut().expect("object").remove("accounts_url");
    let (status, view) = z.put_connection("acme", &body).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["health"]["state"], "active", "{view}");
    assert_eq!(view["accounts_url"], before["accounts_url"], "{view}");
    let (status, issued) = z.issue("acme", &service, json!({})).await;
    assert_eq!(status, 200, "{issued}");
}
