//! TLS: the vault serves HTTPS with a certificate made in the test, and
//! refuses half a TLS configuration.

use crate::helpers::{Server, TestApp, VaultDir, PASSPHRASE};

#[tokio::test]
async fn the_vault_serves_https_with_the_configured_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let dir = VaultDir::new();
    let cert_file = dir.root.path().join("cert.pem");
    let key_file = dir.root.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).expect("write key");
    let admin = dir.init(PASSPHRASE);
    let cert_path = cert_file.display().to_string();
    let key_path = key_file.display().to_string();
    let server = Server::start(
        &dir,
        Some(PASSPHRASE),
        &[
            ("ZOHO_VAULT_TLS__CERT_FILE", &cert_path),
            ("ZOHO_VAULT_TLS__KEY_FILE", &key_path),
        ],
    );
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );

    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("pem"),
        )
        .build()
        .expect("client");
    for base in [
        server.base.clone(),
        server.base.replace("127.0.0.1", "localhost"),
    ] {
        let resp = client
            .get(format!("{base}/v1/sys/health"))
            .send()
            .await
            .expect("https request");
        assert_eq!(resp.status(), 200);
        let health: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(health["sealed"], false);
    }
    let resp = client
        .get(format!("{}/v1/admin-tokens", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("https request");
    assert_eq!(resp.status(), 200);

    // A client that does not trust the certificate gets nowhere, and
    // plain HTTP on the TLS port gets no answer.
    assert!(reqwest::Client::new()
        .get(format!("{}/v1/sys/health", server.base))
        .send()
        .await
        .is_err());
    let plain = server.base.replace("https://", "http://");
    let answer = reqwest::Client::new()
        .get(format!("{plain}/v1/sys/health"))
        .send()
        .await;
    assert!(answer.map(|r| r.status() != 200).unwrap_or(true));
    // No warning about clear text on loopback, and none with TLS.
    assert!(!server.log_text().contains("without TLS"));
}

#[tokio::test]
async fn half_a_tls_configuration_is_refused_at_start() {
    let app_dir = VaultDir::new();
    app_dir.init(PASSPHRASE);
    let out = app_dir
        .command()
        .arg("serve")
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .env("ZOHO_VAULT_TLS__CERT_FILE", "/nonexistent/cert.pem")
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tls.cert_file and tls.key_file"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_plain_listener_still_works_without_tls_settings() {
    let app = TestApp::spawn();
    assert!(app.server.base.starts_with("http://"));
    assert_eq!(app.server.health().await["sealed"], false);
    // Loopback: nothing crosses a network, so no clear-text warning (the
    // warning itself is `src/startup.rs::a_non_loopback_listener_without_tls_warns_loudly`).
    assert!(!app.server.log_text().contains("without TLS"));
}
