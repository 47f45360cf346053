//! The browser redirect flow in a real headless Chromium, driven through
//! chromedriver's WebDriver HTTP API (plain reqwest calls, no extra crate):
//! open the vault's authorization link, press Accept (or Deny) on the fake
//! Zoho's consent page, and read the page the vault shows afterwards.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`), so the tests are ignored by default;
//! `make test-browser` installs both when missing and runs them. Paths can
//! be overridden with `CHROMIUM` and `CHROMEDRIVER`.

#[path = "api/helpers.rs"]
#[allow(
    dead_code,
    reason = "shared with the api test binary, which uses the rest"
)]
mod helpers;
#[path = "api/oauth_flow.rs"]
#[allow(
    dead_code,
    reason = "shared with the api test binary, which uses the rest"
)]
mod oauth_flow;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use oauth_flow::Flow;

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless Chromium session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let chromedriver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {chromedriver} ({e}); run `make test-browser`")
            });
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(resp) = ready {
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                if body["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-proxy-server",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            http,
            _profile: profile,
        };
        let created = browser.call("POST", "/session", caps).await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    /// One WebDriver command; answers its `value`.
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp = req.send().await.expect("webdriver");
        let status = resp.status();
        let answer: Value = resp.json().await.expect("webdriver json");
        assert!(status.is_success(), "{method} {path}: {answer}");
        answer["value"].clone()
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    async fn open(&self, url: &str) {
        self.call("POST", &self.at("/url"), json!({ "url": url }))
            .await;
    }

    async fn current_url(&self) -> String {
        self.call("GET", &self.at("/url"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn click(&self, css: &str) {
        let found = self
            .call(
                "POST",
                &self.at("/element"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        let id = found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        self.call("POST", &self.at(&format!("/element/{id}/click")), json!({}))
            .await;
    }

    /// Waits until the browser is on a page under `prefix`, then answers
    /// the visible text of `<body>` and its `data-outcome`.
    async fn page_under(&self, prefix: &str) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.current_url().await.starts_with(prefix) {
            assert!(Instant::now() < deadline, "never reached {prefix}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body = self
            .call(
                "POST",
                &self.at("/element"),
                json!({"using": "css selector", "value": "body"}),
            )
            .await;
        let id = body[ELEMENT].as_str().expect("body").to_string();
        let text = self
            .call("GET", &self.at(&format!("/element/{id}/text")), Value::Null)
            .await;
        let outcome = self
            .call(
                "GET",
                &self.at(&format!("/element/{id}/attribute/data-outcome")),
                Value::Null,
            )
            .await;
        (
            text.as_str().unwrap_or_default().to_string(),
            outcome.as_str().unwrap_or_default().to_string(),
        )
    }

    /// Saves a PNG of the page as `<dir>/<name>.png` when
    /// `BROWSER_SCREENSHOTS=<dir>` is set, for a person to look at.
    async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("BROWSER_SCREENSHOTS") else {
            return;
        };
        use base64::Engine;
        let png = self.call("GET", &self.at("/screenshot"), Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(format!("{dir}/{name}.png"), bytes).expect("screenshot");
    }

    async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self
            .http
            .delete(format!("{}{path}", self.base))
            .send()
            .await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Also on a failed assertion: never leave chromedriver behind.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

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
