//! The system under test: the release `fake-zoho` and `zoho-vault` binaries,
//! started on loopback port 0 in the run's temporary directory, and the few
//! admin calls the benchmark needs (upload, service tokens, seal, unseal).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};

use crate::procs::Proc;

/// The passphrase of the benchmark vault.
pub const PASSPHRASE: &str = "benchmark passphrase, not a secret";

/// Scopes of every benchmark connection.
pub const SCOPES: [&str; 1] = ["ZohoInvoice.fullaccess.all"];

/// Sends a request and returns (status, JSON body or Null).
pub async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let resp = req.send().await.context("request")?;
    let status = resp.status().as_u16();
    let text = resp.text().await.context("body")?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Like [`call`], but anything but `expect` is an error naming `what`.
pub async fn call_ok(
    req: reqwest::RequestBuilder,
    expect: u16,
    what: &str,
) -> anyhow::Result<Value> {
    let (status, body) = call(req).await?;
    ensure!(status == expect, "{what}: HTTP {status} {body}");
    Ok(body)
}

/// A client for set-up calls: loopback only, no proxy.
pub fn http() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .context("http client")
}

/// The fake Zoho accounts server.
pub struct Fake {
    pub proc: Proc,
    pub base: String,
    pub client_id: String,
    pub client_secret: String,
    http: reqwest::Client,
}

impl Fake {
    pub async fn start(bin: &str, dir: &Path) -> anyhow::Result<Fake> {
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0"]).current_dir(dir);
        let (proc, base) = Proc::spawn_server(
            "fake-zoho",
            &mut cmd,
            "fake-zoho listening on ",
            &dir.join("fake-zoho.log"),
        )?;
        let http = http()?;
        let client = call_ok(
            http.post(format!("{base}/_fake/clients")).json(&json!({})),
            200,
            "register a fake client",
        )
        .await?;
        Ok(Fake {
            proc,
            client_id: str_field(&client, "client_id")?,
            client_secret: str_field(&client, "client_secret")?,
            base,
            http,
        })
    }

    /// `PUT /_fake/config` with a partial config.
    pub async fn config(&self, patch: Value) -> anyhow::Result<()> {
        call_ok(
            self.http
                .put(format!("{}/_fake/config", self.base))
                .json(&patch),
            200,
            "fake config",
        )
        .await
        .map(drop)
    }

    /// `GET /_fake/counters`.
    pub async fn counters(&self) -> anyhow::Result<Value> {
        call_ok(
            self.http.get(format!("{}/_fake/counters", self.base)),
            200,
            "fake counters",
        )
        .await
    }

    /// Upload body for a self-client code exchange.
    pub async fn code_upload(&self) -> anyhow::Result<Value> {
        let mut file = call_ok(
            self.http
                .post(format!("{}/_fake/codes", self.base))
                .json(&json!({"client_id": self.client_id, "scope": SCOPES})),
            200,
            "fake code",
        )
        .await?;
        file["accounts_url"] = Value::String(self.base.clone());
        Ok(file)
    }

    /// Upload body importing a refresh token minted without a code.
    pub async fn refresh_token_upload(&self) -> anyhow::Result<Value> {
        let minted = call_ok(
            self.http
                .post(format!("{}/_fake/refresh-tokens", self.base))
                .json(&json!({"client_id": self.client_id, "scope": SCOPES})),
            200,
            "fake refresh token",
        )
        .await?;
        Ok(json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": str_field(&minted, "refresh_token")?,
            "scope": SCOPES,
            "accounts_url": self.base,
        }))
    }
}

fn str_field(v: &Value, field: &str) -> anyhow::Result<String> {
    v[field]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no `{field}` in {v}"))
}

/// A served vault.
pub struct Vault {
    pub proc: Proc,
    pub base: String,
    pub admin: String,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
}

/// A `zoho-vault` command with this run's settings, built-in defaults for
/// everything else (the working directory has no `config/`), and no
/// inherited `ZOHO_VAULT_*` variables.
pub fn command(bin: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("ZOHO_VAULT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("ZOHO_VAULT_DATA_DIR", dir.join("data"))
        .env("ZOHO_VAULT_LISTEN", "127.0.0.1:0")
        .env("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true")
        .current_dir(dir);
    cmd
}

impl Vault {
    /// `zoho-vault init` (default KDF) then `serve` without a passphrase:
    /// the server starts sealed. Returns the vault and the init time.
    pub async fn init_and_serve_sealed(bin: &str, dir: &Path) -> anyhow::Result<(Vault, Duration)> {
        let started = Instant::now();
        let out = command(bin, dir)
            .arg("init")
            .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
            .stdin(std::process::Stdio::null())
            .output()
            .context("run zoho-vault init")?;
        let init_time = started.elapsed();
        if !out.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let admin = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("admin token: "))
            .map(|t| t.trim().to_string())
            .context("init printed no admin token")?;
        let mut cmd = command(bin, dir);
        cmd.arg("serve");
        let (proc, base) = Proc::spawn_server(
            "zoho-vault",
            &mut cmd,
            "zoho-vault listening on ",
            &dir.join("zoho-vault.log"),
        )?;
        let vault = Vault {
            proc,
            base,
            admin,
            data_dir: dir.join("data"),
            http: http()?,
        };
        Ok((vault, init_time))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /v1/sys/unseal`, timed.
    pub async fn unseal(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let body = call_ok(
            self.http
                .post(self.url("/v1/sys/unseal"))
                .json(&json!({"passphrase": PASSPHRASE})),
            200,
            "unseal",
        )
        .await?;
        let took = started.elapsed();
        ensure!(body["already_unsealed"] == false, "was not sealed: {body}");
        Ok(took)
    }

    /// `POST /v1/sys/seal`.
    pub async fn seal(&self) -> anyhow::Result<()> {
        call_ok(
            self.http
                .post(self.url("/v1/sys/seal"))
                .bearer_auth(&self.admin),
            200,
            "seal",
        )
        .await
        .map(drop)
    }

    /// `PUT /v1/connections/{name}`.
    pub async fn put_connection(&self, name: &str, body: &Value) -> anyhow::Result<()> {
        call_ok(
            self.http
                .put(self.url(&format!("/v1/connections/{name}")))
                .bearer_auth(&self.admin)
                .json(body),
            201,
            "upload a connection",
        )
        .await
        .map(drop)
    }

    /// `POST /v1/service-tokens` granting `connections`; the `zvs_` token.
    /// Load connection `bench-{i}` from a fresh code at the fake, and a
    /// service token for it: `(name, token)`.
    pub async fn load_connection(&self, fake: &Fake, i: usize) -> anyhow::Result<(String, String)> {
        let name = format!("bench-{i}");
        self.put_connection(&name, &fake.code_upload().await?)
            .await?;
        let svc = self
            .service_token(&format!("bench backend {i}"), &[name.as_str()])
            .await?;
        Ok((name, svc))
    }

    pub async fn service_token(&self, name: &str, connections: &[&str]) -> anyhow::Result<String> {
        let body = call_ok(
            self.http
                .post(self.url("/v1/service-tokens"))
                .bearer_auth(&self.admin)
                .json(&json!({"name": name, "connections": connections})),
            201,
            "create a service token",
        )
        .await?;
        str_field(&body, "token")
    }

    /// One token issue, checked.
    pub async fn issue(&self, name: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        call_ok(
            self.http
                .post(self.url(&format!("/v1/connections/{name}/token")))
                .bearer_auth(token)
                .json(body),
            200,
            "issue a token",
        )
        .await
    }
}
