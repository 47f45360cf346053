//! The browser redirect flow over real HTTP, without a browser: the test
//! plays the browser, following authorize → the fake Zoho's consent page →
//! Accept/Deny → the 302 back to the vault's callback, by hand.

use std::collections::HashMap;

use serde_json::json;

use crate::helpers::{answer, error_code, SCOPES};
use crate::oauth_flow::{state_of, with_param, Flow};

#[tokio::test]
async fn a_pending_connection_is_connected_through_the_consent_page() {
    let f = Flow::spawn();
    let view = f.create_pending("acme").await;
    assert_eq!(view["health"]["state"], "pending_authorization");
    assert_eq!(view["source"], "redirect");
    assert_eq!(view["redirect_uri"], f.callback_url());
    assert!(view["health"]["fix"]
        .as_str()
        .unwrap_or_default()
        .contains("/v1/connections/acme/authorize"));
    assert_eq!(f.z.fake.counters().token_requests, 0);

    // No refresh token yet: token issue says what to do.
    let (status, err) = f.z.issue("acme", &f.z.app.admin, json!({})).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(error_code(&err), "pending_authorization");
    assert!(err["error"]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains("authorize"));

    let link = f.link("acme").await;
    let parsed = url::Url::parse(&link).expect("url");
    assert!(link.starts_with(&format!("{}/oauth/v2/auth?", f.z.fake.base_url())));
    let q: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], f.web.client_id);
    assert_eq!(q["scope"], SCOPES.join(","));
    assert_eq!(q["redirect_uri"], f.callback_url());
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert!(q["state"].len() >= 43, "at least 256 bits");

    let back = f.consent(&link, "accept").await;
    assert!(back.starts_with(&f.callback_url()), "{back}");
    // Zoho's trailing `&` and stray parameters are fine.
    let page = f.open(&format!("{back}&utm_source=zoho&")).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(page.outcome(), "connected");
    let host = f.z.fake.base_url().replace("http://", "");
    assert!(
        page.html.contains(&format!(
            "Connection acme is connected to Zoho (custom accounts server {host}). You can close this tab."
        )),
        "{}",
        page.html
    );

    let view = f.show("acme").await;
    assert_eq!(view["health"]["state"], "active");
    assert_eq!(view["budget"]["used"], 1);
    assert!(view["token"]["expires_at"].is_string());
    let counters = f.z.fake.counters();
    assert_eq!(counters.code_exchanges, 1);

    // The cached token from the exchange is served; no refresh needed.
    let (status, token) = f.z.issue("acme", &f.z.app.admin, json!({})).await;
    assert_eq!(status, 200, "{token}");
    let access = token["access_token"].as_str().expect("token").to_string();
    assert!(f.z.fake.is_access_token_live(&access));
    assert_eq!(f.z.fake.counters().refreshes, counters.refreshes);

    // Audited, with the admin who asked for the link as the actor.
    let (status, audit) =
        f.z.app
            .server
            .get("/v1/audit?action=connection_created", Some(&f.z.app.admin))
            .await;
    assert_eq!(status, 200, "{audit}");
    let text = audit.to_string();
    assert!(text.contains("\"redirect\""), "{text}");
    assert!(text.contains("admin:"), "{text}");

    // Neither the state, nor the client secret, nor the access token is
    // on disk in plaintext.
    f.z.app
        .dir
        .assert_no_plaintext(&[&state_of(&link), &f.web.client_secret, &access]);
}

#[tokio::test]
async fn a_link_works_once() {
    let f = Flow::spawn();
    f.create_pending("acme").await;
    let link = f.link("acme").await;
    let back = f.consent(&link, "accept").await;
    assert_eq!(f.open(&back).await.outcome(), "connected");
    let again = f.open(&back).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.outcome(), "used");
    assert!(again.html.contains("already"), "{}", again.html);
    assert_eq!(f.z.fake.counters().code_exchanges, 1);
    assert_eq!(f.z.fake.counters().token_requests, 1);
}

#[tokio::test]
async fn racing_callbacks_exchange_the_code_once() {
    let f = Flow::spawn();
    f.create_pending("acme").await;
    let back = f.consent(&f.link("acme").await, "accept").await;
    let (a, b, c) = tokio::join!(f.open(&back), f.open(&back), f.open(&back));
    let mut outcomes = vec![
        a.outcome().to_string(),
        b.outcome().to_string(),
        c.outcome().to_string(),
    ];
    outcomes.sort();
    assert_eq!(outcomes, ["connected", "used", "used"]);
    assert_eq!(f.z.fake.counters().token_requests, 1);
}

