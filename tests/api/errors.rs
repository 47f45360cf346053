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
    assert_eq!(body["error"]["fix"], json!({"code": "send_bearer_token"}));
    assert!(body["error"]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("Authorization: Bearer"));
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
    assert_eq!(body["error"]["fix"], json!({"code": "send_bearer_token"}));
    assert_eq!(app.server.health().await["sealed"], false);
}

/// Errors never quote the request: a token pasted into a URL by mistake
/// must not come back in any error body (unknown route, wrong method,
/// refused or unknown path parameter, malformed path).
#[tokio::test]
async fn error_bodies_never_quote_a_token_pasted_into_the_path() {
    use reqwest::Method;

    use crate::support::{call_raw, raw};

    let app = TestApp::spawn();
    let service = format!("zvs_{}", "Q".repeat(43));
    let zoho_access = format!("1000.{}.{}", "3f".repeat(16), "c4".repeat(16));
    let mut quoted = Vec::new();
    for secret in [app.admin.clone(), service, zoho_access] {
        let tail = secret[secret.len() - 20..].to_string();
        let mut assert_unquoted = |what: &str, status: u16, body: &[u8]| {
            let text = String::from_utf8_lossy(body);
            assert!(status >= 400, "{what}: {status} {text}");
            if text.contains(&tail) {
                quoted.push(format!("{what} ({status}): {text}"));
            }
        };
        let cases = [
            (Method::GET, format!("/v1/{secret}")),
            (Method::GET, format!("/{secret}")),
            (Method::GET, format!("/v1/connections/{secret}/nope")),
            (Method::PATCH, format!("/v1/connections/{secret}")),
            (Method::GET, format!("/v1/connections/{secret}/token")),
            (Method::GET, format!("/v1/connections/{secret}")),
            (Method::DELETE, format!("/v1/connections/{secret}")),
            (Method::POST, format!("/v1/connections/{secret}/token")),
            (Method::DELETE, format!("/v1/service-tokens/{secret}")),
            (Method::GET, format!("/v1/connections/{secret}%ZZ")),
            (Method::GET, format!("/v1/connections/{secret}%00x")),
            (Method::POST, format!("/v1/connections/{secret}%2Fx/token")),
        ];
        for (method, path) in cases {
            let what = format!("{method} {path}");
            let (status, _, body) = call_raw(
                &app.server,
                method,
                &path,
                Some(&app.admin),
                None,
                Vec::new(),
            )
            .await;
            assert_unquoted(&what, status, &body);
        }
        for path in [
            format!("/v1/{secret}/%FF%FE"),
            format!("/v1/connections/{secret}%"),
            format!("/v1/connections/{secret}/token/../.."),
        ] {
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                app.admin
            );
            let (status, _, body) = raw(&app.server, request.as_bytes());
            assert_unquoted(&format!("raw GET {path}"), status, &body);
        }
    }
    assert!(
        quoted.is_empty(),
        "error bodies quote the path:\n{}",
        quoted.join("\n")
    );
}
