//! What an operator meets first: `status` proving the token, the vault
//! address, `serve` binding before it creates anything, help texts, a clean
//! stop on Ctrl-C, secrets left on disk, TLS trust and certificate reload,
//! long operations, completions and the man page, and health for probes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;

use serde_json::Value;

use crate::helpers::{Server, TestApp, VaultDir, ZohoApp, PASSPHRASE, SCOPES};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Runs the CLI against `base` with `token` (none when `None`).
fn cli_at(dir: &VaultDir, base: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = dir.command();
    cmd.env("ZOHO_VAULT_ADDR", base);
    if let Some(t) = token {
        cmd.env("ZOHO_VAULT_TOKEN", t);
    }
    cmd.args(args).output().expect("run zoho-vault")
}

#[track_caller]
fn exit_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

// ---- GET /v1/auth/self and `status` ----

#[tokio::test]
async fn auth_self_answers_who_an_admin_token_is() {
    let app = TestApp::spawn();
    let (status, me) = app.admin_get("/v1/auth/self").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["kind"], "admin");
    assert_eq!(me["name"], "initial admin");
    assert!(me["id"].as_str().is_some_and(|id| id.starts_with("tok_")));
    assert_eq!(me["expires_at"], Value::Null);
    assert!(
        me.get("token").is_none() && me.get("hash").is_none(),
        "{me}"
    );
}

#[tokio::test]
async fn auth_self_answers_a_service_tokens_grants() {
    let app = TestApp::spawn();
    let (id, token) = app
        .create_service_token("billing", &["acme", "globex"])
        .await;
    let (status, me) = app.server.get("/v1/auth/self", Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["kind"], "service");
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["name"], "billing");
    assert_eq!(me["connections"], serde_json::json!(["acme", "globex"]));
}

#[tokio::test]
async fn auth_self_refuses_a_made_up_token() {
    let app = TestApp::spawn();
    let made_up = format!("zva_{}", "A".repeat(43));
    let (status, body) = app.server.get("/v1/auth/self", Some(&made_up)).await;
    assert_eq!(status, 401, "{body}");
}

#[test]
fn status_shows_who_the_token_is() {
    let app = TestApp::spawn();
    let out = app.cli(&["status"]);
    exit_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("admin `initial admin`"), "{text}");
    assert!(text.contains("expires") && text.contains("never"), "{text}");
}

#[test]
fn status_exits_3_when_the_token_is_refused() {
    let app = TestApp::spawn();
    let made_up = format!("zva_{}", "A".repeat(43));
    let out = cli_at(&app.dir, &app.server.base, Some(&made_up), &["status"]);
    exit_code(&out, 3);
    assert!(stdout(&out).contains("sealed"), "{}", stdout(&out));
}

#[tokio::test]
async fn status_exits_2_when_the_vault_is_sealed() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let server = Server::start(&dir, None, &[]);
    let out = cli_at(&dir, &server.base, Some(&admin), &["status"]);
    exit_code(&out, 2);
    assert!(
        stderr(&out).contains("zoho-vault unseal"),
        "{}",
        stderr(&out)
    );
    let json = cli_at(&dir, &server.base, None, &["status", "--json"]);
    exit_code(&json, 2);
    let body: Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(body["sealed"], true);
}

// ---- the vault address ----

