//! Every refused admin action leaves one event naming the connection and
//! the error code; the trail of a fresh vault starts with
//! `vault_initialized`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::{json, Value};

use crate::helpers::{answer, error_code, TestApp, VaultDir, ZohoApp, PASSPHRASE};

/// The failed `action` events so far, oldest first.
async fn refusals(app: &TestApp, action: &str) -> Vec<Value> {
    app.all_events(&format!("action={action}"))
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "failure")
        .collect()
}

/// Runs `attempt`, which must be refused with `code`, and checks that it
/// left exactly one failed `action` event naming `connection` and `code`.
async fn refused_once<F: std::future::Future<Output = (u16, Value)>>(
    app: &TestApp,
    action: &str,
    connection: Option<&str>,
    code: &str,
    attempt: F,
) {
    let before = refusals(app, action).await.len();
    let (status, body) = attempt.await;
    assert!(status >= 400, "{status} {body}");
    assert_eq!(error_code(&body), code, "{body}");
    let after = refusals(app, action).await;
    assert_eq!(after.len(), before + 1, "{code}: {after:#?}");
    let event = after.last().expect("event");
    assert_eq!(event["details"]["error"], code, "{event}");
    assert_eq!(event["details"]["status"], status, "{event}");
    assert_eq!(
        event["actor"].as_str().map(|a| a.starts_with("admin:")),
        Some(true)
    );
    match connection {
        Some(name) => assert_eq!(event["connection"], name, "{event}"),
        None => assert!(event.get("connection").is_none(), "{event}"),
    }
}

#[tokio::test]
async fn each_refused_connection_upload_leaves_one_event_with_the_name_and_the_code() {
    let z = ZohoApp::spawn();
    let app = &z.app;
    let mut expired = z.upload_body();
    expired["expiry_time"] = json!(1_000_000_000_000i64);
    refused_once(
        app,
        "connection_created",
        Some("expired"),
        "code_expired",
        z.put_connection("expired", &expired),
    )
    .await;

    let used = z.upload_body();
    let (status, body) = z.put_connection("first", &used).await;
    assert_eq!(status, 201, "{body}");
    refused_once(
        app,
        "connection_created",
        Some("second"),
        "code_invalid",
        z.put_connection("second", &used),
    )
    .await;

    refused_once(
        app,
        "connection_created",
        Some("first"),
        "connection_exists",
        z.put_connection("first", &z.upload_body()),
    )
    .await;

    let other_dc = zoho_vault::fake_zoho::FakeZoho::start(Default::default()).expect("fake");
    let mut wrong_dc = z.upload_body();
    wrong_dc["accounts_url"] = json!(other_dc.base_url());
    refused_once(
        app,
        "connection_created",
        Some("wrongdc"),
        "invalid_client",
        z.put_connection("wrongdc", &wrong_dc),
    )
    .await;

    let mut unreachable = z.upload_body();
    unreachable["accounts_url"] = json!("http://127.0.0.1:1");
    refused_once(
        app,
        "connection_created",
        Some("down"),
        "upstream_unavailable",
        z.put_connection("down", &unreachable),
    )
    .await;

    let mut no_dns = z.upload_body();
    no_dns["accounts_url"] = json!("http://accounts.zoho-vault-test.invalid");
    refused_once(
        app,
        "connection_created",
        Some("nodns"),
        "upstream_unavailable",
        z.put_connection("nodns", &no_dns),
    )
    .await;

    let mut no_code = z.upload_body();
    no_code.as_object_mut().expect("object").remove("code");
    refused_once(
        app,
        "connection_created",
        Some("nocode"),
        "invalid_request",
        z.put_connection("nocode", &no_code),
    )
    .await;

    let bad_json = app
        .server
        .http
        .put(app.server.url("/v1/connections/badjson"))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body("{\"client_id\": ");
    refused_once(
        app,
        "connection_created",
        Some("badjson"),
        "invalid_body",
        answer(bad_json),
    )
    .await;

    // A name that is not a name is refused too, without a connection.
    refused_once(
        app,
        "connection_created",
        None,
        "invalid_name",
        z.put_connection("bad!name", &z.upload_body()),
    )
    .await;
    // Nothing refused was created.
    let (_, list) = app.admin_get("/v1/connections").await;
    assert_eq!(
        list["connections"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
}

#[tokio::test]
async fn refused_deletes_and_token_creations_leave_one_event_each() {
    let app = TestApp::spawn();
    refused_once(
        &app,
        "connection_deleted",
        Some("ghost"),
        "not_found",
        app.admin_delete("/v1/connections/ghost"),
    )
    .await;
    let body = json!({"name": "backend", "connections": []});
    refused_once(
        &app,
        "service_token_created",
        None,
        "invalid_request",
        app.admin_post("/v1/service-tokens", body),
    )
    .await;
    let me = app.all_events("action=admin_token_created").await;
    assert!(me.is_empty());
}

#[tokio::test]
async fn a_refusal_whose_event_cannot_be_written_is_still_a_refusal() {
    let app = TestApp::spawn_with(&[("ZOHO_VAULT_AUDIT__FAULT_INJECTION", "true")]);
    let (status, _) = app
        .admin_post("/v1/sys/audit-faults", json!({"fail_next": 1}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.admin_delete("/v1/connections/ghost").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_code(&body), "not_found");
    app.server
        .wait_for_log("an admin action was refused and its audit event could not be written");
}

#[tokio::test]
async fn a_vault_made_by_init_starts_its_trail_with_vault_initialized() {
    let app = TestApp::spawn();
    let first = &app.all_events("").await[0];
    assert_eq!(first["seq"], 1, "{first}");
    assert_eq!(first["action"], "vault_initialized", "{first}");
    assert_eq!(first["actor"], "operator", "{first}");
}

#[tokio::test]
async fn a_vault_made_by_serve_init_starts_its_trail_with_vault_initialized() {
    let dir = VaultDir::new();
    let mut child = dir
        .command()
        .args(["serve", "--init"])
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve --init");
    let mut admin = None;
    let mut base = None;
    for line in BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
    {
        if let Some(t) = line.strip_prefix("admin token: ") {
            admin = Some(t.trim().to_string());
        }
        if let Some(addr) = line.strip_prefix("zoho-vault listening on ") {
            base = Some(addr.trim().to_string());
            break;
        }
    }
    let (admin, base) = (admin.expect("admin token"), base.expect("address"));
    let req = reqwest::Client::new()
        .get(format!("{base}/v1/audit?order=asc&limit=1"))
        .bearer_auth(&admin);
    let (status, body) = answer(req).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"][0]["seq"], 1, "{body}");
    assert_eq!(body["events"][0]["action"], "vault_initialized", "{body}");
}

#[tokio::test]
async fn a_refused_import_leaves_one_event_with_the_name_and_the_code() {
    let z = ZohoApp::spawn();
    let body = json!({
        "client_id": z.client.client_id,
        "client_secret": z.client.client_secret,
        "refresh_token": format!("1000.{}", "0".repeat(64)),
        "accounts_url": z.fake.base_url(),
    });
    refused_once(
        &z.app,
        "connection_created",
        Some("imported"),
        "refresh_token_invalid",
        z.put_connection("imported", &body),
    )
    .await;
}
