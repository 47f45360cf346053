use super::*;
use secrecy::ExposeSecret;

#[test]
fn states_are_256_random_bits_in_url_safe_text() {
    let a = make_state();
    let b = make_state();
    assert_ne!(a, b);
    assert_eq!(a.len(), 43);
    assert!(a
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    assert_eq!(state_key(&a).len(), 32);
    assert_ne!(state_key(&a), a.as_bytes());
}

#[test]
fn the_authorize_url_carries_every_parameter() {
    let scopes = vec!["A.b.READ".to_string(), "A.b.CREATE".to_string()];
    let url = authorize_url(
        "https://accounts.zoho.eu",
        "1000.ID",
        &scopes,
        "https://vault.example.com/v1/oauth/callback",
        "st4te",
    )
    .expect("url");
    assert_eq!(url.path(), "/oauth/v2/auth");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "1000.ID");
    assert_eq!(q["scope"], "A.b.READ,A.b.CREATE");
    assert_eq!(
        q["redirect_uri"],
        "https://vault.example.com/v1/oauth/callback"
    );
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["state"], "st4te");
    let gw =
        authorize_url("http://127.0.0.1:9/zoho/", "i", &scopes, "http://x/cb", "s").expect("url");
    assert_eq!(gw.path(), "/zoho/oauth/v2/auth");
}

#[test]
fn callback_parsing_tolerates_zoho_quirks() {
    let q = "code=1000.abc.def&location=eu&accounts-server=https%3A%2F%2Faccounts.zoho.eu&state=xyz&utm=1&";
    let p = CallbackParams::parse(q).expect("parse");
    assert_eq!(p.state.as_deref(), Some("xyz"));
    assert_eq!(
        p.code.as_ref().map(|c| c.expose_secret()),
        Some("1000.abc.def")
    );
    assert_eq!(p.location.as_deref(), Some("eu"));
    assert_eq!(
        p.accounts_server.as_deref(),
        Some("https://accounts.zoho.eu")
    );
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("xyz") && !dbg.contains("1000.abc"), "{dbg}");
    let denied = CallbackParams::parse("error=access_denied&state=xyz&&").expect("parse");
    assert_eq!(denied.error.as_deref(), Some("access_denied"));
    assert!(denied.code.is_none());
    assert!(matches!(
        CallbackParams::parse("state=a&state=b"),
        Err(CallbackError::Malformed(_))
    ));
    assert!(CallbackParams::parse("state=&state=b").is_ok());
}

#[test]
fn places_read_like_words() {
    assert_eq!(
        zoho_place(Some(DataCenter::Eu), "https://accounts.zoho.eu"),
        "EU"
    );
    assert_eq!(
        zoho_place(None, "http://127.0.0.1:4100"),
        "custom accounts server 127.0.0.1:4100"
    );
    assert_eq!(clip("<script>x", 5), "scrip");
}
