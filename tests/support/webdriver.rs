//! A small WebDriver client for headless Chromium: plain reqwest calls to
//! chromedriver's W3C HTTP API, enough for the browser tests to open pages,
//! find elements by CSS, fill and submit forms (file inputs included), read
//! text, attributes and cookies, and take screenshots.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`; `make test-browser` installs both);
//! `CHROMIUM` and `CHROMEDRIVER` override the paths. Each [`Browser`] runs
//! its own chromedriver on a free loopback port with a fresh profile, and
//! kills it when dropped, also when a test fails.
//!
//! A lookup that finds nothing panics with the page's URL and visible
//! text, so a failed test shows what the browser was looking at.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for a page or an element may take before the test
/// fails loudly (it never decides a passing run).
const PATIENCE: Duration = Duration::from_secs(20);

/// A chromedriver process and one headless Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// A cookie as the browser holds it.
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: String,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: String,
    /// Seconds since the epoch; `None` for a session cookie.
    pub expiry: Option<i64>,
}

/// One element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
    css: String,
}

/// A WebDriver error answer: HTTP status and the `value` object.
struct DriverError {
    status: u16,
    value: Value,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a 1280x900 window.
    pub async fn start() -> Browser {
        Self::start_sized(1280, 900).await
    }

    /// Starts chromedriver and a headless Chromium with the given window.
    pub async fn start_sized(width: u32, height: u32) -> Browser {
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
        let deadline = Instant::now() + PATIENCE;
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
                    "--disable-sync", "--no-proxy-server", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
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
        browser.set_window_size(width, height).await;
        browser
    }

