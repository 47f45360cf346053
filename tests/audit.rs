//! The audit trail through the real `zoho-vault` binary over real HTTP:
//! unseal/seal/read events, pending-while-sealed chaining, filters and
//! paging, export and offline-file verification through the CLI, the fault
//! hook, kill -9 durability and the absence of planted secrets.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_zoho-vault");
const PASSPHRASE: &str = "planted-passphrase-7f3c9e1d";
const WRONG: &str = "planted-wrong-passphrase-a81b";

/// A `zoho-vault` command with a clean `ZOHO_VAULT_*` environment.
fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("ZOHO_VAULT_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("ZOHO_VAULT_DATA_DIR", dir)
        .env("ZOHO_VAULT_LOG__LEVEL", "warn")
        .env("ZOHO_VAULT_UNSEAL__BASE_DELAY_MS", "1")
        .env("ZOHO_VAULT_HTTP__WORKERS", "1");
    cmd
}

/// A data dir initialised by `zoho-vault init`, and its admin token.
struct Vault {
    dir: tempfile::TempDir,
    admin: String,
}

fn init() -> Vault {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = command(dir.path())
        .arg("init")
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .output()
        .expect("run init");
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let admin = stdout
        .lines()
        .find_map(|l| l.strip_prefix("admin token: "))
        .expect("admin token line")
        .trim()
        .to_string();
    Vault { dir, admin }
}

/// A running `zoho-vault serve`, killed (SIGKILL) on drop.
struct Server {
    child: Child,
    base: String,
    admin: String,
    http: reqwest::Client,
}

impl Vault {
    fn serve(&self, env: &[(&str, &str)]) -> Server {
        let mut cmd = command(self.dir.path());
        cmd.arg("serve")
            .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
            .env("ZOHO_VAULT_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .expect("read stdout");
            if let Some(addr) = line.strip_prefix("zoho-vault listening on ") {
                break addr.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            admin: self.admin.clone(),
            http: reqwest::Client::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None, Some(&self.admin))
            .await
    }

    async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body), Some(&self.admin))
            .await
    }

    async fn unseal(&self, passphrase: &str) -> u16 {
        self.call(
            reqwest::Method::POST,
            "/v1/sys/unseal",
            Some(json!({ "passphrase": passphrase })),
            None,
        )
        .await
        .0
    }

    async fn events(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.admin_get(&format!("/v1/audit?{query}")).await;
        assert_eq!(status, 200, "{body}");
        body["events"].as_array().expect("events").clone()
    }

    async fn verify(&self) -> Value {
        let (status, body) = self.admin_get("/v1/audit/verify").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Runs the CLI against this server with the admin token.
    fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("ZOHO_VAULT_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("ZOHO_VAULT_ADDR", &self.base)
            .env("ZOHO_VAULT_TOKEN", &self.admin)
            .output()
            .expect("run cli")
    }
}

