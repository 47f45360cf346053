//! The screenshots of `docs/console.md`, taken from a real run: one
//! connection active and one needing re-authorisation, traffic spread over
//! several hours for the chart, a new service token, and the audit page
//! after a verify. `make screenshots` writes them to `docs/img/`; other runs
//! write them under `target/` (see [`super::screenshot_dir`]).

use serde_json::json;

use super::{screenshot_dir, Console};

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn the_console_pages_render_for_the_screenshots() {
    let c = Console::start().await;
    let dir = screenshot_dir();
    let shot = |name: &'static str| {
        let file = dir.join(format!("console-{name}.png"));
        let browser = &c.browser;
        async move { browser.save_screenshot(&file).await }
    };

    c.import("billing").await;
    let dead = c.import("crm").await;
    for hours_ago in [9, 6, 5, 3, 1, 0] {
        c.set_clock(-hours_ago * 3600);
        for _ in 0..(hours_ago % 4 + 1) {
            let (status, body) = c.f.z.issue("billing", c.admin(), json!({})).await;
            assert_eq!(status, 200, "{body}");
        }
    }
    c.set_clock(0);
    c.kill("crm", &dead).await;

    c.open("/ui/").await;
    c.browser.find("form[action='/ui/login'] input#token").await;
    shot("login").await;

    c.login().await;
    assert_eq!(c.listed_state("billing").await, "active");
    assert_eq!(c.listed_state("crm").await, "needs_reauth");
    shot("connections").await;

    c.open("/ui/connections/billing").await;
    assert!(!c.browser.find_all("svg.chart rect.bar").await.is_empty());
    shot("connection").await;

    c.open("/ui/service-tokens").await;
    c.browser
        .fill("form#create-token [name=name]", "invoice-sync")
        .await;
    c.browser
        .fill("form#create-token [name=connections]", "billing")
        .await;
    c.browser.submit("form#create-token").await;
    c.browser.find("code#new-token").await;
    shot("service-token").await;

    c.open("/ui/audit").await;
    c.browser.submit("form#verify").await;
    let head = c.browser.text("p#verified-head").await;
    assert!(!head.is_empty());
    shot("audit").await;

    c.browser.set_window_size(390, 844).await;
    c.open("/ui/connections").await;
    shot("phone").await;
    c.browser.quit().await;
}
