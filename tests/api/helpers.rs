//! Test harness: start real `zoho-vault` processes in temporary directories.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The passphrase every test vault starts with.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_zoho-vault")
}

/// A temporary home for one vault: data dir and logs.
pub struct VaultDir {
    pub root: tempfile::TempDir,
}

impl VaultDir {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn log(&self, n: usize) -> PathBuf {
        self.root.path().join(format!("server-{n}.log"))
    }

    /// A command for the binary with this vault's settings and no inherited
    /// ZOHO_VAULT_* variables.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("ZOHO_VAULT_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("ZOHO_VAULT_DATA_DIR", self.data())
            .env("ZOHO_VAULT_LISTEN", "127.0.0.1:0")
            // No back-off between a test's own attempts: tests/api/unseal.rs sets its own.
            .env("ZOHO_VAULT_UNSEAL__BASE_DELAY_MS", "0")
            .env("ZOHO_VAULT_LOG__LEVEL", "debug")
            .current_dir(self.root.path())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `zoho-vault init` and returns the admin token it printed.
    pub fn init(&self, passphrase: &str) -> String {
        let out = self
            .command()
            .arg("init")
            .env("ZOHO_VAULT_PASSPHRASE", passphrase)
            .output()
            .expect("run init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        admin_token_from(&out)
    }

    /// Every byte of every file under the data directory.
    pub fn data_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push((path, bytes));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data(), &mut out);
        out
    }

    /// Asserts that no file in the data directory contains any of `secrets`.
    pub fn assert_no_plaintext(&self, secrets: &[&str]) {
        let files = self.data_files();
        assert!(!files.is_empty(), "the data directory is empty");
        for (path, bytes) in files {
            for secret in secrets {
                assert!(!secret.is_empty());
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} contains a planted secret",
                    path.display()
                );
            }
        }
    }
}

/// Parses the `admin token: zva_...` line.
pub fn admin_token_from(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("admin token: "))
        .expect("an `admin token:` line")
        .trim()
        .to_string()
}