fn outcomes(events: &[Value]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

#[tokio::test]
async fn wrong_unseal_while_sealed_is_pending_then_chained_with_seal_and_reads() {
    let vault = init();
    let server = vault.serve(&[]);
    let (status, _) = server.admin_post("/v1/sys/seal", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(server.unseal(WRONG).await, 401);
    // Sealed: the trail cannot be read (no key to check the token).
    assert_eq!(server.admin_get("/v1/audit").await.0, 503);
    assert_eq!(server.unseal(PASSPHRASE).await, 200);

    let all = server.events("order=asc&limit=1000").await;
    let trail: Vec<_> = outcomes(&all);
    assert_eq!(
        trail,
        vec![
            ("unseal", "success"), // at start
            ("seal", "success"),
            ("unseal", "failure"), // recorded while sealed, chained at unseal
            ("unseal", "success"),
            ("audit_read", "success"), // this very query, audited first
        ],
        "{all:#?}"
    );
    let seqs: Vec<u64> = all
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(all[2]["details"]["reason"], "wrong_passphrase");
    assert_eq!(all[2]["source"], "127.0.0.1");
    assert!(all[1]["actor"]
        .as_str()
        .expect("actor")
        .starts_with("admin:"));
    assert!(all[3]["request_id"].as_str().is_some_and(|r| !r.is_empty()));

    // The reads themselves are audited.
    let reads = server.events("action=audit_read").await;
    assert_eq!(reads.len(), 2, "{reads:#?}");
    assert_eq!(reads[0]["details"]["kind"], "query");
    assert_eq!(reads[0]["details"]["filter"], "action=audit_read");

    let report = server.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["head_seq"], report["count"]);
    assert!(report["count"].as_u64().expect("count") >= 7);
}

#[tokio::test]
async fn denials_are_audited_filtered_and_paged_by_cursor() {
    let vault = init();
    let server = vault.serve(&[]);
    for i in 0..5 {
        let bogus = format!("zva_planted{i}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let (status, _) = server
            .call(reqwest::Method::GET, "/v1/audit", None, Some(&bogus))
            .await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        server
            .call(reqwest::Method::POST, "/v1/sys/seal", None, None)
            .await
            .0,
        401
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = "action=access_denied&actor=anonymous&limit=2".to_string();
        if let Some(c) = &cursor {
            q.push_str(&format!("&after={c}"));
        }
        let (status, page) = server.admin_get(&format!("/v1/audit?{q}")).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events");
        assert!(events.len() <= 2);
        seen.extend(events.iter().cloned());
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let seqs: Vec<u64> = seen
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    assert_eq!(seen[0]["details"]["route"], "/v1/sys/seal");
    assert_eq!(seen[0]["details"]["reason"], "missing_token");
    assert_eq!(seen[1]["details"]["reason"], "invalid_token");
    assert_eq!(seen[1]["details"]["status"], 401);
    assert!(seen.iter().all(|e| e["outcome"] == "denied"));
    assert!(!serde_json::to_string(&seen)
        .expect("json")
        .contains("planted"));

    let asc = server
        .events("action=access_denied&order=asc&limit=1")
        .await;
    assert_eq!(asc[0]["seq"].as_u64(), seqs.last().copied());
    assert!(server
        .events("action=access_denied&since=2999-01-01T00:00:00Z")
        .await
        .is_empty());
    assert!(server
        .events("action=access_denied&until=2000-01-01T00:00:00Z")
        .await
        .is_empty());
    assert_eq!(
        server
            .events("action=access_denied&since=2000-01-01T00:00:00Z")
            .await
            .len(),
        6
    );

    for bad in [
        "limit=5000",
        "since=yesterday",
        "action=nope",
        "bogus=1",
        "after=x",
    ] {
        let (status, body) = server.admin_get(&format!("/v1/audit?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // Fingerprint lookup, then filter by it.
    let token = json!({ "token": "zvs_leakedAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    let (status, a) = server
        .admin_post("/v1/audit/fingerprint", token.clone())
        .await;
    assert_eq!(status, 200);
    let (_, b) = server.admin_post("/v1/audit/fingerprint", token).await;
    let fp = a["fingerprint"].as_str().expect("fp");
    assert!(fp.starts_with("fp_") && fp.len() == 35, "{fp}");
    assert_eq!(a, b);
    assert!(server.events(&format!("fingerprint={fp}")).await.is_empty());

    // The fault knob is off by default: the route does not exist.
    let (status, body) = server
        .admin_post("/v1/sys/audit-faults", json!({ "fail_next": 1 }))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(server.verify().await["ok"], true);
}

#[tokio::test]
async fn the_fault_hook_makes_reads_and_unseal_fail_closed_with_503() {
    let vault = init();
    let server = vault.serve(&[("ZOHO_VAULT_AUDIT__FAULT_INJECTION", "true")]);
    let (status, _) = server
        .admin_post("/v1/sys/audit-faults", json!({ "fail_next": 1 }))
        .await;
    assert_eq!(status, 200);
    let (status, body) = server.admin_get("/v1/audit").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "audit_unavailable");
    assert_eq!(server.admin_get("/v1/audit").await.0, 200);

    // An unseal whose event cannot be written is refused and undone. The
    // hook needs an admin token, so it is armed before sealing: the first
    // injected failure hits the seal's event, the second the unseal's.
    assert_eq!(
        server
            .admin_post("/v1/sys/audit-faults", json!({ "fail_next": 2 }))
            .await
            .0,
        200
    );
    // The seal's own event fails (logged) but sealing still happens.
    assert_eq!(server.admin_post("/v1/sys/seal", json!({})).await.0, 200);
    assert_eq!(server.unseal(PASSPHRASE).await, 503);
    let (_, health) = server
        .call(reqwest::Method::GET, "/v1/sys/health", None, None)
        .await;
    assert_eq!(health["sealed"], true);
    assert_eq!(server.unseal(PASSPHRASE).await, 200);
    let report = server.verify().await;
    assert_eq!(report["ok"], true, "{report}");
}

#[tokio::test]
async fn kill_9_keeps_every_acknowledged_event() {
    let vault = init();
    let server = vault.serve(&[]);
    for _ in 0..3 {
        assert_eq!(server.admin_post("/v1/sys/seal", json!({})).await.0, 200);
        assert_eq!(server.unseal(PASSPHRASE).await, 200);
    }
    let before = server.verify().await;
    drop(server); // SIGKILL: no shutdown, no final flush
    let server = vault.serve(&[]);
    let all = server.events("order=asc&limit=1000").await;
    let seals = all.iter().filter(|e| e["action"] == "seal").count();
    let unseals = all.iter().filter(|e| e["action"] == "unseal").count();
    assert_eq!(seals, 3);
    assert_eq!(unseals, 1 + 3 + 1, "start, three unseals, restart");
    let report = server.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["head_seq"].as_u64() > before["head_seq"].as_u64());
    // Every event acknowledged before the kill is still there, unchanged.
    let head = before["head_seq"].as_u64().expect("head");
    let kept = &all[head as usize - 1];
    assert_eq!(kept["seq"].as_u64(), Some(head));
    assert_eq!(kept["hash"], before["head_hash"]);
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn exports_verify_through_the_cli_and_tampered_lines_are_named() {
    let vault = init();
    let server = vault.serve(&[]);
    assert_eq!(
        server.unseal(WRONG).await,
        200,
        "already unsealed: not checked"
    );
    assert_eq!(server.admin_post("/v1/sys/seal", json!({})).await.0, 200);
    assert_eq!(server.unseal(WRONG).await, 401);
    assert_eq!(server.unseal(PASSPHRASE).await, 200);
    let bogus = "zva_plantedBEARERAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        server
            .call(reqwest::Method::GET, "/v1/audit", None, Some(bogus))
            .await
            .0,
        401
    );

    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("audit.jsonl");
    let file_arg = file.to_str().expect("path");
    let out = server.cli(&["audit", "export", "--file", file_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("export");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 6, "{text}");
    for line in &lines {
        assert!(line.len() < 600, "compact: {line}");
    }

    let out = server.cli(&["audit", "verify", "--file", file_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    let tampered = |name: &str, lines: Vec<String>| -> String {
        let path = work.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        let out = server.cli(&["audit", "verify", "--file", path.to_str().expect("path")]);
        assert!(!out.status.success(), "{name} must fail verification");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let owned: Vec<String> = lines.iter().map(|l| l.to_string()).collect();

    let mut edited = owned.clone();
    edited[2] = edited[2].replace("\"outcome\":\"failure\"", "\"outcome\":\"success\"");
    assert_ne!(edited[2], owned[2]);
    let err = tampered("edited.jsonl", edited);
    assert!(err.contains("at event 3 (line 3): edited"), "{err}");

    let mut dropped = owned.clone();
    dropped.remove(1);
    let err = tampered("dropped.jsonl", dropped);
    assert!(err.contains("at event 2 (line 2): missing"), "{err}");

    let mut swapped = owned.clone();
    swapped.swap(1, 3);
    let err = tampered("swapped.jsonl", swapped);
    assert!(err.contains("(line 2): reordered"), "{err}");

    let out = server.cli(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server.cli(&["audit", "list", "--action", "unseal"]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && table.contains("SEQ") && table.contains("failure"),
        "{table}"
    );

    // Prune what was exported; the rest still verifies from the checkpoint.
    let last: Value = serde_json::from_str(lines[lines.len() - 1]).expect("json");
    let until = last["seq"].as_u64().expect("seq");
    let (status, body) = server
        .admin_post("/v1/audit/prune", json!({ "until_seq": until }))
        .await;
    assert_eq!(status, 200, "{body}");
    let report = server.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["anchor"]["seq"].as_u64(), Some(until));

    // No planted secret anywhere: events, export, or any file on disk.
    let again = server.cli(&["audit", "export"]);
    let export_text = String::from_utf8_lossy(&again.stdout).to_string() + &text;
    let secrets = [PASSPHRASE, WRONG, vault.admin.as_str(), bogus];
    for secret in secrets {
        assert!(
            !export_text.contains(secret),
            "export holds a planted secret"
        );
    }
    drop(server);
    for path in files(vault.path()) {
        let bytes = std::fs::read(&path).expect("read");
        for secret in secrets {
            assert!(
                !contains(&bytes, secret),
                "{} holds a planted secret",
                path.display()
            );
        }
    }
}