#[test]
fn an_address_without_a_scheme_is_a_usage_error_that_suggests_http() {
    let dir = VaultDir::new();
    let out = cli_at(&dir, "127.0.0.1:8700", None, &["status"]);
    exit_code(&out, 2);
    assert!(
        stderr(&out).contains("http://127.0.0.1:8700"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_server_that_is_not_a_vault_is_named_as_such() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\n<h1>?</h1",
            );
        }
    });
    let dir = VaultDir::new();
    let out = cli_at(&dir, &base, Some("zva_x"), &["connection", "list"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("is ZOHO_VAULT_ADDR / --addr the vault's address"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn connection_refused_suggests_starting_the_vault() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = VaultDir::new();
    let out = cli_at(&dir, &format!("http://127.0.0.1:{port}"), None, &["status"]);
    exit_code(&out, 6);
    assert!(
        stderr(&out).contains("zoho-vault serve"),
        "{}",
        stderr(&out)
    );
}

// ---- serve --init binds first ----

#[test]
fn serve_init_on_a_busy_port_creates_nothing_and_names_the_address() {
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let dir = VaultDir::new();
    let out = dir
        .command()
        .args(["serve", "--init"])
        .env("ZOHO_VAULT_LISTEN", &addr)
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&addr) && err.contains("ZOHO_VAULT_LISTEN"),
        "{err}"
    );
    assert!(!stdout(&out).contains("admin token"), "{}", stdout(&out));
    assert!(!dir.data().exists(), "the data directory was created");
}

#[test]
fn serve_init_with_a_passphrase_too_short_is_a_usage_error_and_creates_nothing() {
    let dir = VaultDir::new();
    let out = dir
        .command()
        .args(["serve", "--init"])
        .env("ZOHO_VAULT_PASSPHRASE", "short")
        .output()
        .expect("run serve");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("at least 12 characters"),
        "{}",
        stderr(&out)
    );
    let left: Vec<_> = std::fs::read_dir(dir.data())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "serve --init left {left:?} behind");
}

// ---- help texts ----

#[test]
fn serve_and_unseal_help_list_the_environment_they_read() {
    let dir = VaultDir::new();
    let serve = stdout(
        &dir.command()
            .args(["serve", "--help"])
            .output()
            .expect("run"),
    );
    for var in [
        "ZOHO_VAULT_PASSPHRASE",
        "ZOHO_VAULT_LISTEN",
        "ZOHO_VAULT_DATA_DIR",
        "ZOHO_VAULT_CONFIG",
    ] {
        assert!(serve.contains(var), "serve --help lacks {var}: {serve}");
    }
    let unseal = stdout(
        &dir.command()
            .args(["unseal", "--help"])
            .output()
            .expect("run"),
    );
    for var in [
        "ZOHO_VAULT_PASSPHRASE",
        "ZOHO_VAULT_ADDR",
        "ZOHO_VAULT_CACERT",
    ] {
        assert!(unseal.contains(var), "unseal --help lacks {var}: {unseal}");
    }
}