/// A running server process.
pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    pub http: reqwest::Client,
    /// The extra environment it was started with, kept for restarts.
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts `zoho-vault serve` with the given passphrase (or sealed).
    pub fn start(dir: &VaultDir, passphrase: Option<&str>, extra_env: &[(&str, &str)]) -> Server {
        Self::start_with_args(dir, passphrase, extra_env, &[])
    }

    /// [`Server::start`] with extra arguments after `serve` (`--init`).
    pub fn start_with_args(
        dir: &VaultDir,
        passphrase: Option<&str>,
        extra_env: &[(&str, &str)],
        args: &[&str],
    ) -> Server {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let log = dir.log(n);
        let mut cmd = dir.command();
        cmd.arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(p) = passphrase {
            cmd.env("ZOHO_VAULT_PASSPHRASE", p);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = line.strip_prefix("zoho-vault listening on ") {
                        let _ = tx.send(addr.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server {
            child,
            base,
            log,
            http: reqwest::Client::new(),
            env: extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: the crash case.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: the clean shutdown case.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`INT`, `HUP`, ...) to the server process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal}");
    }

    /// Waits for the process to exit after a signal; answers its status.
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for the server")
    }

    /// Waits until the log holds `text` (the server logs each step it
    /// takes, so this waits for an event, not for time to pass); panics
    /// after a minute.
    pub fn wait_for_log(&self, text: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !self.log_text().contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "no `{text}` in the log: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        answer(req).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        answer(req).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        answer(req).await
    }

    /// `POST /v1/sys/unseal`; the status.
    pub async fn unseal(&self, passphrase: &str) -> u16 {
        let body = serde_json::json!({ "passphrase": passphrase });
        self.post("/v1/sys/unseal", None, body).await.0
    }

    /// `GET /v1/sys/health`'s body (200 unsealed, 503 sealed, 501 not
    /// initialised: the body is the same).
    pub async fn health(&self) -> Value {
        let (status, body) = self.get("/v1/sys/health", None).await;
        assert!(matches!(status, 200 | 501 | 503), "{status} {body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends and decodes (status, JSON body or Null).
pub async fn answer(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A vault initialised and served unsealed.
pub struct TestApp {
    pub dir: VaultDir,
    pub server: Server,
    pub admin: String,
}

impl TestApp {
    pub fn spawn() -> TestApp {
        Self::spawn_with(&[])
    }

    pub fn spawn_with(env: &[(&str, &str)]) -> TestApp {
        let dir = VaultDir::new();
        let admin = dir.init(PASSPHRASE);
        let server = Server::start(&dir, Some(PASSPHRASE), env);
        TestApp { dir, server, admin }
    }

    /// Stops (SIGTERM) and starts again on the same data directory, with
    /// the same settings.
    pub fn restarted(self, passphrase: Option<&str>) -> TestApp {
        self.restart(Server::stop, passphrase)
    }

    /// Kills (SIGKILL: no shutdown, no final flush) and starts again on the
    /// same data directory, with the same settings.
    pub fn crashed_and_restarted(self, passphrase: Option<&str>) -> TestApp {
        self.restart(Server::kill, passphrase)
    }

    fn restart(self, halt: fn(Server), passphrase: Option<&str>) -> TestApp {
        let TestApp { dir, server, admin } = self;
        let env = server.env.clone();
        halt(server);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = Server::start(&dir, passphrase, &env);
        TestApp { dir, server, admin }
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.server.get(path, Some(&self.admin)).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.server.post(path, Some(&self.admin), body).await
    }

    pub async fn admin_delete(&self, path: &str) -> (u16, Value) {
        self.server.delete(path, Some(&self.admin)).await
    }

    /// One page of `GET /v1/audit?{query}` (asserted 200).
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.admin_get(&format!("/v1/audit?{query}")).await;
        assert_eq!(status, 200, "{body}");
        body["events"].as_array().expect("events").clone()
    }

    /// Every event matching `query`, oldest first, across pages.
    pub async fn all_events(&self, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = format!("order=asc&limit=1000&{query}");
            if let Some(cursor) = &after {
                q.push_str(&format!("&after={cursor}"));
            }
            let (status, page) = self.admin_get(&format!("/v1/audit?{q}")).await;
            assert_eq!(status, 200, "{page}");
            all.extend(page["events"].as_array().expect("events").iter().cloned());
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => return all,
            }
        }
    }

    /// `GET /v1/audit/verify` (asserted 200; `ok` is left to the caller).
    pub async fn verify(&self) -> Value {
        let (status, body) = self.admin_get("/v1/audit/verify").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `POST /v1/audit/fingerprint`: the fingerprint the trail stores for
    /// `token`.
    pub async fn fingerprint(&self, token: &str) -> String {
        let body = serde_json::json!({ "token": token });
        let (status, answer) = self.admin_post("/v1/audit/fingerprint", body).await;
        assert_eq!(status, 200, "{answer}");
        answer["fingerprint"]
            .as_str()
            .expect("fingerprint")
            .to_string()
    }

    /// Creates a service token for `connections`; its (id, plain token).
    pub async fn create_service_token(&self, name: &str, connections: &[&str]) -> (String, String) {
        let body = serde_json::json!({"name": name, "connections": connections});
        let (status, created) = self.admin_post("/v1/service-tokens", body).await;
        assert_eq!(status, 201, "{created}");
        let field = |f: &str| created[f].as_str().expect(f).to_string();
        (field("id"), field("token"))
    }

    /// Runs the `zoho-vault` CLI as a client of this server, with the admin
    /// token.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.dir
            .command()
            .args(args)
            .env("ZOHO_VAULT_ADDR", &self.server.base)
            .env("ZOHO_VAULT_TOKEN", &self.admin)
            .output()
            .expect("run cli")
    }
}

/// Secrets a test planted, to look for where they must never appear. Each
/// has a label so a failure says which kind leaked without printing it.
#[derive(Default)]
pub struct Planted(Vec<(&'static str, String)>);

impl Planted {
    pub fn add(&mut self, label: &'static str, secret: &str) {
        assert!(!secret.is_empty(), "planted {label} is empty");
        self.0.push((label, secret.to_string()));
    }

    pub fn secrets(&self) -> Vec<&str> {
        self.0.iter().map(|(_, s)| s.as_str()).collect()
    }

    /// Asserts that `text` (from `place`) holds none of the secrets.
    pub fn assert_absent(&self, place: &str, text: &str) {
        for (label, secret) in &self.0 {
            assert!(!text.contains(secret.as_str()), "{place} holds the {label}");
        }
    }
}

/// Asserts the one error shape and returns its code.
pub fn error_code(body: &Value) -> &str {
    let err = &body["error"];
    assert!(err["message"].is_string(), "no error.message in {body}");
    err["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.code in {body}"))
}

/// The scopes test connections are created with.
pub const SCOPES: [&str; 2] = ["ZohoInvoice.contacts.CREATE", "ZohoInvoice.invoices.CREATE"];

/// A vault that may use the fake Zoho (custom accounts URLs allowed), with
/// a fake Zoho and one registered self client.
pub struct ZohoApp {
    pub app: TestApp,
    pub fake: zoho_vault::fake_zoho::FakeZoho,
    pub client: zoho_vault::fake_zoho::Client,
}

impl ZohoApp {
    pub fn spawn() -> ZohoApp {
        Self::spawn_with(&[])
    }

    pub fn spawn_with(env: &[(&str, &str)]) -> ZohoApp {
        let fake = zoho_vault::fake_zoho::FakeZoho::start(Default::default()).expect("fake zoho");
        let client = fake.register_client();
        let mut all: Vec<(&str, &str)> = vec![
            ("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true"),
            ("ZOHO_VAULT_ZOHO__TIMEOUT_SECS", "2"),
        ];
        all.extend_from_slice(env);
        ZohoApp {
            app: TestApp::spawn_with(&all),
            fake,
            client,
        }
    }

    /// A fresh self_client.json for the registered client, plus our
    /// accounts URL, as an upload body.
    pub fn upload_body(&self) -> Value {
        let file = self
            .fake
            .self_client_json(&self.client, &SCOPES, 180)
            .expect("code");
        let mut body = serde_json::to_value(file).expect("json");
        body["accounts_url"] = Value::String(self.fake.base_url());
        body
    }

    pub async fn put_connection(&self, name: &str, body: &Value) -> (u16, Value) {
        let req = self
            .app
            .server
            .http
            .put(self.app.server.url(&format!("/v1/connections/{name}")))
            .bearer_auth(&self.app.admin)
            .json(body);
        answer(req).await
    }

    /// Uploads a fresh connection and asserts it was created.
    pub async fn connect(&self, name: &str) -> Value {
        let (status, body) = self.put_connection(name, &self.upload_body()).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Mints a refresh token at the fake Zoho and imports it as connection
    /// `name` (asserted created); returns the refresh token.
    pub async fn import(&self, name: &str) -> String {
        let rt = self
            .fake
            .mint_refresh_token(&self.client, &SCOPES)
            .expect("refresh token");
        let body = serde_json::json!({"client_id": self.client.client_id,
            "client_secret": self.client.client_secret, "refresh_token": rt,
            "accounts_url": self.fake.base_url()});
        let (status, view) = self.put_connection(name, &body).await;
        assert_eq!(status, 201, "{view}");
        rt
    }

    pub async fn service_token(&self, connections: &[&str]) -> String {
        self.app
            .create_service_token("backend", connections)
            .await
            .1
    }

    /// Kills the vault (SIGKILL) and starts it again, unsealed; the fake
    /// Zoho keeps running.
    pub fn crashed_and_restarted(self) -> ZohoApp {
        let ZohoApp { app, fake, client } = self;
        let app = app.crashed_and_restarted(Some(PASSPHRASE));
        ZohoApp { app, fake, client }
    }

    pub async fn issue(&self, name: &str, token: &str, body: Value) -> (u16, Value) {
        self.app
            .server
            .post(&format!("/v1/connections/{name}/token"), Some(token), body)
            .await
    }

    pub fn set_access_token_ttl(&self, secs: i64) {
        self.fake
            .update_config(zoho_vault::fake_zoho::ConfigPatch {
                access_token_ttl_secs: Some(secs),
                ..Default::default()
            })
            .expect("config");
    }
}
