//! Uploading, listing and deleting connections against the fake Zoho.

use serde_json::{json, Value};

use crate::helpers::{answer, error_code, ZohoApp};

#[tokio::test]
async fn an_upload_exchanges_the_code_at_once_and_answers_metadata_only() {
    let z = ZohoApp::spawn();
    let body = z.upload_body();
    let secret = body["client_secret"].as_str().expect("secret").to_string();
    let (status, view) = z.put_connection("acme", &body).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["name"], "acme");
    assert_eq!(view["health"]["state"], "active");
    assert_eq!(view["scopes"][0], "ZohoInvoice.contacts.CREATE");
    assert!(view["token"]["expires_at"].is_string());
    assert_eq!(view["budget"]["used"], 1);
    assert!(!view.to_string().contains(&secret));
    assert_eq!(z.fake.counters().code_exchanges, 1);
}

#[tokio::test]
async fn an_expired_code_is_refused_before_any_request_to_zoho() {
    let z = ZohoApp::spawn();
    let mut body = z.upload_body();
    body["expiry_time"] = json!(1_000_000_000_000i64);
    let (status, err) = z.put_connection("acme", &body).await;
    assert_eq!(status, 422);
    assert_eq!(error_code(&err), "code_expired");
    assert!(err["error"]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("Generate Code"));
    assert_eq!(z.fake.counters().token_requests, 0);
}

#[tokio::test]
async fn a_used_code_is_refused_with_a_hint_and_nothing_is_stored() {
    let z = ZohoApp::spawn();
    let body = z.upload_body();
    let (status, _) = z.put_connection("first", &body).await;
    assert_eq!(status, 201);
    let (status, err) = z.put_connection("second", &body).await;
    assert_eq!(status, 422);
    assert_eq!(error_code(&err), "code_invalid");
    assert!(err["error"]["hint"].is_string());
    let (status, _) = z
        .app
        .server
        .get("/v1/connections/second", Some(&z.app.admin))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused() {
    let z = ZohoApp::spawn();
    let mut body = z.upload_body();
    body["client_secret"] = json!("0123456789abcdef0123456789abcdef01234567ff");
    let (status, err) = z.put_connection("acme", &body).await;
    assert_eq!(status, 422);
    assert_eq!(error_code(&err), "invalid_client_secret");
}

#[tokio::test]
async fn a_wrong_data_center_is_reported_as_invalid_client() {
    let z = ZohoApp::spawn();
    // Another accounts server (another "data center") does not know the client.
    let other_dc = zoho_vault::fake_zoho::FakeZoho::start(Default::default()).expect("fake");
    let mut body = z.upload_body();
    body["accounts_url"] = json!(other_dc.base_url());
    let (status, err) = z.put_connection("acme", &body).await;
    assert_eq!(status, 422);
    assert_eq!(error_code(&err), "invalid_client");
    assert!(err["error"]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("data_center"));
    assert_eq!(
        err["error"]["fix"],
        json!({"code": "check_data_center", "connection": "acme"})
    );
}

#[tokio::test]
async fn a_custom_accounts_url_needs_the_setting() {
    let z = ZohoApp::spawn_with(&[("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "false")]);
    let (status, err) = z.put_connection("acme", &z.upload_body()).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&err), "custom_accounts_url_disabled");
    assert_eq!(z.fake.counters().token_requests, 0);
}

#[tokio::test]
async fn an_unknown_data_center_is_refused_with_the_valid_codes() {
    let z = ZohoApp::spawn();
    let mut body = z.upload_body();
    body.as_object_mut().expect("object").remove("accounts_url");
    body["data_center"] = json!("mars");
    let (status, err) = z.put_connection("acme", &body).await;
    assert_eq!(status, 400);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("com.au"));
}

#[tokio::test]
async fn a_refresh_token_can_be_imported() {
    let z = ZohoApp::spawn();
    let rt = z
        .fake
        .mint_refresh_token(&z.client, &crate::helpers::SCOPES)
        .expect("rt");
    let body = json!({
        "client_id": z.client.client_id,
        "client_secret": z.client.client_secret,
        "refresh_token": rt,
        "scope": "ZohoInvoice.contacts.CREATE,ZohoInvoice.invoices.CREATE",
        "accounts_url": z.fake.base_url(),
    });
    let (status, view) = z.put_connection("imported", &body).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["source"], "refresh_token");
    assert!(!view.to_string().contains(&rt));
}

#[tokio::test]
async fn uploading_an_existing_name_is_a_conflict() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let (status, err) = z.put_connection("acme", &z.upload_body()).await;
    assert_eq!(status, 409);
    assert_eq!(error_code(&err), "connection_exists");
    assert_eq!(
        err["error"]["fix"],
        json!({"code": "delete_first", "connection": "acme"})
    );
    assert!(err["error"]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("DELETE /v1/connections/acme"));
}

#[tokio::test]
async fn bad_names_and_unknown_fields_are_refused_without_calling_zoho() {
    let z = ZohoApp::spawn();
    let (status, _) = z.put_connection("bad%20name", &z.upload_body()).await;
    assert_eq!(status, 400);
    let mut body = z.upload_body();
    body["colour"] = json!("red");
    let (status, err) = z.put_connection("acme", &body).await;
    assert_eq!(status, 400);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("colour"));
    assert_eq!(z.fake.counters().token_requests, 0);
}

#[tokio::test]
async fn list_and_show_answer_metadata_and_never_secrets() {
    let z = ZohoApp::spawn();
    let body = z.upload_body();
    z.put_connection("acme", &body).await;
    let (status, list) = z
        .app
        .server
        .get("/v1/connections", Some(&z.app.admin))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["connections"].as_array().map(Vec::len), Some(1));
    let (status, one) = z
        .app
        .server
        .get("/v1/connections/acme", Some(&z.app.admin))
        .await;
    assert_eq!(status, 200);
    for text in [list.to_string(), one.to_string()] {
        assert!(!text.contains(body["client_secret"].as_str().expect("s")));
        assert!(!text.contains("refresh_token\":\"1000."));
        assert!(!text.contains("access_token"));
    }
}

#[tokio::test]
async fn delete_revokes_the_refresh_token_at_zoho_then_forgets_it() {
    let z = ZohoApp::spawn();
    let rt = z.import("acme").await;
    let req = z
        .app
        .server
        .http
        .delete(z.app.server.url("/v1/connections/acme"))
        .bearer_auth(&z.app.admin);
    let (status, answer_body) = answer(req).await;
    assert_eq!(status, 200, "{answer_body}");
    assert_eq!(answer_body["revoked_upstream"], true);
    assert!(!z.fake.is_refresh_token_live(&rt));
    let (status, _) = z
        .app
        .server
        .get("/v1/connections/acme", Some(&z.app.admin))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn delete_with_revoke_false_leaves_zoho_alone() {
    let z = ZohoApp::spawn();
    let rt = z.import("acme").await;
    let req = z
        .app
        .server
        .http
        .delete(z.app.server.url("/v1/connections/acme?revoke=false"))
        .bearer_auth(&z.app.admin);
    let (status, body): (u16, Value) = answer(req).await;
    assert_eq!(status, 200);
    assert_eq!(body["revoked_upstream"], false);
    assert!(z.fake.is_refresh_token_live(&rt));
}
