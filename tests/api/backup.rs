//! Backup and restore: `GET /v1/sys/backup`, `zoho-vault backup` (online
//! and `--offline`) and `zoho-vault restore`, end to end with real
//! processes, the fake Zoho and a fresh data directory.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{Planted, Server, TestApp, VaultDir, ZohoApp, PASSPHRASE};

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
pub(crate) fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Asserts the exit code and answers stderr.
#[track_caller]
pub(crate) fn fails(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("error: "), "{err}");
    err
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `zoho-vault restore FILE` into `dir`'s data directory.
pub(crate) fn restore(dir: &VaultDir, file: &Path) -> Output {
    dir.command()
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .args(["restore", path_str(file)])
        .output()
        .expect("run restore")
}

/// `zoho-vault backup --offline FILE` on `dir`'s data directory.
fn offline_backup(dir: &VaultDir, file: &Path) -> Output {
    dir.command()
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .args(["backup", "--offline", path_str(file)])
        .output()
        .expect("run backup")
}

/// The file's bytes plus every entry's key and value base64-decoded, so a
/// secret stored in the clear would be found even inside the encoding.
fn backup_contents(file: &Path) -> Vec<u8> {
    let raw = std::fs::read(file).expect("read backup");
    let mut all = raw.clone();
    for line in String::from_utf8(raw).expect("utf-8").lines() {
        let v: Value = serde_json::from_str(line).expect("json line");
        for field in ["k", "v"] {
            if let Some(b64) = v[field].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64");
                all.push(b'\n');
                all.extend_from_slice(&bytes);
            }
        }
    }
    all
}

#[cfg(unix)]
fn mode(file: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).expect("meta").permissions().mode() & 0o777
}

#[tokio::test]
async fn a_restored_vault_unseals_with_the_old_passphrase_and_serves_the_same_tokens() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let refresh_token = z.import("beta").await;
    let service = z.service_token(&["acme", "beta"]).await;
    let (status, issued) = z.issue("acme", &service, json!({})).await;
    assert_eq!(status, 200, "{issued}");
    let access_token = issued["access_token"].as_str().expect("token").to_string();
    let (status, beta) = z.issue("beta", &service, json!({})).await;
    assert_eq!(status, 200, "{beta}");

    let out_dir = tempfile::tempdir().expect("tempdir");
    let file = out_dir.path().join("vault.backup");
    let out = z.app.cli(&["backup", path_str(&file)]);
    let stdout = ok(&out);
    assert!(stdout.contains("backup written to"), "{stdout}");
    assert!(stdout.contains("entries"), "{stdout}");
    assert!(!out_dir.path().join("vault.backup.partial").exists());
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);

    let mut planted = Planted::default();
    planted.add("client secret", &z.client.client_secret);
    planted.add("refresh token", &refresh_token);
    planted.add("access token", &access_token);
    planted.add(
        "second access token",
        beta["access_token"].as_str().expect("token"),
    );
    planted.add("service token", &service);
    planted.add("admin token", &z.app.admin);
    planted.add("passphrase", PASSPHRASE);
    let contents = backup_contents(&file);
    for secret in planted.secrets() {
        assert!(
            !contents
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "the backup holds a planted secret in plaintext"
        );
    }
    planted.assert_absent("backup stdout", &stdout);
    planted.assert_absent("backup stderr", &String::from_utf8_lossy(&out.stderr));

    // Stop the old vault; restore into a new, empty data directory.
    let ZohoApp { app, fake, client } = z;
    let TestApp { dir, server, admin } = app;
    server.stop();
    drop(dir);
    let new_dir = VaultDir::new();
    let out = restore(&new_dir, &file);
    let stdout = ok(&out);
    assert!(stdout.contains("restored"), "{stdout}");
    assert!(stdout.contains("passphrase the vault had"), "{stdout}");
    planted.assert_absent("restore output", &text(&out));

    let env = [("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true")];
    let server = Server::start(&new_dir, Some(PASSPHRASE), &env);
    let restored = ZohoApp {
        app: TestApp {
            dir: new_dir,
            server,
            admin,
        },
        fake,
        client,
    };
    assert_eq!(restored.app.server.health().await["sealed"], false);
    let (status, again) = restored.issue("acme", &service, json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["access_token"],
        access_token.as_str(),
        "the cached token"
    );
    let (status, list) = restored.app.admin_get("/v1/connections").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["connections"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    let report = restored.app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    let taken = restored.app.events("action=backup_taken").await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert!(taken[0]["actor"]
        .as_str()
        .is_some_and(|a| a.starts_with("admin:")));
    assert_eq!(taken[0]["details"]["mode"], "online");
    restored.app.dir.assert_no_plaintext(&planted.secrets());
}