#[test]
fn connection_add_usage_mentions_the_refresh_token_file_and_not_the_token() {
    let dir = VaultDir::new();
    let out = dir
        .command()
        .args(["connection", "add"])
        .env("ZOHO_VAULT_TOKEN", "zva_x")
        .output()
        .expect("run");
    exit_code(&out, 2);
    let err = stderr(&out);
    let usage = err
        .lines()
        .skip_while(|l| !l.starts_with("Usage:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(usage.contains("--refresh-token-file"), "{err}");
    assert!(!usage.contains("--token"), "{err}");
}

// ---- a clean stop ----

#[test]
fn ctrl_c_logs_a_clean_stop() {
    let app = TestApp::spawn();
    let TestApp {
        server, dir: _dir, ..
    } = app;
    server.signal("INT");
    let log_path = server.log.clone();
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(log_path).expect("log");
    assert!(!log.contains("forced shutdown"), "{log}");
    assert!(
        log.contains("SIGINT") && log.contains("store flushed"),
        "{log}"
    );
}

// ---- secrets left on disk ----

#[test]
fn connection_add_warns_about_a_world_readable_file_and_reminds_to_delete_it() {
    use std::os::unix::fs::PermissionsExt;
    let z = ZohoApp::spawn();
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("self_client.json");
    let json = z
        .fake
        .self_client_json(&z.client, &SCOPES, 180)
        .expect("code");
    std::fs::write(&file, serde_json::to_string(&json).expect("json")).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let fake = z.fake.base_url();
    let path = file.to_str().expect("utf-8");
    let out = cli_at(
        &z.app.dir,
        &z.app.server.base,
        Some(&z.app.admin),
        &["connection", "add", "acme", path, "--accounts-url", &fake],
    );
    exit_code(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("readable by other users"), "{err}");
    assert!(err.contains(&format!("delete {path}")), "{err}");

    let private = work.path().join("self_client_2.json");
    let json = z
        .fake
        .self_client_json(&z.client, &SCOPES, 180)
        .expect("code");
    std::fs::write(&private, serde_json::to_string(&json).expect("json")).expect("write");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = cli_at(
        &z.app.dir,
        &z.app.server.base,
        Some(&z.app.admin),
        &[
            "connection",
            "add",
            "globex",
            private.to_str().expect("utf-8"),
            "--accounts-url",
            &fake,
        ],
    );
    exit_code(&out, 0);
    assert!(
        !stderr(&out).contains("readable by other users"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn gitignore_keeps_self_client_files_and_data_directories_out_of_git() {
    let ignore = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore"))
        .expect(".gitignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    assert!(lines.contains(&"self_client*.json"), "{ignore}");
    assert!(lines.contains(&"data/"), "{ignore}");
}

// ---- TLS: trusting a private CA, reloading on SIGHUP ----

struct Cert {
    pem: String,
    dir: tempfile::TempDir,
}

fn self_signed(name: &str) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem())
}

fn tls_server(dir: &VaultDir) -> (Server, Cert, std::path::PathBuf, std::path::PathBuf) {
    let (pem, key) = self_signed("first");
    let cert_file = dir.root.path().join("cert.pem");
    let key_file = dir.root.path().join("key.pem");
    std::fs::write(&cert_file, &pem).expect("write");
    std::fs::write(&key_file, key).expect("write");
    let cert_path = cert_file.display().to_string();
    let key_path = key_file.display().to_string();
    let server = Server::start(
        dir,
        Some(PASSPHRASE),
        &[
            ("ZOHO_VAULT_TLS__CERT_FILE", &cert_path),
            ("ZOHO_VAULT_TLS__KEY_FILE", &key_path),
        ],
    );
    let ca_dir = tempfile::tempdir().expect("tempdir");
    (server, Cert { pem, dir: ca_dir }, cert_file, key_file)
}

fn ca_file(cert: &Cert, name: &str) -> String {
    let path = cert.dir.path().join(name);
    std::fs::write(&path, &cert.pem).expect("write");
    path.display().to_string()
}

#[test]
fn the_cli_trusts_a_private_ca_given_with_ca_cert() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let (server, cert, _, _) = tls_server(&dir);
    let untrusted = cli_at(&dir, &server.base, Some(&admin), &["status"]);
    exit_code(&untrusted, 6);
    let ca = ca_file(&cert, "ca.pem");
    let flag = cli_at(
        &dir,
        &server.base,
        Some(&admin),
        &["status", "--ca-cert", &ca],
    );
    exit_code(&flag, 0);
    let mut cmd = dir.command();
    let env = cmd
        .env("ZOHO_VAULT_ADDR", &server.base)
        .env("ZOHO_VAULT_TOKEN", &admin)
        .env("ZOHO_VAULT_CACERT", &ca)
        .args(["status"])
        .output()
        .expect("run");
    exit_code(&env, 0);
    let missing = cli_at(
        &dir,
        &server.base,
        Some(&admin),
        &["status", "--ca-cert", "/nonexistent/ca.pem"],
    );
    exit_code(&missing, 2);
}

#[test]
fn sighup_reloads_the_tls_certificate_without_a_restart() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let (server, old, cert_file, key_file) = tls_server(&dir);
    let (new_pem, new_key) = self_signed("second");
    std::fs::write(&cert_file, &new_pem).expect("write");
    std::fs::write(&key_file, new_key).expect("write");
    let new = Cert {
        pem: new_pem,
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let old_ca = ca_file(&old, "old.pem");
    let new_ca = ca_file(&new, "new.pem");
    // Before the signal the old certificate is still served.
    exit_code(
        &cli_at(
            &dir,
            &server.base,
            Some(&admin),
            &["status", "--ca-cert", &old_ca],
        ),
        0,
    );
    server.signal("HUP");
    server.wait_for_log("TLS certificate and key reloaded");
    exit_code(
        &cli_at(
            &dir,
            &server.base,
            Some(&admin),
            &["status", "--ca-cert", &new_ca],
        ),
        0,
    );
    exit_code(
        &cli_at(
            &dir,
            &server.base,
            Some(&admin),
            &["status", "--ca-cert", &old_ca],
        ),
        6,
    );
}

#[test]
fn a_broken_certificate_on_sighup_keeps_the_one_in_use() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let (server, old, cert_file, _) = tls_server(&dir);
    std::fs::write(&cert_file, "not a certificate").expect("write");
    server.signal("HUP");
    server.wait_for_log("still serving the previous one");
    let old_ca = ca_file(&old, "old.pem");
    exit_code(
        &cli_at(
            &dir,
            &server.base,
            Some(&admin),
            &["status", "--ca-cert", &old_ca],
        ),
        0,
    );
}

// ---- long operations ----

#[test]
fn audit_export_writes_the_whole_file_or_none() {
    let app = TestApp::spawn();
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("audit.jsonl");
    let path = file.to_str().expect("utf-8");
    let out = app.cli(&["audit", "export", "--file", path]);
    exit_code(&out, 0);
    assert!(file.exists());
    assert!(!work.path().join("audit.jsonl.partial").exists());
    // Not a terminal: no progress drawing, only the summary line.
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    let refused = work.path().join("refused.jsonl");
    let made_up = format!("zva_{}", "A".repeat(43));
    let out = cli_at(
        &app.dir,
        &app.server.base,
        Some(&made_up),
        &[
            "audit",
            "export",
            "--file",
            refused.to_str().expect("utf-8"),
        ],
    );
    exit_code(&out, 3);
    assert!(!refused.exists());
    assert!(!work.path().join("refused.jsonl.partial").exists());
}

// ---- completions and man page ----

#[test]
fn completions_and_the_man_page_are_generated() {
    let dir = VaultDir::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = dir
            .command()
            .args(["completions", shell])
            .output()
            .expect("run");
        exit_code(&out, 0);
        let script = stdout(&out);
        assert!(
            script.contains("zoho-vault") && script.contains("service-token"),
            "{shell}: {script}"
        );
    }
    let man = dir.command().arg("man").output().expect("run");
    exit_code(&man, 0);
    let page = stdout(&man);
    assert!(page.contains(".TH zoho-vault"), "{page}");
    let bad = dir
        .command()
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    exit_code(&bad, 2);
}

// ---- health for probes ----

#[tokio::test]
async fn health_is_200_only_when_initialised_and_unsealed() {
    let app = TestApp::spawn();
    let (status, body) = app.server.get("/v1/sys/health", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sealed"], false);
}

#[tokio::test]
async fn health_is_503_while_sealed_unless_sealedcode_says_otherwise() {
    let dir = VaultDir::new();
    dir.init(PASSPHRASE);
    let server = Server::start(&dir, None, &[]);
    let (status, body) = server.get("/v1/sys/health", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["sealed"], true);
    assert_eq!(body["initialized"], true);
    let (status, same) = server.get("/v1/sys/health?sealedcode=200", None).await;
    assert_eq!(status, 200);
    assert_eq!(same, body);
}

#[tokio::test]
async fn health_is_501_when_not_initialised_unless_uninitcode_says_otherwise() {
    let dir = VaultDir::new();
    let server = Server::start(&dir, None, &[]);
    let (status, body) = server.get("/v1/sys/health", None).await;
    assert_eq!(status, 501, "{body}");
    assert_eq!(body["initialized"], false);
    let (status, _) = server.get("/v1/sys/health?uninitcode=299", None).await;
    assert_eq!(status, 299);
    let (status, body) = server.get("/v1/sys/health?uninitcode=42", None).await;
    assert_eq!(status, 400, "{body}");
}
