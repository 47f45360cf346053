//! The admin console's sessions and hardening, over real HTTP with a
//! cookie jar: login and logout, the cookie's attributes, the headers of
//! every answer, CSRF, the login rate limit, `ui.enabled`.

use serde_json::json;

use crate::console_client::Browser;
use crate::helpers::{TestApp, PASSPHRASE};
use crate::support::service_token;

#[tokio::test]
async fn without_a_session_the_console_shows_the_login_form() {
    let app = TestApp::spawn();
    let page = Browser::new(&app.server).get("/ui/").await;
    assert_eq!(page.status, 200);
    assert!(page
        .html
        .contains(r#"<form method="post" action="/ui/login">"#));
    assert!(page.html.contains(r#"<label for="token">"#));
    assert!(page.html.contains(
        r#"<input type="password" id="token" name="token" autocomplete="off" required>"#
    ));
    assert!(page.html.contains(r#"<button type="submit" id="login">"#));
    let bare = Browser::new(&app.server).get("/ui").await;
    assert_eq!(bare.status, 303);
    assert_eq!(bare.location(), "/ui/");
    // Pages behind the login send the browser there.
    let connections = Browser::new(&app.server).get("/ui/connections").await;
    assert_eq!(connections.status, 303);
    assert_eq!(connections.location(), "/ui/");
}

#[tokio::test]
async fn an_admin_token_logs_in_and_logout_ends_the_session() {
    let app = TestApp::spawn();
    let b = Browser::logged_in(&app.server, &app.admin).await;
    assert_eq!(b.get("/ui/").await.location(), "/ui/connections");
    let page = b.get("/ui/connections").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains(r#"<table id="connections">"#));
    for link in [
        "/ui/connections",
        "/ui/service-tokens",
        "/ui/audit",
        "/ui/webhooks",
    ] {
        assert!(page.html.contains(&format!("href=\"{link}\"")), "{link}");
    }

    let out = b.submit("/ui/connections", "/ui/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/ui/");
    let after = b.get("/ui/connections").await;
    assert_eq!(after.status, 303, "the session is over");
    assert_eq!(after.location(), "/ui/");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_scoped_to_ui_and_holds_no_token() {
    let app = TestApp::spawn_with(&[("ZOHO_VAULT_UI__SESSION_TTL", "2h")]);
    let answer = Browser::new(&app.server).login(&app.admin).await;
    let cookies = answer.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    let value = attrs[0].strip_prefix("zv_session=").expect("zv_session");
    assert_eq!(value.len(), 64, "a random id");
    assert!(!cookie.contains(&app.admin) && !cookie.contains("zva_"));
    assert!(attrs.contains(&"HttpOnly"), "{cookie}");
    assert!(attrs.contains(&"SameSite=Strict"), "{cookie}");
    assert!(attrs.contains(&"Path=/ui"), "{cookie}");
    assert!(attrs.contains(&"Max-Age=7200"), "{cookie}");
    assert!(!attrs.contains(&"Secure"), "plain HTTP: {cookie}");
}

#[tokio::test]
async fn behind_tls_the_session_cookie_is_secure() {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
    let dir = crate::helpers::VaultDir::new();
    let cert_file = dir.root.path().join("cert.pem");
    let key_file = dir.root.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).expect("cert");
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).expect("key");
    let admin = dir.init(PASSPHRASE);
    let (c, k) = (
        cert_file.display().to_string(),
        key_file.display().to_string(),
    );
    let server = crate::helpers::Server::start(
        &dir,
        Some(PASSPHRASE),
        &[
            ("ZOHO_VAULT_TLS__CERT_FILE", &c),
            ("ZOHO_VAULT_TLS__KEY_FILE", &k),
        ],
    );
    let http = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("pem"),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = http
        .post(format!("{}/ui/login", server.base))
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"].to_str().expect("cookie");
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
}

#[tokio::test]
async fn a_service_token_cannot_log_in_and_the_refusal_is_audited() {
    let app = TestApp::spawn();
    let (svc, svc_id) = service_token(&app.server, &app.admin, &["*"], None).await;
    let b = Browser::new(&app.server);
    let answer = b.login(&svc).await;
    assert_eq!(answer.status, 401, "{}", answer.html);
    assert!(answer.html.contains(r#"<p class="error" role="alert">"#));
    assert!(answer.set_cookies().is_empty(), "no session");
    assert_eq!(b.get("/ui/connections").await.status, 303);
    let denied = app.events("action=access_denied").await;
    assert!(
        denied
            .iter()
            .any(|e| e["actor"] == format!("service:{svc_id}")
                && e["details"]["route"] == "/ui/login"),
        "{denied:?}"
    );
}

#[tokio::test]
async fn the_login_page_does_not_tell_a_valid_service_token_from_an_unknown_one() {
    let app = TestApp::spawn();
    let (svc, _) = service_token(&app.server, &app.admin, &["*"], None).await;
    let b = Browser::new(&app.server);
    let valid = b.login(&svc).await;
    let unknown = b.login(&format!("zvs_{}", "0".repeat(64))).await;
    assert_eq!(valid.status, unknown.status);
    let alert = r#"<p class="error" role="alert">"#;
    assert!(valid.between(alert, "</p>").is_some(), "{}", valid.html);
    assert_eq!(valid.between(alert, "</p>"), unknown.between(alert, "</p>"));
}

#[tokio::test]
async fn a_reloaded_login_url_shows_the_login_form() {
    let app = TestApp::spawn();
    let answer = Browser::new(&app.server).get("/ui/login").await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location(), "/ui/");
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_audited_like_an_api_authentication() {
    let app = TestApp::spawn();
    let answer = Browser::new(&app.server).login("zva_not_a_token").await;
    assert_eq!(answer.status, 401);
    assert!(answer.html.contains(r#"role="alert""#));
    let denied = app.events("action=access_denied").await;
    assert!(
        denied
            .iter()
            .any(|e| e["actor"] == "anonymous" && e["details"]["route"] == "/ui/login"),
        "{denied:?}"
    );
}

#[tokio::test]
async fn failed_logins_from_one_address_are_rate_limited() {
    let app = TestApp::spawn_with(&[
        ("ZOHO_VAULT_RATELIMIT__ANONYMOUS_PER_ADDR_PER_SEC", "1"),
        ("ZOHO_VAULT_RATELIMIT__ANONYMOUS_BURST", "3"),
    ]);
    let b = Browser::new(&app.server);
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(b.login("zva_wrong").await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 401);
    let limited = b.login("zva_wrong").await;
    assert_eq!(limited.status, 429);
    assert!(limited.html.contains(r#"<p class="error" role="alert">"#));
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(wait >= 1, "{wait}");
}

#[tokio::test]
async fn every_console_answer_carries_the_csp_and_the_other_security_headers() {
    let app = TestApp::spawn();
    let b = Browser::logged_in(&app.server, &app.admin).await;
    let anonymous = Browser::new(&app.server);
    let mut answers = vec![
        ("login page", anonymous.get("/ui/").await),
        ("failed login", anonymous.login("zva_nope").await),
        ("stylesheet", anonymous.get("/ui/static/console.css").await),
        (
            "csrf refusal",
            b.post("/ui/service-tokens", &[("name", "x")]).await,
        ),
        ("no such connection", b.get("/ui/connections/ghost").await),
    ];
    for path in [
        "/ui/",
        "/ui/connections",
        "/ui/connections/new",
        "/ui/service-tokens",
        "/ui/audit",
        "/ui/webhooks",
    ] {
        answers.push((path, b.get(path).await));
    }
    for (what, a) in answers {
        let h = |name: &str| {
            a.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{what}: no {name}"))
                .to_string()
        };
        let csp = h("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{what}: {csp}"
        );
        assert_eq!(h("x-frame-options"), "DENY", "{what}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(h("cache-control"), "no-store", "{what}");
        // No inline script or style for the CSP to have to allow.
        assert!(!a.html.contains("<script"), "{what}");
        assert!(
            !a.html.contains("<style") && !a.html.contains("style=\""),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn();
    let (svc, svc_id) = service_token(&app.server, &app.admin, &["*"], None).await;
    let b = Browser::logged_in(&app.server, &app.admin).await;
    let revoke = format!("/ui/service-tokens/{svc_id}/revoke");
    let wrong = "0".repeat(64);
    for form in [vec![], vec![("csrf", wrong.as_str())], vec![("csrf", "")]] {
        let answer = b.post(&revoke, &form).await;
        assert_eq!(answer.status, 403, "{form:?}: {}", answer.html);
        let create = [
            ("name", "sneaky"),
            ("connections", "*"),
            ("access", "token"),
        ];
        let mut with = create.to_vec();
        with.extend(form.iter().copied());
        assert_eq!(b.post("/ui/service-tokens", &with).await.status, 403);
        assert_eq!(b.post("/ui/logout", &form).await.status, 403);
    }
    // The token still works, nothing was created, the session lives.
    let (status, _) = app.server.get("/v1/auth/self", Some(&svc)).await;
    assert_eq!(status, 200);
    let (_, tokens) = app.admin_get("/v1/service-tokens").await;
    assert_eq!(
        tokens["service_tokens"].as_array().map(Vec::len),
        Some(1),
        "{tokens}"
    );
    assert_eq!(b.get("/ui/connections").await.status, 200);
    // Another session's token is no better than none.
    let other = Browser::logged_in(&app.server, &app.admin).await;
    let theirs = other.get("/ui/service-tokens").await.csrf();
    assert_eq!(b.post(&revoke, &[("csrf", &theirs)]).await.status, 403);
    // With this session's own token the same form works.
    let ok = b.submit("/ui/service-tokens", &revoke, &[]).await;
    assert_eq!(ok.status, 303, "{}", ok.html);
    let (status, _) = app.server.get("/v1/auth/self", Some(&svc)).await;
    assert_eq!(status, 401, "revoked");
}

#[tokio::test]
async fn with_ui_disabled_the_console_answers_404() {
    let app = TestApp::spawn_with(&[("ZOHO_VAULT_UI__ENABLED", "false")]);
    let b = Browser::new(&app.server);
    for path in ["/ui/", "/ui/connections", "/ui/static/console.css"] {
        assert_eq!(b.get(path).await.status, 404, "{path}");
    }
    assert_eq!(b.login(&app.admin).await.status, 404);
    // The API is unaffected.
    let (status, _) = app.admin_get("/v1/connections").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sealing_the_vault_ends_every_session() {
    let app = TestApp::spawn();
    let b = Browser::logged_in(&app.server, &app.admin).await;
    let (status, body) = app.admin_post("/v1/sys/seal", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(b.get("/ui/connections").await.status, 503);
    assert_eq!(app.server.unseal(PASSPHRASE).await, 200);
    let after = b.get("/ui/connections").await;
    assert_eq!(after.status, 303, "logged out by the seal");
    assert_eq!(after.location(), "/ui/");
}

#[tokio::test]
async fn a_revoked_admin_token_ends_its_sessions() {
    let app = TestApp::spawn();
    let (second, second_id) = crate::support::admin_token(&app.server, &app.admin, None).await;
    let b = Browser::logged_in(&app.server, &second).await;
    assert_eq!(b.get("/ui/connections").await.status, 200);
    let (status, body) = app
        .admin_delete(&format!("/v1/admin-tokens/{second_id}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(b.get("/ui/connections").await.status, 303);
}

#[tokio::test]
async fn a_session_ends_after_ui_session_ttl() {
    let clock = tempfile::NamedTempFile::new().expect("clock file");
    std::fs::write(clock.path(), "0").expect("write");
    let path = clock.path().display().to_string();
    let app = TestApp::spawn_with(&[
        ("ZV_FAKE_CLOCK_FILE", &path),
        ("ZOHO_VAULT_UI__SESSION_TTL", "3600"),
    ]);
    let b = Browser::logged_in(&app.server, &app.admin).await;
    std::fs::write(clock.path(), "3590").expect("write");
    assert_eq!(b.get("/ui/connections").await.status, 200);
    std::fs::write(clock.path(), "3610").expect("write");
    let after = b.get("/ui/connections").await;
    assert_eq!(after.status, 303, "expired");
    assert_eq!(after.location(), "/ui/");
}
