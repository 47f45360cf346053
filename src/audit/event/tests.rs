//! Unit tests of event construction.

use super::*;
use crate::crypto::token::TokenKind;

fn admin() -> Principal {
    Principal {
        token_id: "abc123".into(),
        name: "ops".into(),
        kind: TokenKind::Admin,
        connections: vec![],
        access: Default::default(),
        proxy_paths: Vec::new(),
    }
}

#[test]
fn action_names_round_trip() {
    for a in AuditAction::ALL {
        assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        let json = serde_json::to_string(&a).expect("json");
        assert_eq!(json, format!("\"{}\"", a.as_str()));
    }
}

#[test]
fn a_token_passed_as_fingerprint_is_not_stored() {
    let ctx = RequestContext::default();
    let good = "fp_0123456789abcdef0123456789abcdef";
    let e = AuditEvent::token_issued(
        &admin(),
        "acme",
        TokenSource::Cached,
        OffsetDateTime::now_utc(),
        good,
        &ctx,
    );
    assert_eq!(e.fingerprint(), Some(good));
    let json = serde_json::to_string(&e).expect("json");
    assert!(json.len() < 400, "{json}");
    let leaked = "zvs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let e = AuditEvent::token_issued(
        &admin(),
        "acme",
        TokenSource::Refreshed,
        OffsetDateTime::now_utc(),
        leaked,
        &ctx,
    );
    assert_eq!(e.fingerprint(), Some("invalid"));
    assert!(!serde_json::to_string(&e).expect("json").contains(leaked));
}

#[test]
fn free_text_is_clipped() {
    let long = "é".repeat(500);
    let e = AuditEvent::access_denied(401, &long, None, None, "/x", &RequestContext::default());
    match e.details.get("reason") {
        Some(Detail::Text(t)) => assert!(t.len() <= MAX_TEXT),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.actor, ANONYMOUS);
    assert_eq!(e.outcome, Outcome::Denied);
}
