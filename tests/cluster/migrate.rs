//! Moving a vault between backends with backup and restore: sled →
//! PostgreSQL → sled, real processes, the audit chain verifying at each
//! step with the backup's head in it, tokens served after.

use std::path::Path;

use serde_json::{json, Value};

use crate::cluster::backend_env;
use crate::helpers::{answer, Server, VaultDir, PASSPHRASE, SCOPES};
use crate::pg;
use zoho_vault::fake_zoho::{Client, FakeZoho};

const CUSTOM_ACCOUNTS: (&str, &str) = ("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true");

/// Downloads `GET /v1/sys/backup` into `file`.
async fn backup(server: &Server, admin: &str, file: &Path) {
    let resp = server
        .http
        .get(server.url("/v1/sys/backup"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("backup request");
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.expect("backup body");
    std::fs::write(file, &bytes).expect("write backup");
}

/// The audit head a backup file recorded (its `head` line).
fn head_of(file: &Path) -> (u64, String) {
    let text = std::fs::read_to_string(file).expect("read backup");
    let line = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .find(|v| v.get("head").is_some())
        .expect("head line");
    let head = &line["head"];
    (
        head["seq"].as_u64().expect("seq"),
        head["hash"].as_str().expect("hash").to_string(),
    )
}

/// `zoho-vault restore FILE` with `env` choosing the target.
fn restore(dir: &VaultDir, file: &Path, env: &[(String, String)]) {
    let mut cmd = dir.command();
    cmd.env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .arg("restore")
        .arg(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run restore");
    assert!(
        out.status.success(),
        "restore failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the whole chain verifies and still holds event `head` with its
/// hash (the trail was carried over, not restarted).
async fn assert_trail_carried(server: &Server, admin: &str, head: &(u64, String)) {
    let (status, report) = server.get("/v1/audit/verify", Some(admin)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["anchor"]["seq"], 0, "{report}");
    assert!(
        report["head_seq"].as_u64().expect("head_seq") >= head.0,
        "{report}"
    );
    let event = find_event(server, admin, head.0).await;
    assert_eq!(event["hash"], head.1.as_str(), "{event}");
}

/// Event `seq`, searched page by page.
async fn find_event(server: &Server, admin: &str, seq: u64) -> Value {
    let mut after: Option<String> = None;
    loop {
        let mut q = "/v1/audit?order=asc&limit=1000".to_string();
        if let Some(cursor) = &after {
            q.push_str(&format!("&after={cursor}"));
        }
        let (status, page) = server.get(&q, Some(admin)).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events");
        if let Some(e) = events.iter().find(|e| e["seq"] == seq) {
            return e.clone();
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => panic!("event {seq} is not in the restored trail"),
        }
    }
}

async fn issue(server: &Server, token: &str) -> Value {
    let (status, body) = server
        .post("/v1/connections/acme/token", Some(token), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn upload_body(fake: &FakeZoho, client: &Client) -> Value {
    let file = fake.self_client_json(client, &SCOPES, 180).expect("code");
    let mut body = serde_json::to_value(file).expect("json");
    body["accounts_url"] = Value::String(fake.base_url());
    body
}

#[tokio::test]
async fn a_vault_moves_from_sled_to_postgres_and_back_with_its_trail_verifying_and_tokens_served() {
    let Some(db) = pg::database().await else {
        return;
    };
    let fake = FakeZoho::start(Default::default()).expect("fake zoho");
    let client = fake.register_client();
    let files = tempfile::tempdir().expect("tempdir");

    // A sled vault with a connection, a service token and a token issued.
    let sled = VaultDir::new();
    let admin = sled.init(PASSPHRASE);
    let server = Server::start(&sled, Some(PASSPHRASE), &[CUSTOM_ACCOUNTS]);
    let req = server
        .http
        .put(server.url("/v1/connections/acme"))
        .bearer_auth(&admin)
        .json(&upload_body(&fake, &client));
    let (status, body) = answer(req).await;
    assert_eq!(status, 201, "{body}");
    let body = json!({"name": "backend", "connections": ["acme"]});
    let (status, created) = server.post("/v1/service-tokens", Some(&admin), body).await;
    assert_eq!(status, 201, "{created}");
    let service = created["token"].as_str().expect("token").to_string();
    issue(&server, &service).await;
    let from_sled = files.path().join("sled.backup");
    backup(&server, &admin, &from_sled).await;
    server.stop();
    let sled_head = head_of(&from_sled);

    // Into an empty PostgreSQL database.
    let pg_env = backend_env(&db.url);
    let pg_dir = VaultDir::new();
    restore(&pg_dir, &from_sled, &pg_env);
    let env: Vec<(&str, &str)> = pg_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let server = Server::start(&pg_dir, Some(PASSPHRASE), &env);
    assert_eq!(server.health().await["backend"], "postgres");
    assert_trail_carried(&server, &admin, &sled_head).await;
    issue(&server, &service).await;
    let from_pg = files.path().join("pg.backup");
    backup(&server, &admin, &from_pg).await;
    server.stop();
    let pg_head = head_of(&from_pg);
    assert!(pg_head.0 > sled_head.0, "{pg_head:?} {sled_head:?}");

    // And back into a new sled data directory.
    let back = VaultDir::new();
    restore(&back, &from_pg, &[]);
    let server = Server::start(&back, Some(PASSPHRASE), &[CUSTOM_ACCOUNTS]);
    assert_eq!(server.health().await["backend"], "sled");
    assert_trail_carried(&server, &admin, &pg_head).await;
    assert_trail_carried(&server, &admin, &sled_head).await;
    issue(&server, &service).await;
}
