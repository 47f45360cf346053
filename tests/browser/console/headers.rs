//! The security headers of every console page. WebDriver cannot read
//! headers, so each page is fetched again outside the browser with the
//! browser's session cookie.

use super::Console;

/// Asserts the console's headers on one answer.
fn assert_secure_headers(page: &str, resp: &reqwest::Response) {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{page}: no {name} header"))
            .to_string()
    };
    let csp = header("content-security-policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(&format!("{name} ")))
            .map(str::to_string)
    };
    let scripts = directive("script-src")
        .or_else(|| directive("default-src"))
        .unwrap_or_else(|| panic!("{page}: no script-src or default-src in {csp}"));
    assert!(
        !scripts.contains("unsafe-inline") && !scripts.contains("unsafe-eval"),
        "{page}: {csp}"
    );
    let framing = directive("frame-ancestors").is_some_and(|d| d.contains("'none'"))
        || header("x-frame-options") == "DENY";
    assert!(framing, "{page}: framing allowed ({csp})");
    assert_eq!(header("referrer-policy"), "no-referrer", "{page}");
    assert_eq!(header("cache-control"), "no-store", "{page}");
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn every_console_page_carries_the_csp_and_the_security_headers() {
    let c = Console::start().await;
    c.import("billing").await;
    let login = c.f.browser.get(c.url("/ui/")).send().await.expect("login");
    assert_eq!(login.status().as_u16(), 200);
    assert_secure_headers("/ui/", &login);

    c.login().await;
    let cookie = c.session_cookie().await;
    // Every page the nav and the connection list link to.
    let mut pages: Vec<String> = Vec::new();
    for link in c.browser.find_all("nav a[href^='/ui/']").await {
        pages.push(link.attribute("href").await.expect("href"));
    }
    for required in [
        "/ui/connections",
        "/ui/service-tokens",
        "/ui/audit",
        "/ui/webhooks",
    ] {
        assert!(
            pages.iter().any(|p| p == required),
            "nav lacks {required}: {pages:?}"
        );
    }
    pages.extend([
        "/ui/connections/new".to_string(),
        "/ui/connections/billing".to_string(),
    ]);
    for page in &pages {
        let resp = c.get_with(page, &cookie).await;
        assert_eq!(resp.status().as_u16(), 200, "{page}");
        assert_secure_headers(page, &resp);
        // Each page is seen in the browser too: a nav with logout.
        c.open(page).await;
        c.browser
            .find("form[action='/ui/logout'] button#logout")
            .await;
    }
    // Refusals too: a form without its CSRF token.
    let refused = c.post_with("/ui/service-tokens", &cookie, &[]).await;
    assert_eq!(refused.status().as_u16(), 403);
    assert_secure_headers("403", &refused);
    c.browser.quit().await;
}
