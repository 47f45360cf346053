//! Unit tests of the (status, body) → result mapping.

use std::time::Duration;

use secrecy::ExposeSecret;
use time::macros::datetime;
use time::OffsetDateTime;

use super::{parse_revoke_response, parse_token_response};
use crate::zoho::ZohoError;

const SENT: OffsetDateTime = datetime!(2026-01-01 12:00:00 UTC);
const MARGIN: Duration = Duration::from_secs(60);
const THROTTLE: &str = r#"{"error_description":"You have made too many requests continuously. Please try again after some time.","error":"Access Denied","status":"failure"}"#;

fn token(status: u16, body: &str) -> Result<crate::zoho::Grant, ZohoError> {
    parse_token_response(status, body.as_bytes(), SENT, MARGIN)
}

fn err(status: u16, body: &str) -> ZohoError {
    token(status, body).expect_err("expected an error")
}

#[test]
fn full_success() {
    let grant = token(
        200,
        r#"{"access_token":"1000.aa.bb","refresh_token":"1000.cc.dd","scope":"ZohoInvoice.invoices.CREATE ZohoInvoice.contacts.READ","api_domain":"https://www.zohoapis.eu","token_type":"Bearer","expires_in":3600}"#,
    )
    .expect("success");
    assert_eq!(grant.access_token.expose_secret(), "1000.aa.bb");
    assert_eq!(
        grant
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_string()),
        Some("1000.cc.dd".to_string())
    );
    assert_eq!(
        grant.scope,
        Some(vec![
            "ZohoInvoice.invoices.CREATE".to_string(),
            "ZohoInvoice.contacts.READ".to_string()
        ])
    );
    assert_eq!(grant.api_domain.as_deref(), Some("https://www.zohoapis.eu"));
    assert_eq!(grant.token_type.as_deref(), Some("Bearer"));
    assert_eq!(grant.expires_in, Duration::from_secs(3600));
    assert_eq!(grant.expires_at, datetime!(2026-01-01 12:59:00 UTC));
}

#[test]
fn refresh_answer_without_scope_or_refresh_token() {
    let grant = token(
        200,
        r#"{"access_token":"1000.aa.bb","api_domain":"https://www.zohoapis.com","token_type":"Bearer","expires_in":3600}"#,
    )
    .expect("success");
    assert!(grant.refresh_token.is_none());
    assert!(grant.scope.is_none());
}

