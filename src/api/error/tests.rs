use super::payload::redact_quoted;
use super::*;
use crate::audit::AuditError;
use crate::auth::AuthError;
use crate::connections::{ConnectionError, ZohoOp};
use crate::store::StoreError;
use crate::vault::VaultError;
use crate::zoho::ZohoError;
use actix_web::body::to_bytes;
use serde_json::json;

async fn body_of(e: ApiError) -> (u16, serde_json::Value) {
    let resp = e.error_response();
    let status = resp.status().as_u16();
    let bytes = to_bytes(resp.into_body()).await.expect("body");
    (status, serde_json::from_slice(&bytes).expect("json"))
}

#[actix_web::test]
async fn status_mapping_is_pinned() {
    let cases: Vec<(ApiError, u16, &str)> = vec![
        (VaultError::Sealed.into(), 503, "sealed"),
        (VaultError::WrongPassphrase.into(), 401, "wrong_passphrase"),
        (VaultError::NotInitialized.into(), 409, "not_initialized"),
        (AuthError::Missing.into(), 401, "missing_token"),
        (AuthError::Unknown.into(), 401, "invalid_token"),
        (AuthError::Expired.into(), 401, "token_expired"),
        (AuthError::Forbidden("no".into()).into(), 403, "forbidden"),
        (
            AuditError::Unavailable("disk on fire").into(),
            503,
            "audit_unavailable",
        ),
        (
            AuditError::InvalidQuery("bad".into()).into(),
            400,
            "invalid_query",
        ),
        (
            StoreError::Backend("disk on fire".into()).into(),
            500,
            "internal",
        ),
        (
            StoreError::Unreachable("connection refused".into()).into(),
            503,
            "store_unavailable",
        ),
        (
            ConnectionError::PendingAuthorization {
                name: "acme".into(),
            }
            .into(),
            409,
            "pending_authorization",
        ),
        (
            ConnectionError::NoRedirectUri("acme".into()).into(),
            409,
            "redirect_uri_missing",
        ),
    ];
    for (err, status, code) in cases {
        let (s, body) = body_of(err).await;
        assert_eq!(s, status);
        assert_eq!(body["error"]["code"], code);
        assert!(!body.to_string().contains("disk on fire"));
    }
}

#[test]
fn quoted_input_is_redacted_from_serde_messages() {
    let msg = "invalid type: string \"hunter2\", expected u64 at line 1 column 20";
    let red = redact_quoted(msg);
    assert!(!red.contains("hunter2"));
    assert!(red.contains("expected u64"));
    let unknown = "unknown field `bogus`, expected one of `a`, `b`";
    assert_eq!(redact_quoted(unknown), unknown);
}

#[actix_web::test]
async fn a_domain_fix_is_sent_as_data_and_as_a_route_with_the_real_name() {
    let err = ConnectionError::NeedsReauth {
        name: "acme".into(),
        reason: "the refresh token no longer works".into(),
        fix: Fix::Reauthorize {
            connection: "acme".into(),
        },
        code: "invalid_code".into(),
        fresh: false,
    };
    let (status, body) = body_of(err.into()).await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"]["fix"],
        json!({"code": "reauthorize", "connection": "acme"})
    );
    let hint = body["error"]["hint"].as_str().expect("hint");
    assert!(hint.contains("PUT /v1/connections/acme"), "{hint}");
    assert!(!hint.contains("{name}"), "{hint}");
}

#[actix_web::test]
async fn a_specific_hint_wins_over_the_fix_words_and_the_fix_is_still_sent() {
    let err = ConnectionError::Zoho {
        connection: "acme".into(),
        op: ZohoOp::Refresh,
        err: ZohoError::Timeout,
    };
    let (status, body) = body_of(err.into()).await;
    assert_eq!(status, 504);
    assert_eq!(body["error"]["fix"], json!({"code": "wait_and_retry"}));
    assert!(body["error"]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("did not answer in time"));
}

#[actix_web::test]
async fn an_error_without_a_fix_has_no_fix_field() {
    let (_, body) = body_of(ApiError::not_found("no such route")).await;
    assert!(body["error"].get("fix").is_none(), "{body}");
    assert!(body["error"].get("hint").is_none(), "{body}");
}