#[tokio::test]
async fn declining_changes_nothing_and_the_link_stays_usable() {
    let f = Flow::spawn();
    f.create_pending("acme").await;
    let link = f.link("acme").await;
    let back = f.consent(&link, "deny").await;
    assert!(back.contains("error=access_denied"), "{back}");
    let page = f.open(&back).await;
    assert_eq!(page.outcome(), "declined");
    assert!(page.html.contains("You declined"), "{}", page.html);
    assert!(page.html.contains("acme was not connected"));
    assert_eq!(
        f.show("acme").await["health"]["state"],
        "pending_authorization"
    );
    assert_eq!(f.z.fake.counters().token_requests, 0);

    // Changed their mind: the same link, Accept this time.
    let back = f.consent(&link, "accept").await;
    assert_eq!(f.open(&back).await.outcome(), "connected");
    assert_eq!(f.show("acme").await["health"]["state"], "active");
}

#[tokio::test]
async fn an_expired_link_is_refused_without_asking_zoho() {
    let f = Flow::spawn_with(&[("ZOHO_VAULT_OAUTH__STATE_TTL_SECS", "1")]);
    f.create_pending("acme").await;
    let link = f.link("acme").await;
    let back = f.consent(&link, "accept").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let page = f.open(&back).await;
    assert_eq!(page.status, 400);
    assert_eq!(page.outcome(), "expired");
    assert!(page.html.contains("expired"), "{}", page.html);
    assert_eq!(f.z.fake.counters().token_requests, 0);
    assert_eq!(
        f.show("acme").await["health"]["state"],
        "pending_authorization"
    );
}

#[tokio::test]
async fn a_forged_accounts_server_is_sent_nothing() {
    let f = Flow::spawn();
    // An accounts server the vault could reach, to prove it is not asked.
    let decoy = zoho_vault::fake_zoho::FakeZoho::start(Default::default()).expect("decoy");
    f.create_pending("acme").await;
    let link = f.link("acme").await;
    let back = f.consent(&link, "accept").await;
    for forged in [
        "https://evil.example".to_string(),
        decoy.base_url(),
        format!("{}/x", f.z.fake.base_url()),
        "https://accounts.zoho.eu.evil.example".to_string(),
    ] {
        let page = f.open(&with_param(&back, "accounts-server", &forged)).await;
        assert_eq!(page.status, 400, "{forged}: {}", page.html);
        assert_eq!(page.outcome(), "unknown_accounts_server", "{forged}");
        assert!(page.html.contains("sent it nothing"), "{}", page.html);
    }
    assert_eq!(decoy.counters().token_requests, 0);
    assert_eq!(f.z.fake.counters().token_requests, 0);
    // A refused callback exchanged nothing, so the genuine one still works.
    assert_eq!(f.open(&back).await.outcome(), "connected");
}

#[tokio::test]
async fn unknown_and_incomplete_callbacks_get_a_page_not_json() {
    let f = Flow::spawn();
    let page = f
        .open(&format!("{}?state=bogus&code=1000.x.y&", f.callback_url()))
        .await;
    assert_eq!(page.status, 400);
    assert_eq!(page.outcome(), "unknown");
    let page = f.open(&format!("{}?code=1000.x.y", f.callback_url())).await;
    assert_eq!(page.status, 400);
    assert_eq!(page.outcome(), "incomplete");
    let page = f.open(&f.callback_url()).await;
    assert_eq!(page.outcome(), "incomplete");
    assert!(!page.html.contains("\"error\""));
    assert_eq!(f.z.fake.counters().token_requests, 0);
}

#[tokio::test]
async fn a_sealed_vault_says_so_and_the_link_survives() {
    let f = Flow::spawn();
    f.create_pending("acme").await;
    let link = f.link("acme").await;
    let back = f.consent(&link, "accept").await;
    let (status, _) =
        f.z.app
            .server
            .post("/v1/sys/seal", Some(&f.z.app.admin), json!({}))
            .await;
    assert_eq!(status, 200);
    let page = f.open(&back).await;
    assert_eq!(page.status, 503);
    assert_eq!(page.outcome(), "sealed");
    let (status, body) =
        f.z.app
            .server
            .post(
                "/v1/sys/unseal",
                None,
                json!({"passphrase": crate::helpers::PASSPHRASE}),
            )
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(f.open(&back).await.outcome(), "connected");
}

