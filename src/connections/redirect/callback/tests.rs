use super::*;
use crate::model::connection::Health;
use crate::store::records::SealedSecret;

fn url(s: &str) -> Url {
    Url::parse(s).expect("url")
}

fn record(data_center: Option<DataCenter>, accounts_url: &str) -> ConnectionRecord {
    let now = OffsetDateTime::now_utc();
    ConnectionRecord {
        name: "acme".into(),
        client_id: "1000.X".into(),
        client_secret: SealedSecret::new("s".to_string().into()),
        refresh_token: None,
        redirect_uri: Some("https://v.example/cb".into()),
        scopes: vec!["A.b.READ".into()],
        data_center,
        accounts_url: accounts_url.into(),
        api_domain: "https://www.zohoapis.com".into(),
        source: Source::Redirect,
        created_at: now,
        updated_at: now,
        health: Health::pending(crate::model::Fix::AuthorizeInBrowser {
            connection: "acme".into(),
        }),
        mints: Vec::new(),
    }
}

fn params(query: &str) -> CallbackParams {
    CallbackParams::parse(query).expect("params")
}

#[test]
fn the_allowlist_takes_known_data_centers_and_the_own_custom_url_only() {
    let com = record(Some(DataCenter::Com), "https://accounts.zoho.com");
    let eu = allowlisted(
        false,
        &com,
        &params("location=eu&accounts-server=https%3A%2F%2Faccounts.zoho.eu"),
    )
    .expect("EU is a data center");
    assert_eq!(eu.data_center, Some(DataCenter::Eu));
    assert_eq!(eu.accounts_url.as_str(), "https://accounts.zoho.eu/");
    let india = allowlisted(false, &com, &params("location=in")).expect("location");
    assert_eq!(india.data_center, Some(DataCenter::In));
    let own = allowlisted(false, &com, &params("")).expect("own");
    assert_eq!(own.data_center, Some(DataCenter::Com));
    for bad in [
        "accounts-server=https%3A%2F%2Fevil.example",
        "accounts-server=http%3A%2F%2Faccounts.zoho.eu",
        "accounts-server=https%3A%2F%2Faccounts.zoho.eu%3A444",
        "accounts-server=not%20a%20url",
        "location=ae",
    ] {
        assert!(
            matches!(
                allowlisted(true, &com, &params(bad)),
                Err(CallbackError::UnknownAccountsServer { .. })
            ),
            "{bad}"
        );
    }

    let custom = record(None, "http://127.0.0.1:4100");
    let q = params("accounts-server=http%3A%2F%2F127.0.0.1%3A4100");
    let t = allowlisted(true, &custom, &q).expect("own custom URL");
    assert_eq!(t.data_center, None);
    assert!(allowlisted(false, &custom, &q).is_err(), "custom URLs off");
    assert!(allowlisted(false, &custom, &params("")).is_err());
    let other = params("accounts-server=http%3A%2F%2F127.0.0.1%3A4101");
    assert!(allowlisted(true, &custom, &other).is_err());
}

#[test]
fn custom_urls_must_match_exactly() {
    let own = "http://127.0.0.1:4100";
    assert!(same_custom_url(&url("http://127.0.0.1:4100"), own));
    assert!(same_custom_url(&url("http://127.0.0.1:4100/"), own));
    for bad in [
        "http://127.0.0.1:4101",
        "https://127.0.0.1:4100",
        "http://127.0.0.1:4100/x",
        "http://127.0.0.1:4100/?a=1",
        "http://u@127.0.0.1:4100",
        "http://127.0.0.2:4100",
    ] {
        assert!(!same_custom_url(&url(bad), own), "{bad}");
    }
}