#[test]
fn comma_scopes_and_missing_expiry() {
    let grant = token(200, r#"{"access_token":"t","scope":"A.b.READ,A.b.CREATE"}"#).expect("ok");
    assert_eq!(
        grant.scope,
        Some(vec!["A.b.READ".into(), "A.b.CREATE".into()])
    );
    assert_eq!(grant.expires_in, Duration::from_secs(3600));
    assert_eq!(grant.expires_at, datetime!(2026-01-01 12:59:00 UTC));
}

#[test]
fn legacy_milliseconds() {
    let grant = token(
        200,
        r#"{"access_token":"t","expires_in":3600000,"expires_in_sec":3600}"#,
    )
    .expect("ok");
    assert_eq!(grant.expires_in, Duration::from_secs(3600));
    let grant = token(200, r#"{"access_token":"t","expires_in":3600000}"#).expect("ok");
    assert_eq!(grant.expires_in, Duration::from_secs(3600));
}

#[test]
fn success_is_access_token_whatever_the_status() {
    assert!(token(400, r#"{"access_token":"t","expires_in":3600}"#).is_ok());
}

#[test]
fn bad_success_fields_are_invalid_response() {
    assert!(matches!(
        err(200, r#"{"access_token":""}"#),
        ZohoError::InvalidResponse(_)
    ));
    assert!(matches!(
        err(200, r#"{"access_token":"t","expires_in":-5}"#),
        ZohoError::InvalidResponse(_)
    ));
}

#[test]
fn zoho_errors_with_http_200() {
    assert_eq!(
        err(200, r#"{"error":"invalid_code"}"#),
        ZohoError::InvalidCode
    );
    assert_eq!(
        err(200, r#"{"error":"invalid_client"}"#),
        ZohoError::InvalidClient
    );
    assert_eq!(
        err(200, r#"{"error":"invalid_client_secret"}"#),
        ZohoError::InvalidClientSecret
    );
    assert_eq!(
        err(200, r#"{"error":"invalid_redirect_uri"}"#),
        ZohoError::InvalidRedirectUri
    );
    assert_eq!(
        err(200, r#"{"error":"access_denied"}"#),
        ZohoError::AccessDenied
    );
    assert_eq!(
        err(200, r#"{"error":"invalid_scope"}"#),
        ZohoError::Rejected {
            error: "invalid_scope".into()
        }
    );
}

#[test]
fn oauth_standard_4xx() {
    assert_eq!(
        err(400, r#"{"error":"invalid_grant"}"#),
        ZohoError::InvalidCode
    );
    assert_eq!(
        err(
            400,
            r#"{"error":"invalid_grant","error_description":"expired"}"#
        ),
        ZohoError::InvalidCode
    );
    assert_eq!(
        err(401, r#"{"error":"invalid_client"}"#),
        ZohoError::InvalidClient
    );
}

#[test]
fn throttle_with_200_and_400() {
    for status in [200, 400] {
        match err(status, THROTTLE) {
            ZohoError::Throttled { description } => {
                assert!(description.contains("too many requests"), "{description}")
            }
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn localized_throttle() {
    let body = r#"{"error":"拒绝访问","status":"failure"}"#;
    assert_eq!(
        err(200, body),
        ZohoError::Throttled {
            description: "拒绝访问".into()
        }
    );
    // Only the description, no status.
    assert!(matches!(
        err(
            400,
            r#"{"error":"拒绝访问","error_description":"请稍后再试"}"#
        ),
        ZohoError::Throttled { .. }
    ));
    // English text alone still counts.
    assert!(matches!(
        err(200, r#"{"error":"Access Denied"}"#),
        ZohoError::Throttled { .. }
    ));
    assert!(matches!(err(429, "slow down"), ZohoError::Throttled { .. }));
}

#[test]
fn rejected_error_is_sanitised_and_capped() {
    let long = "x".repeat(500);
    match err(200, &format!(r#"{{"error":"bad\n<b>{long}"}}"#)) {
        ZohoError::Rejected { error } => {
            assert!(error.starts_with("bad??b?xxx"), "{error}");
            assert!(error.chars().count() <= 65, "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unusable_bodies() {
    assert_eq!(
        err(500, "<html>oops</html>"),
        ZohoError::UpstreamStatus { status: 500 }
    );
    assert_eq!(
        err(502, r#"{"error":"bad gateway"}"#),
        ZohoError::UpstreamStatus { status: 502 }
    );
    assert_eq!(err(302, ""), ZohoError::UpstreamStatus { status: 302 });
    assert_eq!(err(404, "{}"), ZohoError::UpstreamStatus { status: 404 });
    assert!(matches!(err(200, "<html>"), ZohoError::InvalidResponse(_)));
    assert!(matches!(err(200, "{}"), ZohoError::InvalidResponse(_)));
    assert!(matches!(err(200, "[]"), ZohoError::InvalidResponse(_)));
    // A known Zoho error on a 5xx is still that error (not retried).
    assert_eq!(
        err(500, r#"{"error":"invalid_code"}"#),
        ZohoError::InvalidCode
    );
}

#[test]
fn revoke_answers() {
    assert_eq!(
        parse_revoke_response(200, br#"{"status":"success"}"#),
        Ok(())
    );
    assert_eq!(
        parse_revoke_response(400, br#"{"status":"failure"}"#),
        Err(ZohoError::RevokeRejected)
    );
    assert_eq!(
        parse_revoke_response(400, b""),
        Err(ZohoError::RevokeRejected)
    );
    assert_eq!(
        parse_revoke_response(400, br#"{"error":"invalid_token"}"#),
        Err(ZohoError::RevokeRejected)
    );
    assert!(matches!(
        parse_revoke_response(400, THROTTLE.as_bytes()),
        Err(ZohoError::Throttled { .. })
    ));
    assert!(matches!(
        parse_revoke_response(200, THROTTLE.as_bytes()),
        Err(ZohoError::Throttled { .. })
    ));
    assert!(matches!(
        parse_revoke_response(200, b"ok"),
        Err(ZohoError::InvalidResponse(_))
    ));
    assert_eq!(
        parse_revoke_response(503, b""),
        Err(ZohoError::UpstreamStatus { status: 503 })
    );
}
