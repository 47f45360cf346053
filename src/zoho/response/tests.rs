//! Unit tests of the (status, body) → result mapping.

use std::time::Duration;

use secrecy::ExposeSecret;
use time::macros::datetime;
use time::OffsetDateTime;

use super::{parse_revoke_response, parse_token_response};
use crate::zoho::{ErrorClass, ZohoError};

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
    // A 5xx is not believed, whatever its body says (it is retried).
    assert_eq!(
        err(500, r#"{"error":"invalid_code"}"#),
        ZohoError::UpstreamStatus { status: 500 }
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

// Odd answers: each is upstream trouble that passes (`Transient`), never a
// verdict on the credentials.

fn transient(status: u16, body: &str) -> ZohoError {
    let e = err(status, body);
    assert_eq!(e.class(), ErrorClass::Transient, "{status} {body}: {e:?}");
    e
}

#[test]
fn an_html_page_with_http_200_is_transient() {
    let e = transient(200, "<html><body><h1>Bad gateway</h1></body></html>");
    assert!(matches!(e, ZohoError::InvalidResponse(_)), "{e:?}");
}

#[test]
fn an_undocumented_error_with_http_200_is_transient() {
    let e = transient(200, r#"{"error":"internal_error"}"#);
    assert_eq!(
        e,
        ZohoError::Rejected {
            error: "internal_error".into()
        }
    );
}

#[test]
fn an_empty_json_object_is_transient() {
    transient(200, "{}");
}

#[test]
fn a_firewall_403_page_is_transient_and_not_retried_at_once() {
    let e = transient(403, "<html><body>Request blocked</body></html>");
    assert_eq!(e, ZohoError::UpstreamStatus { status: 403 });
    assert!(!e.is_retryable());
}

#[test]
fn a_negative_lifetime_is_transient() {
    transient(200, r#"{"access_token":"t","expires_in":-3600}"#);
    transient(200, r#"{"access_token":"t","expires_in":"-1"}"#);
}

#[test]
fn a_zero_lifetime_is_transient() {
    transient(200, r#"{"access_token":"t","expires_in":0}"#);
    transient(
        200,
        r#"{"access_token":"t","expires_in":0,"expires_in_sec":0}"#,
    );
}

#[test]
fn an_absurd_lifetime_is_clamped_to_an_hour() {
    for body in [
        r#"{"access_token":"t","expires_in":1e18}"#,
        r#"{"access_token":"t","expires_in":1000000000000000000}"#,
        r#"{"access_token":"t","expires_in":1e300}"#,
        r#"{"access_token":"t","expires_in":"1000000000000000000"}"#,
        r#"{"access_token":"t","expires_in":99999}"#,
        r#"{"access_token":"t","expires_in":1e18,"expires_in_sec":1e15}"#,
    ] {
        let grant = token(200, body).unwrap_or_else(|e| panic!("{body}: {e:?}"));
        assert_eq!(grant.expires_in, Duration::from_secs(3600), "{body}");
        assert_eq!(
            grant.expires_at,
            datetime!(2026-01-01 12:59:00 UTC),
            "{body}"
        );
    }
}

#[test]
fn an_error_body_on_a_5xx_is_not_believed() {
    for body in [
        r#"{"error":"invalid_code"}"#,
        r#"{"error":"invalid_client"}"#,
        r#"{"error":"internal_error"}"#,
    ] {
        assert_eq!(
            transient(500, body),
            ZohoError::UpstreamStatus { status: 500 },
            "{body}"
        );
    }
}

#[test]
fn only_answers_that_say_the_credentials_are_dead_need_the_admin() {
    let cases = [
        (200, r#"{"error":"invalid_code"}"#, ErrorClass::NeedsReauth),
        (400, r#"{"error":"invalid_grant"}"#, ErrorClass::NeedsReauth),
        (200, r#"{"error":"invalid_client"}"#, ErrorClass::Config),
        (401, r#"{"error":"invalid_client"}"#, ErrorClass::Config),
        (
            200,
            r#"{"error":"invalid_client_secret"}"#,
            ErrorClass::Config,
        ),
        (
            200,
            r#"{"error":"invalid_redirect_uri"}"#,
            ErrorClass::Config,
        ),
        (200, r#"{"error":"invalid_scope"}"#, ErrorClass::Transient),
        (400, r#"{"error":"invalid_request"}"#, ErrorClass::Transient),
        (404, "<html>Not Found</html>", ErrorClass::Transient),
        (302, "", ErrorClass::Transient),
        (200, "[]", ErrorClass::Transient),
        (200, r#"{"access_token":""}"#, ErrorClass::Transient),
    ];
    for (status, body, class) in cases {
        assert_eq!(err(status, body).class(), class, "{status} {body}");
    }
}