#[tokio::test]
async fn restore_refuses_a_data_directory_that_holds_a_vault_and_changes_nothing() {
    let app = TestApp::spawn();
    let out_dir = tempfile::tempdir().expect("tempdir");
    let file = out_dir.path().join("old.backup");
    ok(&app.cli(&["backup", path_str(&file)]));
    // Made after the backup: a restore over this vault would lose it.
    let (id, token) = app.create_service_token("after-backup", &["acme"]).await;

    // While the vault runs, and after it stopped: refused, exit 5.
    let err = fails(&restore(&app.dir, &file), 5);
    assert!(
        err.contains("in use") && err.contains("stop the service"),
        "{err}"
    );
    let app = {
        let TestApp { dir, server, admin } = app;
        server.stop();
        let err = fails(&restore(&dir, &file), 5);
        assert!(
            err.contains("not empty") && err.contains("nothing was changed"),
            "{err}"
        );
        let server = Server::start(&dir, Some(PASSPHRASE), &[]);
        TestApp { dir, server, admin }
    };
    let (status, tokens) = app.admin_get("/v1/service-tokens").await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens.to_string().contains(&id), "{tokens}");
    let (status, _) = app
        .server
        .post("/v1/connections/acme/token", Some(&token), json!({}))
        .await;
    assert_ne!(status, 401, "the token made after the backup still works");
    assert_eq!(app.verify().await["ok"], true);

    // An existing backup file is not overwritten without --force.
    let before = std::fs::read(&file).expect("read");
    let err = fails(&app.cli(&["backup", path_str(&file)]), 5);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&file).expect("read"), before);
    ok(&app.cli(&["backup", "--force", path_str(&file)]));
    assert_ne!(std::fs::read(&file).expect("read"), before);
}

