//! The browser redirect flow in a real headless Chromium: open the vault's
//! authorization link, press Accept (or Deny) on the fake Zoho's consent
//! page, and read the page the vault shows afterwards.

use serde_json::json;

use crate::oauth_flow::Flow;
use crate::webdriver::Browser;

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn accepting_in_a_real_browser_connects_the_connection() {
    let f = Flow::spawn();
    f.create_pending("acme").await;
    let link = f.link("acme").await;
    let browser = Browser::start().await;
    browser.open(&link).await;
    browser.screenshot("consent").await;
    browser.click("button[value=accept]").await;
    let (text, outcome) = browser.page_under(&f.callback_url()).await;
    browser.screenshot("connected").await;
    browser.quit().await;
    assert_eq!(outcome, "connected", "{text}");
    let host = f.z.fake.base_url().replace("http://", "");
    assert!(
        text.contains(&format!(
            "Connection acme is connected to Zoho (custom accounts server {host}). You can close this tab."
        )),
        "{text}"
    );
    assert_eq!(f.show("acme").await["health"]["state"], "active");
    let (status, token) = f.z.issue("acme", &f.z.app.admin, json!({})).await;
    assert_eq!(status, 200, "{token}");
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn denying_in_a_real_browser_changes_nothing() {
    let f = Flow::spawn();
    f.create_pending("acme").await;
    let link = f.link("acme").await;
    let browser = Browser::start().await;
    browser.open(&link).await;
    browser.click("button[value=deny]").await;
    let (text, outcome) = browser.page_under(&f.callback_url()).await;
    browser.screenshot("declined").await;
    browser.quit().await;
    assert_eq!(outcome, "declined", "{text}");
    assert!(text.contains("You declined"), "{text}");
    assert!(text.contains("acme was not connected"), "{text}");
    assert_eq!(
        f.show("acme").await["health"]["state"],
        "pending_authorization"
    );
    assert_eq!(f.z.fake.counters().token_requests, 0);
}
