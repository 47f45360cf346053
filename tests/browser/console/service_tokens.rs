//! Service tokens in the console: created and shown once, revoked, and a
//! form replayed without its CSRF token.

use serde_json::json;

use super::Console;

/// Fills and submits the create form for a token on `connections`.
async fn create_token(c: &Console, name: &str, connections: &str) -> String {
    c.open("/ui/service-tokens").await;
    c.browser.fill("form#create-token [name=name]", name).await;
    c.browser
        .fill("form#create-token [name=connections]", connections)
        .await;
    c.browser.submit("form#create-token").await;
    c.browser.text("code#new-token").await
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn a_new_service_token_is_shown_once_and_works() {
    let c = Console::start().await;
    c.import("billing").await;
    c.login().await;
    let token = create_token(&c, "backend", "billing").await;
    assert!(token.starts_with("zvs_"), "{token}");
    let (status, body) = c.f.z.issue("billing", &token, json!({})).await;
    assert_eq!(status, 200, "the token shown is the real one: {body}");

    // The page again: the token is listed, its secret is not.
    c.open("/ui/service-tokens").await;
    assert!(c.browser.try_find("code#new-token").await.is_none());
    assert_eq!(
        c.browser
            .find_all("table#service-tokens tr[data-token-id]")
            .await
            .len(),
        1
    );
    let source = c.browser.source().await;
    assert!(!source.contains(&token), "the token is shown twice");
    c.browser.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn revoking_a_service_token_in_the_console_stops_it() {
    let c = Console::start().await;
    c.import("billing").await;
    let (id, token) =
        c.f.z
            .app
            .create_service_token("backend", &["billing"])
            .await;
    let (status, _) = c.f.z.issue("billing", &token, json!({})).await;
    assert_eq!(status, 200, "the token works before");
    c.login().await;
    c.open("/ui/service-tokens").await;
    c.browser
        .submit(&format!("tr[data-token-id='{id}'] form.revoke"))
        .await;
    c.browser.find("p.flash[role=status]").await;
    let (status, body) = c.f.z.issue("billing", &token, json!({})).await;
    assert_eq!(status, 401, "{body}");
    c.browser.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn a_post_replayed_without_its_csrf_token_is_refused() {
    let c = Console::start().await;
    c.import("billing").await;
    c.login().await;
    c.open("/ui/service-tokens").await;
    let csrf = c
        .browser
        .attribute("form#create-token input[type=hidden][name=csrf]", "value")
        .await
        .expect("a csrf field");
    let cookie = c.session_cookie().await;
    let form = [
        ("name", "replayed"),
        ("connections", "billing"),
        ("access", "token"),
    ];
    let count = || async {
        let (status, body) = c.f.z.app.admin_get("/v1/service-tokens").await;
        assert_eq!(status, 200, "{body}");
        body["service_tokens"].as_array().map_or(0, Vec::len)
    };

    let without = c.post_with("/ui/service-tokens", &cookie, &form).await;
    assert_eq!(without.status().as_u16(), 403);
    let mut forged = form.to_vec();
    forged.push(("csrf", "0000000000000000000000000000000000000000000"));
    let wrong = c.post_with("/ui/service-tokens", &cookie, &forged).await;
    assert_eq!(wrong.status().as_u16(), 403);
    assert_eq!(count().await, 0, "a refused form created a token");

    // The same form with the page's token is accepted.
    let mut genuine = form.to_vec();
    genuine.push(("csrf", csrf.as_str()));
    let ok = c.post_with("/ui/service-tokens", &cookie, &genuine).await;
    assert_eq!(ok.status().as_u16(), 303, "POST/redirect/GET");
    assert_eq!(count().await, 1);
    c.browser.quit().await;
}