/// A stand-in for the vault that answers every request with `status` and
/// `body`, declaring `declared` bytes (more than `body` cuts the transfer).
fn serve_once(body: Vec<u8>, declared: usize, connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: {declared}\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_truncated_backup_is_refused_by_backup_and_by_restore() {
    let app = TestApp::spawn();
    let out_dir = tempfile::tempdir().expect("tempdir");
    let good = out_dir.path().join("good.backup");
    ok(&app.cli(&["backup", path_str(&good)]));
    let bytes = std::fs::read(&good).expect("read");
    let text_ = String::from_utf8(bytes.clone()).expect("utf-8");
    // Whole lines missing at the end (no trailer), and a cut mid-line.
    let lines: Vec<&str> = text_.lines().collect();
    let no_trailer = format!("{}\n", lines[..lines.len() - 1].join("\n")).into_bytes();
    let mid_line = bytes[..bytes.len() * 2 / 3].to_vec();

    // restore: refused with exit 2, and the new data directory is untouched.
    for (name, cut) in [("no-trailer", &no_trailer), ("mid-line", &mid_line)] {
        let file = out_dir.path().join(format!("{name}.backup"));
        std::fs::write(&file, cut).expect("write");
        let target = VaultDir::new();
        let err = fails(&restore(&target, &file), 2);
        assert!(err.contains("truncated"), "{name}: {err}");
        assert!(err.contains("nothing was restored"), "{name}: {err}");
        assert!(!target.data().join("store-v1").exists(), "{name}");
    }

    // backup: a vault that sends a truncated file, or cuts the transfer.
    for (name, body, declared) in [
        ("short body", no_trailer.clone(), no_trailer.len()),
        ("cut transfer", mid_line.clone(), bytes.len()),
    ] {
        let addr = serve_once(body, declared, 1);
        let target = out_dir.path().join("download.backup");
        let out = app
            .dir
            .command()
            .args(["backup", path_str(&target)])
            .env("ZOHO_VAULT_ADDR", &addr)
            .env("ZOHO_VAULT_TOKEN", &app.admin)
            .output()
            .expect("run backup");
        assert!(!out.status.success(), "{name}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            err.contains("incomplete or damaged") || err.contains("cut off"),
            "{name}: {err}"
        );
        assert!(!target.exists(), "{name}");
        assert!(
            !out_dir.path().join("download.backup.partial").exists(),
            "{name}"
        );
    }
}

#[test]
fn restore_and_unseal_without_a_passphrase_are_both_usage_errors_that_name_the_flag() {
    let dir = VaultDir::new();
    dir.init(PASSPHRASE);
    let out_dir = tempfile::tempdir().expect("tempdir");
    let file = out_dir.path().join("offline.backup");
    ok(&offline_backup(&dir, &file));

    // No ZOHO_VAULT_PASSPHRASE, no file, no terminal.
    let target = VaultDir::new();
    let restore = target
        .command()
        .args(["restore", path_str(&file)])
        .output()
        .expect("run restore");
    let unseal = dir
        .command()
        .args(["unseal", "--addr", "http://127.0.0.1:9"])
        .output()
        .expect("run unseal");
    for (command, out) in [("restore", restore), ("unseal", unseal)] {
        let err = fails(&out, 2);
        assert!(
            err.contains("--passphrase-file") && err.contains("ZOHO_VAULT_PASSPHRASE"),
            "{command}: {err}"
        );
    }
    assert!(!target.data().join("store-v1").exists());
}

#[tokio::test]
async fn offline_backup_works_with_the_server_stopped_and_is_refused_while_it_runs() {
    let app = TestApp::spawn();
    let (_id, service) = app.create_service_token("svc", &["acme"]).await;
    let out_dir = tempfile::tempdir().expect("tempdir");
    let file = out_dir.path().join("offline.backup");

    let err = fails(&offline_backup(&app.dir, &file), 5);
    assert!(
        err.contains("stop the service") && err.contains("drop --offline"),
        "{err}"
    );
    assert!(!file.exists());
    assert!(!out_dir.path().join("offline.backup.partial").exists());

    let TestApp { dir, server, admin } = app;
    server.stop();
    let stdout = ok(&offline_backup(&dir, &file));
    assert!(stdout.contains("entries"), "{stdout}");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    drop(dir);

    let new_dir = VaultDir::new();
    ok(&restore(&new_dir, &file));
    // Sealed at first: the restored vault needs the passphrase.
    let server = Server::start(&new_dir, None, &[]);
    assert_eq!(server.health().await["sealed"], true);
    assert_eq!(server.unseal("not the passphrase at all").await, 401);
    assert_eq!(server.unseal(PASSPHRASE).await, 200);
    let restored = TestApp {
        dir: new_dir,
        server,
        admin,
    };
    let (status, tokens) = restored.admin_get("/v1/service-tokens").await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(restored.verify().await["ok"], true);
    // The operator's backup was recorded (pending, chained at the unseal).
    let taken = restored.events("action=backup_taken").await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0]["actor"], "operator");
    assert_eq!(taken[0]["details"]["mode"], "offline");
    let (status, _) = restored
        .server
        .post("/v1/connections/acme/token", Some(&service), json!({}))
        .await;
    assert_ne!(status, 401, "the service token was restored");
}

#[tokio::test]
async fn the_backup_route_is_for_admins_streams_a_download_and_fails_closed() {
    let app = TestApp::spawn_with(&[("ZOHO_VAULT_AUDIT__FAULT_INJECTION", "true")]);
    let (_id, service) = app.create_service_token("svc", &["acme"]).await;
    let url = app.server.url("/v1/sys/backup");
    let http = &app.server.http;

    let resp = http.get(&url).send().await.expect("send");
    assert_eq!(resp.status(), 401);
    let resp = http
        .get(&url)
        .bearer_auth(&service)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);

    let resp = http
        .get(&url)
        .bearer_auth(&app.admin)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "application/x-ndjson");
    assert_eq!(header("cache-control"), "no-store");
    let disposition = header("content-disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"zoho-vault-")
            && disposition.ends_with("Z.backup\""),
        "{disposition}"
    );
    let body = resp.bytes().await.expect("body");
    let summary = zoho_vault::backup::verify(body.as_ref(), None).expect("a whole backup");
    assert!(summary.entries > 0);

    // No audit event, no backup.
    let (status, _) = app
        .admin_post("/v1/sys/audit-faults", json!({ "fail_next": 1 }))
        .await;
    assert_eq!(status, 200);
    let resp = http
        .get(&url)
        .bearer_auth(&app.admin)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.expect("json error");
    assert_eq!(body["error"]["code"], "audit_unavailable", "{body}");
    let taken = app.events("action=backup_taken").await;
    assert_eq!(taken.len(), 1, "only the backup that was taken: {taken:?}");

    // Sealed: no backup either.
    let (status, _) = app.admin_post("/v1/sys/seal", json!({})).await;
    assert_eq!(status, 200);
    let resp = http
        .get(&url)
        .bearer_auth(&app.admin)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
}
