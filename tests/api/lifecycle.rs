//! init, serve, seal, unseal, rekey, restart, and secrets at rest.

use serde_json::json;

use crate::helpers::{error_code, Server, TestApp, VaultDir, PASSPHRASE};

#[tokio::test]
async fn init_then_serve_is_initialised_and_unsealed() {
    let app = TestApp::spawn();
    assert!(app.admin.starts_with("zva_"));
    let health = app.server.health().await;
    assert_eq!(health["initialized"], true);
    assert_eq!(health["sealed"], false);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn second_init_is_refused_and_changes_nothing() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let out = dir
        .command()
        .arg("init")
        .env("ZOHO_VAULT_PASSPHRASE", "another passphrase entirely")
        .output()
        .expect("run init");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already initialised"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("admin token"));
    // The original passphrase and admin token still work.
    let server = Server::start(&dir, Some(PASSPHRASE), &[]);
    let (status, _) = server.post("/v1/sys/seal", Some(&admin), json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn init_refuses_a_short_passphrase() {
    let dir = VaultDir::new();
    let out = dir
        .command()
        .arg("init")
        .env("ZOHO_VAULT_PASSPHRASE", "short")
        .output()
        .expect("run init");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
}

#[tokio::test]
async fn init_refuses_kdf_parameters_below_the_floor() {
    let dir = VaultDir::new();
    let out = dir
        .command()
        .arg("init")
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .env("ZOHO_VAULT_KDF__MEMORY_KIB", "1024")
        .output()
        .expect("run init");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("memory_kib"));
}

#[tokio::test]
async fn a_server_started_without_passphrase_is_sealed_and_answers_503() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let server = Server::start(&dir, None, &[]);
    let health = server.health().await;
    assert_eq!(health["sealed"], true);
    assert_eq!(health["initialized"], true);
    let (status, body) = server.post("/v1/sys/seal", Some(&admin), json!({})).await;
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "sealed");
}

#[tokio::test]
async fn wrong_passphrase_is_refused_and_the_vault_stays_sealed() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let server = Server::start(&dir, None, &[]);
    let (status, body) = server
        .post(
            "/v1/sys/unseal",
            None,
            json!({"passphrase": "not the passphrase"}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "wrong_passphrase");
    assert_eq!(server.health().await["sealed"], true);
    let (status, _) = server.post("/v1/sys/seal", Some(&admin), json!({})).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn the_right_passphrase_unseals() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let server = Server::start(&dir, None, &[]);
    let (status, body) = server
        .post("/v1/sys/unseal", None, json!({"passphrase": PASSPHRASE}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sealed"], false);
    assert_eq!(server.health().await["sealed"], false);
    let (status, _) = server.post("/v1/sys/seal", Some(&admin), json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_admin_can_seal_and_then_only_health_and_unseal_answer() {
    let app = TestApp::spawn();
    let (status, body) = app
        .server
        .post("/v1/sys/seal", Some(&app.admin), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["sealed"], true);
    assert_eq!(app.server.health().await["sealed"], true);
    let (status, body) = app
        .server
        .post("/v1/sys/seal", Some(&app.admin), json!({}))
        .await;
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "sealed");
    let (status, _) = app
        .server
        .post("/v1/sys/unseal", None, json!({"passphrase": PASSPHRASE}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn serve_with_a_wrong_passphrase_refuses_to_start() {
    let dir = VaultDir::new();
    dir.init(PASSPHRASE);
    let out = dir
        .command()
        .arg("serve")
        .env("ZOHO_VAULT_PASSPHRASE", "not the passphrase")
        .env("ZOHO_VAULT_UNSEAL__BASE_DELAY_MS", "1")
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
}

#[tokio::test]
async fn restart_keeps_the_vault_and_its_tokens() {
    let app = TestApp::spawn();
    let app = app.restarted(Some(PASSPHRASE));
    let (status, _) = app
        .server
        .post("/v1/sys/seal", Some(&app.admin), json!({}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_crash_loses_nothing_that_init_acknowledged() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let server = Server::start(&dir, Some(PASSPHRASE), &[]);
    server.kill();
    let server = Server::start(&dir, Some(PASSPHRASE), &[]);
    let (status, _) = server.post("/v1/sys/seal", Some(&admin), json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rekey_makes_the_new_passphrase_work_and_the_old_one_fail() {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let new_pass = "a brand new passphrase";
    let out = dir
        .command()
        .arg("rekey")
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .env("ZOHO_VAULT_NEW_PASSPHRASE", new_pass)
        .output()
        .expect("run rekey");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let server = Server::start(&dir, None, &[]);
    let (status, _) = server
        .post("/v1/sys/unseal", None, json!({"passphrase": PASSPHRASE}))
        .await;
    assert_eq!(status, 401, "the old passphrase must no longer unseal");
    let (status, _) = server
        .post("/v1/sys/unseal", None, json!({"passphrase": new_pass}))
        .await;
    assert_eq!(status, 200);
    // Records sealed before the rekey still open: the admin token works.
    let (status, _) = server.post("/v1/sys/seal", Some(&admin), json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rekey_with_a_wrong_passphrase_changes_nothing() {
    let dir = VaultDir::new();
    dir.init(PASSPHRASE);
    let out = dir
        .command()
        .arg("rekey")
        .env("ZOHO_VAULT_PASSPHRASE", "not the passphrase")
        .env("ZOHO_VAULT_NEW_PASSPHRASE", "a brand new passphrase")
        .output()
        .expect("run rekey");
    assert!(!out.status.success());
    let server = Server::start(&dir, Some(PASSPHRASE), &[]);
    assert_eq!(server.health().await["sealed"], false);
}

#[tokio::test]
async fn the_data_directory_holds_neither_passphrase_nor_admin_token() {
    let app = TestApp::spawn();
    let app = app.restarted(Some(PASSPHRASE));
    let token_body = app.admin["zva_".len()..].to_string();
    let crate::helpers::TestApp { dir, server, admin } = app;
    let log = server.log_text();
    assert!(log.contains("serving"), "the server log is captured");
    assert!(!log.contains(PASSPHRASE) && !log.contains(&token_body));
    server.stop();
    dir.assert_no_plaintext(&[PASSPHRASE, &admin, &token_body]);
}
