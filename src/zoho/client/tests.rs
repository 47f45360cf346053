//! Unit tests of form building, endpoints and redaction.

use secrecy::SecretString;
use url::Url;

use super::{endpoint, ClientCredentials, FormRequest};
use crate::zoho::ZohoError;

fn creds() -> ClientCredentials {
    ClientCredentials {
        client_id: "1000.CLIENTID".into(),
        client_secret: SecretString::from("super-secret-value"),
    }
}

fn pairs(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

#[test]
fn self_client_exchange_omits_redirect_uri() {
    let creds = creds();
    let code = SecretString::from("1000.code.value");
    let body = FormRequest::Exchange {
        creds: &creds,
        code: &code,
        redirect_uri: None,
    }
    .encode();
    let pairs = pairs(&body);
    assert!(pairs.iter().all(|(k, _)| k != "redirect_uri"), "{pairs:?}");
    assert!(pairs.contains(&("grant_type".into(), "authorization_code".into())));
    assert!(pairs.contains(&("client_secret".into(), "super-secret-value".into())));
    assert!(pairs.contains(&("code".into(), "1000.code.value".into())));

    let body = FormRequest::Exchange {
        creds: &creds,
        code: &code,
        redirect_uri: Some("https://vault.example/v1/oauth/callback"),
    }
    .encode();
    assert!(pairs_contains(
        &body,
        "redirect_uri",
        "https://vault.example/v1/oauth/callback"
    ));
}

fn pairs_contains(body: &str, key: &str, value: &str) -> bool {
    pairs(body).contains(&(key.to_string(), value.to_string()))
}

#[test]
fn refresh_and_revoke_forms() {
    let creds = creds();
    let token = SecretString::from("1000.rt&=x");
    let body = FormRequest::Refresh {
        creds: &creds,
        refresh_token: &token,
    }
    .encode();
    assert!(pairs_contains(&body, "grant_type", "refresh_token"));
    assert!(pairs_contains(&body, "refresh_token", "1000.rt&=x"));
    assert!(pairs_contains(&body, "client_id", "1000.CLIENTID"));
    let body = FormRequest::Revoke { token: &token }.encode();
    assert_eq!(
        pairs(&body),
        vec![("token".to_string(), "1000.rt&=x".to_string())]
    );
}

#[test]
fn endpoints() {
    let url = |s: &str| Url::parse(s).expect("url");
    let token = ["oauth", "v2", "token"];
    assert_eq!(
        endpoint(&url("https://accounts.zoho.eu"), &token)
            .expect("ok")
            .as_str(),
        "https://accounts.zoho.eu/oauth/v2/token"
    );
    assert_eq!(
        endpoint(&url("http://127.0.0.1:1234/"), &token)
            .expect("ok")
            .as_str(),
        "http://127.0.0.1:1234/oauth/v2/token"
    );
    assert_eq!(
        endpoint(&url("https://gw.example/zoho/?x=1#f"), &token)
            .expect("ok")
            .as_str(),
        "https://gw.example/zoho/oauth/v2/token"
    );
    for bad in [
        "ftp://accounts.zoho.eu",
        "https://u:p@accounts.zoho.eu",
        "mailto:a@b",
    ] {
        assert_eq!(
            endpoint(&url(bad), &token),
            Err(ZohoError::InvalidAccountsUrl),
            "{bad}"
        );
    }
}

#[test]
fn credentials_debug_redacts_secret() {
    let dbg = format!("{:?} {:#?}", creds(), creds());
    assert!(!dbg.contains("super-secret-value"), "{dbg}");
    assert!(dbg.contains("1000.CLIENTID"));
}