#[tokio::test]
async fn pending_uploads_are_validated_and_self_clients_cannot_authorize() {
    let f = Flow::spawn();
    let mut body = f.pending_body();
    body.as_object_mut().expect("object").remove("scope");
    let (status, err) = f.z.put_connection("acme", &body).await;
    assert_eq!(status, 400, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("scope"));
    let mut body = f.pending_body();
    body["redirect_uri"] = json!("/v1/oauth/callback");
    let (status, _) = f.z.put_connection("acme", &body).await;
    assert_eq!(status, 400);

    f.z.connect("selfie").await;
    let (status, err) = f.authorize("selfie").await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(error_code(&err), "redirect_uri_missing");
    let (status, err) = f.authorize("nobody").await;
    assert_eq!(status, 404, "{err}");
    let (status, err) = answer(
        f.z.app
            .server
            .http
            .post(f.z.app.server.url("/v1/connections/selfie/authorize")),
    )
    .await;
    assert_eq!(status, 401, "{err}");
}

#[tokio::test]
async fn a_dead_connection_is_revived_by_authorizing_again() {
    let f = Flow::spawn();
    // Short-lived access tokens, so a demand of 60 s makes the vault refresh.
    f.z.set_access_token_ttl(100);
    f.create_pending("acme").await;
    let back = f.consent(&f.link("acme").await, "accept").await;
    assert_eq!(f.open(&back).await.outcome(), "connected");

    // Zoho evicts the vault's refresh token (one refresh token per user and
    // client here, and someone made another).
    f.z.fake
        .update_config(zoho_vault::fake_zoho::ConfigPatch {
            refresh_token_cap: Some(1),
            ..Default::default()
        })
        .expect("config");
    f.z.fake
        .mint_refresh_token(&f.web, &SCOPES)
        .expect("refresh token");
    let (status, err) =
        f.z.issue("acme", &f.z.app.admin, json!({"min_valid_secs": 60}))
            .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(error_code(&err), "needs_reauth");
    assert!(
        err["error"]["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("/v1/connections/acme/authorize"),
        "{err}"
    );

    // The admin makes a new link; the user accepts again.
    let back = f.consent(&f.link("acme").await, "accept").await;
    let page = f.open(&back).await;
    assert_eq!(page.outcome(), "connected", "{}", page.html);
    assert!(page.html.contains("replaces"), "{}", page.html);
    assert_eq!(f.show("acme").await["health"]["state"], "active");
    let (status, token) =
        f.z.issue("acme", &f.z.app.admin, json!({"min_valid_secs": 30}))
            .await;
    assert_eq!(status, 200, "{token}");
}

#[tokio::test]
async fn zoho_refusing_the_code_is_explained_and_nothing_is_stored() {
    let f = Flow::spawn();
    // The secret is only checked by Zoho, at the exchange.
    let mut body = f.pending_body();
    body["client_secret"] = json!("0123456789abcdef0123456789abcdef01234567ff");
    let (status, view) = f.z.put_connection("acme", &body).await;
    assert_eq!(status, 201, "{view}");
    let back = f.consent(&f.link("acme").await, "accept").await;
    let page = f.open(&back).await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert_eq!(page.outcome(), "refused");
    assert!(page.html.contains("invalid_client_secret"), "{}", page.html);
    assert_eq!(
        f.show("acme").await["health"]["state"],
        "pending_authorization"
    );
    // The link is used up: the code went to Zoho.
    assert_eq!(f.open(&back).await.outcome(), "used");
}

#[tokio::test]
async fn the_cli_prints_a_link_that_connects_the_connection() {
    let flow = Flow::spawn();
    flow.create_pending("acme").await;
    let out = flow.z.app.cli(&["connection", "authorize", "acme"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let link = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "only the link on stdout");
    assert!(
        link.contains("/oauth/v2/auth?") && link.contains("state="),
        "{link}"
    );
    let back = flow.consent(link, "accept").await;
    let page = flow.open(&back).await;
    assert_eq!(page.outcome(), "connected");
}
