//! The documented example creates an invoice with a vault-issued token.

use std::path::PathBuf;

use crate::helpers::ZohoApp;

fn example_binary() -> PathBuf {
    // `cargo test --all-targets` builds examples next to the binaries.
    let bin = PathBuf::from(crate::helpers::bin());
    let dir = bin.parent().expect("target dir");
    dir.join("examples").join("create_invoice")
}

#[tokio::test]
async fn the_create_invoice_example_creates_an_invoice_with_a_vault_token() {
    let path = example_binary();
    if !path.exists() {
        let built = std::process::Command::new(env!("CARGO"))
            .args(["build", "--example", "create_invoice"])
            .status()
            .expect("cargo build --example");
        assert!(built.success());
    }
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    let before = z.fake.counters().invoice_calls;
    let out = std::process::Command::new(&path)
        .args(["acme", "10234695"])
        .env("ZOHO_VAULT_ADDR", &z.app.server.base)
        .env("ZOHO_VAULT_TOKEN", &svc)
        .output()
        .expect("run example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("created invoice"), "{stdout}");
    assert_eq!(z.fake.counters().invoice_calls, before + 2);
}
