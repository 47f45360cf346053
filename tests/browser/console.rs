//! The admin console under `/ui/` in a real headless Chromium: logging in,
//! the connection pages, service tokens, the security of the session and
//! the forms, and the screenshots in `docs/img/`.
//!
//! The tests select on the console's HTML conventions (ids, `data-*`
//! attributes, roles) written down in `docs/console.md`, never on layout.

#[path = "console/connections.rs"]
mod connections;
#[path = "console/headers.rs"]
mod headers;
#[path = "console/login.rs"]
mod login;
#[path = "console/screenshots.rs"]
mod screenshots;
#[path = "console/service_tokens.rs"]
mod service_tokens;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::helpers::error_code;
use crate::oauth_flow::Flow;
use crate::webdriver::{Browser, Cookie};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "zv_session";

/// A vault with the fake Zoho (and a server-based client registered there
/// for the browser flow), its test clock, and a headless Chromium.
pub struct Console {
    pub f: Flow,
    pub browser: Browser,
    clock_file: PathBuf,
    _clock_dir: tempfile::TempDir,
}

impl Console {
    /// A 1280x900 window.
    pub async fn start() -> Console {
        Self::start_with(&[]).await
    }

    pub async fn start_with(env: &[(&str, &str)]) -> Console {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock_file = dir.path().join("clock-offset");
        std::fs::write(&clock_file, "0").expect("clock offset");
        let path = clock_file.to_str().expect("utf-8 path").to_string();
        let mut all = vec![("ZV_FAKE_CLOCK_FILE", path.as_str())];
        all.extend_from_slice(env);
        let f = Flow::spawn_with(&all);
        // Short-lived access tokens, so that a demand for a token valid for
        // longer always makes the vault refresh.
        f.z.set_access_token_ttl(100);
        Console {
            f,
            browser: Browser::start().await,
            clock_file,
            _clock_dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.f.z.app.server.url(path)
    }

    pub fn admin(&self) -> &str {
        &self.f.z.app.admin
    }

    /// Sets the vault's test clock to `secs` away from the real time.
    pub fn set_clock(&self, secs: i64) {
        // Written whole in one rename, so the server never reads half a number.
        let tmp = self.clock_file.with_extension("tmp");
        std::fs::write(&tmp, secs.to_string()).expect("clock offset");
        std::fs::rename(&tmp, &self.clock_file).expect("clock offset");
    }

    /// Opens `path` (under the vault) in the browser.
    pub async fn open(&self, path: &str) {
        self.browser.open(&self.url(path)).await;
    }

    /// Types `token` into the login page and presses Log in.
    pub async fn submit_login(&self, token: &str) {
        self.open("/ui/").await;
        self.browser.fill("input#token", token).await;
        self.browser.follow("button#login").await;
    }

    /// Logs in with the admin token; waits for the connections page.
    pub async fn login(&self) {
        self.submit_login(self.admin()).await;
        self.browser
            .wait_for_url(&self.url("/ui/connections"))
            .await;
        self.browser.find("table#connections").await;
    }

    /// The browser's session cookie (asserted present).
    pub async fn session_cookie(&self) -> Cookie {
        match self.browser.cookie(SESSION_COOKIE).await {
            Some(c) => c,
            None => panic!(
                "no {SESSION_COOKIE} cookie on the {}",
                self.browser.describe().await
            ),
        }
    }

    /// A GET of `path` outside the browser with `cookie` (headers are
    /// what WebDriver cannot read); redirects are not followed.
    pub async fn get_with(&self, path: &str, cookie: &Cookie) -> reqwest::Response {
        self.f
            .browser
            .get(self.url(path))
            .header("cookie", format!("{}={}", cookie.name, cookie.value))
            .send()
            .await
            .expect("console page")
    }

    /// A form POST of `fields` to `path` outside the browser with `cookie`.
    pub async fn post_with(
        &self,
        path: &str,
        cookie: &Cookie,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.f
            .browser
            .post(self.url(path))
            .header("cookie", format!("{}={}", cookie.name, cookie.value))
            .form(fields)
            .send()
            .await
            .expect("console form")
    }

    /// The state word of connection `name` on the connections page.
    pub async fn listed_state(&self, name: &str) -> String {
        self.open("/ui/connections").await;
        self.browser
            .text(&format!("tr[data-connection='{name}'] span.state"))
            .await
    }

    /// Imports a connection `name` with a refresh token minted at the fake
    /// Zoho for the self client; answers the refresh token.
    pub async fn import(&self, name: &str) -> String {
        self.f.z.import(name).await
    }

    /// Makes `name` dead the way Zoho does: its refresh token is revoked,
    /// and the next token request that needs a refresh finds out.
    pub async fn kill(&self, name: &str, refresh_token: &str) {
        assert!(self.f.z.fake.revoke(refresh_token), "unknown refresh token");
        let (status, err) = self.demand_fresh_token(name).await;
        assert_eq!(status, 409, "{err}");
        assert_eq!(error_code(&err), "needs_reauth", "{err}");
    }

    /// A token request for `name` that a cached token cannot answer.
    pub async fn demand_fresh_token(&self, name: &str) -> (u16, Value) {
        self.f
            .z
            .issue(name, self.admin(), json!({"min_valid_secs": 3000}))
            .await
    }

    /// On a Zoho consent page: presses Accept and waits to be back on
    /// `/ui/connections/{name}`.
    pub async fn accept_consent(&self, name: &str) {
        self.browser.wait_for_url(&self.f.z.fake.base_url()).await;
        self.browser.follow("button[value=accept]").await;
        self.browser
            .wait_for_url(&self.url(&format!("/ui/connections/{name}")))
            .await;
    }
}

/// Where the screenshots go: `CONSOLE_SCREENSHOTS` (`make screenshots`
/// sets it to `docs/img`), else `target/console-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    match std::env::var_os("CONSOLE_SCREENSHOTS") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots"),
    }
}