    /// One WebDriver command; answers its `value` or the error.
    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, DriverError> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp = req.send().await.expect("webdriver");
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.expect("webdriver json");
        if (200..300).contains(&status) {
            Ok(answer["value"].clone())
        } else {
            Err(DriverError {
                status,
                value: answer["value"].clone(),
            })
        }
    }

    /// One WebDriver command that must succeed.
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        match self.try_call(method, path, body).await {
            Ok(value) => value,
            Err(e) => panic!("{method} {path}: {} {}", e.status, e.value),
        }
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    /// Makes the page's viewport (what a screenshot shows) `width` by
    /// `height` CSS pixels: the window is set, its frame measured, and set
    /// again that much larger.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        let rect = |w: i64, h: i64| json!({"width": w, "height": h});
        let (w, h) = (i64::from(width), i64::from(height));
        self.call("POST", &self.at("/window/rect"), rect(w, h))
            .await;
        let inner = self
            .call(
                "POST",
                &self.at("/execute/sync"),
                json!({"script": "return [window.innerWidth, window.innerHeight];", "args": []}),
            )
            .await;
        let (iw, ih) = (
            inner[0].as_i64().unwrap_or(w),
            inner[1].as_i64().unwrap_or(h),
        );
        if (iw, ih) != (w, h) {
            self.call(
                "POST",
                &self.at("/window/rect"),
                rect(2 * w - iw, 2 * h - ih),
            )
            .await;
        }
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn open(&self, url: &str) {
        self.call("POST", &self.at("/url"), json!({ "url": url }))
            .await;
    }

    /// Reloads the current page (a GET again, never a form resubmission
    /// when the page came from a redirect after a POST).
    pub async fn refresh(&self) {
        self.call("POST", &self.at("/refresh"), json!({})).await;
    }

    pub async fn current_url(&self) -> String {
        self.call("GET", &self.at("/url"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The path (and query) of the current URL.
    pub async fn current_path(&self) -> String {
        let url = url::Url::parse(&self.current_url().await).expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The page's markup as the browser holds it now.
    pub async fn source(&self) -> String {
        self.call("GET", &self.at("/source"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The visible text of `<body>` (empty if there is none).
    pub async fn page_text(&self) -> String {
        match self.try_find("body").await {
            Some(body) => body.text().await,
            None => String::new(),
        }
    }

    /// A description of where the browser is, for failure messages.
    pub async fn describe(&self) -> String {
        format!(
            "page {}:\n{}",
            self.current_url().await,
            self.page_text().await
        )
    }

    /// The first element matching `css`, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let found = self
            .try_call(
                "POST",
                &self.at("/element"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        match found {
            Ok(value) => Some(self.element(&value, css)),
            Err(e) if e.value["error"] == "no such element" => None,
            Err(e) => panic!("find {css}: {} {}", e.status, e.value),
        }
    }

    /// The first element matching `css`; a readable panic if there is none.
    pub async fn find(&self, css: &str) -> Element<'_> {
        match self.try_find(css).await {
            Some(element) => element,
            None => panic!("no element `{css}` on the {}", self.describe().await),
        }
    }

    /// Every element matching `css`, in document order.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self
            .call(
                "POST",
                &self.at("/elements"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found
            .as_array()
            .map(|all| all.iter().map(|v| self.element(v, css)).collect())
            .unwrap_or_default()
    }

    fn element(&self, value: &Value, css: &str) -> Element<'_> {
        Element {
            browser: self,
            id: value[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("not an element reference for {css}: {value}"))
                .to_string(),
            css: css.to_string(),
        }
    }

    /// Clicks the first element matching `css` (and waits for a page load
    /// it starts).
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await;
    }

    /// Clicks the first element matching `css` and waits until the browser
    /// has left the page (the clicked element is gone with it): for links
    /// and buttons that navigate, so the next lookup sees the new page.
    pub async fn follow(&self, css: &str) {
        self.find(css).await.click_to_leave().await;
    }

    /// Replaces the value of the input matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await;
        input.send_keys(text).await;
    }

    /// Chooses `file` in the file input matching `css`.
    pub async fn upload(&self, css: &str, file: &Path) {
        let path = file.canonicalize().expect("upload file exists");
        self.find(css)
            .await
            .send_keys(path.to_str().expect("utf-8 path"))
            .await;
    }

    /// Submits the form matching `form_css` by clicking its submit button,
    /// as a person would, and waits for the page it leads to.
    pub async fn submit(&self, form_css: &str) {
        self.follow(&format!(
            "{form_css} button[type=submit], {form_css} input[type=submit]"
        ))
        .await;
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await
    }

    /// An attribute of the first element matching `css`.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attribute(name).await
    }

    /// Waits until the browser is on a page whose URL starts with `prefix`.
    pub async fn wait_for_url(&self, prefix: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.current_url().await.starts_with(prefix) {
            if Instant::now() >= deadline {
                panic!("never reached {prefix}; on the {}", self.describe().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the browser is on a page under `prefix`, then answers
    /// the visible text of `<body>` and its `data-outcome`.
    pub async fn page_under(&self, prefix: &str) -> (String, String) {
        self.wait_for_url(prefix).await;
        let body = self.find("body").await;
        let outcome = body.attribute("data-outcome").await.unwrap_or_default();
        (body.text().await, outcome)
    }

    /// Every cookie the current page can see.
    pub async fn cookies(&self) -> Vec<Cookie> {
        let all = self.call("GET", &self.at("/cookie"), Value::Null).await;
        all.as_array()
            .map(|all| all.iter().map(cookie).collect())
            .unwrap_or_default()
    }

    /// The cookie `name` the current page can see, if any.
    pub async fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().await.into_iter().find(|c| c.name == name)
    }

    /// The current viewport as PNG bytes.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        use base64::Engine;
        let png = self.call("GET", &self.at("/screenshot"), Value::Null).await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("base64 PNG")
    }

    /// Writes the current viewport as a PNG file.
    pub async fn save_screenshot(&self, file: &Path) {
        let png = self.screenshot_png().await;
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(file, png).expect("screenshot");
    }

    /// Saves a PNG of the page as `<dir>/<name>.png` when
    /// `BROWSER_SCREENSHOTS=<dir>` is set, for a person to look at.
    pub async fn screenshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("BROWSER_SCREENSHOTS") {
            self.save_screenshot(&Path::new(&dir).join(format!("{name}.png")))
                .await;
        }
    }

    /// Ends the session and stops chromedriver.
    pub async fn quit(mut self) {
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

impl Element<'_> {
    fn at(&self, path: &str) -> String {
        self.browser.at(&format!("/element/{}{path}", self.id))
    }

    pub async fn click(&self) {
        self.browser
            .call("POST", &self.at("/click"), json!({}))
            .await;
    }

    /// Clicks, then waits until this element's page is replaced (a
    /// WebDriver lookup on the element answers "stale element reference").
    pub async fn click_to_leave(&self) {
        self.click().await;
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self
                .browser
                .try_call("GET", &self.at("/name"), Value::Null)
                .await
            {
                Err(e) if e.value["error"] == "stale element reference" => return,
                Err(e) if e.value["error"] == "no such element" => return,
                _ => {}
            }
            if Instant::now() >= deadline {
                panic!(
                    "clicking `{}` never left the {}",
                    self.css,
                    self.browser.describe().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn clear(&self) {
        self.browser
            .call("POST", &self.at("/clear"), json!({}))
            .await;
    }

    /// Types `text` (or, for a file input, chooses the file at that path).
    pub async fn send_keys(&self, text: &str) {
        self.browser
            .call("POST", &self.at("/value"), json!({ "text": text }))
            .await;
    }

    /// The rendered text of the element.
    pub async fn text(&self) -> String {
        self.browser
            .call("GET", &self.at("/text"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// An attribute as written in the markup; `None` when absent.
    pub async fn attribute(&self, name: &str) -> Option<String> {
        self.browser
            .call("GET", &self.at(&format!("/attribute/{name}")), Value::Null)
            .await
            .as_str()
            .map(str::to_string)
    }

    /// The element's tag name, lower case.
    pub async fn tag_name(&self) -> String {
        self.browser
            .call("GET", &self.at("/name"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    /// The first descendant matching `css`; a readable panic if none.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let found = self
            .browser
            .try_call(
                "POST",
                &self.at("/element"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        match found {
            Ok(value) => self.browser.element(&value, css),
            Err(_) => panic!(
                "no element `{css}` inside `{}` on the {}",
                self.css,
                self.browser.describe().await
            ),
        }
    }

    /// Every descendant matching `css`.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self
            .browser
            .call(
                "POST",
                &self.at("/elements"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found
            .as_array()
            .map(|all| all.iter().map(|v| self.browser.element(v, css)).collect())
            .unwrap_or_default()
    }
}

fn cookie(v: &Value) -> Cookie {
    let text = |key: &str| v[key].as_str().unwrap_or_default().to_string();
    Cookie {
        name: text("name"),
        value: text("value"),
        path: text("path"),
        http_only: v["httpOnly"].as_bool().unwrap_or(false),
        secure: v["secure"].as_bool().unwrap_or(false),
        same_site: text("sameSite"),
        expiry: v["expiry"].as_i64(),
    }
}
