//! Logging in and out, and the session cookie.

use time::OffsetDateTime;

use super::{Console, SESSION_COOKIE};

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn an_admin_logs_in_and_sees_a_connection_active() {
    let c = Console::start().await;
    c.import("billing").await;
    c.login().await;
    let state = c
        .browser
        .find("table#connections tr[data-connection='billing'] span.state")
        .await;
    assert_eq!(state.text().await, "active");
    assert_eq!(
        state.attribute("class").await.as_deref(),
        Some("state state-active")
    );
    c.browser.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn a_service_token_cannot_log_in() {
    let c = Console::start().await;
    c.import("billing").await;
    let service = c.f.z.service_token(&["billing"]).await;
    c.submit_login(&service).await;
    let alert = c.browser.text("p.error[role=alert]").await;
    assert!(alert.contains("needs an admin token"), "{alert}");
    assert!(
        c.browser
            .try_find("form[action='/ui/login']")
            .await
            .is_some(),
        "not the login page: {}",
        c.browser.describe().await
    );
    assert!(c.browser.cookie(SESSION_COOKIE).await.is_none());
    // Outside the browser: 401 and no cookie.
    let resp =
        c.f.browser
            .post(c.url("/ui/login"))
            .form(&[("token", service.as_str())])
            .send()
            .await
            .expect("login");
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().get("set-cookie").is_none());
    c.browser.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn the_session_cookie_is_http_only_strict_scoped_to_ui_and_lasts_the_session_ttl() {
    let c = Console::start_with(&[("ZOHO_VAULT_UI__SESSION_TTL", "2h")]).await;
    let before = OffsetDateTime::now_utc().unix_timestamp();
    c.login().await;
    let after = OffsetDateTime::now_utc().unix_timestamp();
    let cookie = c.session_cookie().await;
    assert!(cookie.http_only, "{cookie:?}");
    assert_eq!(cookie.same_site, "Strict", "{cookie:?}");
    assert_eq!(cookie.path, "/ui", "{cookie:?}");
    // Plain HTTP here: `Secure` would make the browser drop it.
    assert!(!cookie.secure, "{cookie:?}");
    assert!(
        !cookie.value.contains(c.admin()),
        "the cookie holds the admin token"
    );
    assert!(!cookie.value.starts_with("zva_"), "{cookie:?}");
    let expiry = cookie
        .expiry
        .expect("a Max-Age, not a browser-session cookie");
    assert!(
        (before + 7200 - 2..=after + 7200 + 2).contains(&expiry),
        "expiry {expiry} is not 2 h after the login ({before}..{after})"
    );
    c.browser.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn logout_ends_the_session_and_the_old_cookie_is_refused() {
    let c = Console::start().await;
    c.login().await;
    let cookie = c.session_cookie().await;
    let before = c.get_with("/ui/connections", &cookie).await;
    assert_eq!(before.status().as_u16(), 200, "the cookie works before");

    c.browser.follow("button#logout").await;
    c.browser.find("form[action='/ui/login']").await;
    assert!(c.browser.cookie(SESSION_COOKIE).await.is_none());

    // The old cookie, replayed, is sent to the login page.
    let after = c.get_with("/ui/connections", &cookie).await;
    assert_eq!(after.status().as_u16(), 303);
    assert_eq!(after.headers()["location"], "/ui/");
    // And the browser, back on a console page, is asked to log in.
    c.open("/ui/service-tokens").await;
    c.browser.find("input#token").await;
    assert!(c.browser.try_find("table#service-tokens").await.is_none());
    c.browser.quit().await;
}
