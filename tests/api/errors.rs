//! The one JSON error shape, for the vault's own errors and actix's.

use serde_json::json;

use crate::helpers::{answer, error_code, TestApp};

#[tokio::test]
async fn unknown_routes_answer_404_in_the_error_shape() {
    let app = TestApp::spawn();
    let (status, body) = app.server.get("/v1/nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "not_found");
}

#[tokio::test]
async fn a_wrong_method_answers_405_in_the_error_shape() {
    let app = TestApp::spawn();
    let (status, body) = app.server.get("/v1/sys/unseal", None).await;
    assert_eq!(status, 405);
    assert_eq!(error_code(&body), "method_not_allowed");
}

#[tokio::test]
async fn malformed_json_answers_400() {
    let app = TestApp::spawn();
    let req = app
        .server
        .http
        .post(app.server.url("/v1/sys/unseal"))
        .header("content-type", "application/json")
        .body("{\"passphrase\": ");
    let (status, body) = answer(req).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "invalid_body");
}

#[tokio::test]
async fn unknown_fields_are_rejected_by_name() {
    let app = TestApp::spawn();
    let (status, body) = app
        .server
        .post(
            "/v1/sys/unseal",
            None,
            json!({"passphrase": "x", "passfrase": "y"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "invalid_body");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("passfrase"));
}

#[tokio::test]
async fn wrong_value_types_do_not_echo_the_input() {
    let app = TestApp::spawn();
    let (status, body) = app
        .server
        .post(
            "/v1/sys/unseal",
            None,
            json!({"passphrase": ["hunter2-secret"]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(!body.to_string().contains("hunter2-secret"));
}

#[tokio::test]
async fn oversized_bodies_answer_413() {
    let app = TestApp::spawn();
    let big = "x".repeat(70 * 1024);
    let (status, body) = app
        .server
        .post("/v1/sys/unseal", None, json!({ "passphrase": big }))
        .await;
    assert_eq!(status, 413);
    assert_eq!(error_code(&body), "payload_too_large");
}

#[tokio::test]
async fn a_non_json_content_type_answers_415() {
    let app = TestApp::spawn();
    let req = app
        .server
        .http
        .post(app.server.url("/v1/sys/unseal"))
        .header("content-type", "text/plain")
        .body("passphrase");
    let (status, body) = answer(req).await;
    assert_eq!(status, 415);
    assert_eq!(error_code(&body), "unsupported_media_type");
}

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_answer_401() {
    let app = TestApp::spawn();
    let (status, body) = app.server.post("/v1/sys/seal", None, json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "missing_token");
    let (status, body) = app
        .server
        .post("/v1/sys/seal", Some("nonsense"), json!({}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "invalid_token");
    let unknown = format!("zva_{}", "A".repeat(43));
    let (status, body) = app
        .server
        .post("/v1/sys/seal", Some(&unknown), json!({}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "invalid_token");
    assert_eq!(app.server.health().await["sealed"], false);
}
