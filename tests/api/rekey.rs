//! Rekey is offline only (`zoho-vault rekey` on a stopped vault; there is
//! no HTTP route). These tests pin both halves: against a running service
//! it is refused cleanly and changes nothing, and after an offline rekey
//! the vault serves tokens under the new passphrase with every issue
//! audited and the trail verifying.

use serde_json::json;

use crate::helpers::{Server, TestApp, ZohoApp, PASSPHRASE};

const NEW_PASSPHRASE: &str = "a brand new passphrase for the rekey";

fn rekey(dir: &crate::helpers::VaultDir) -> std::process::Output {
    dir.command()
        .arg("rekey")
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .env("ZOHO_VAULT_NEW_PASSPHRASE", NEW_PASSPHRASE)
        .output()
        .expect("run rekey")
}

#[tokio::test]
async fn rekey_while_the_service_runs_is_refused_and_changes_nothing() {
    let z = ZohoApp::spawn();
    z.import("acme").await;
    let token = z.service_token(&["acme"]).await;
    assert_eq!(z.issue("acme", &token, json!({})).await.0, 200);

    let out = rekey(&z.app.dir);
    assert!(!out.status.success(), "rekey ran against a live store");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error"), "a clean error, not a panic: {err}");
    assert!(!err.contains("panicked"), "{err}");

    // The service never noticed.
    let (status, body) = z.issue("acme", &token, json!({})).await;
    assert_eq!(status, 200, "{body}");
    // And the old passphrase still unseals after a restart.
    let app = z.app.restarted(None);
    assert_eq!(app.server.unseal(NEW_PASSPHRASE).await, 401);
    assert_eq!(app.server.unseal(PASSPHRASE).await, 200);
}

#[tokio::test]
async fn after_an_offline_rekey_tokens_are_issued_audited_and_the_trail_verifies() {
    let z = ZohoApp::spawn();
    z.import("acme").await;
    let token = z.service_token(&["acme"]).await;
    assert_eq!(z.issue("acme", &token, json!({})).await.0, 200);
    let ZohoApp { app, fake, client } = z;
    let TestApp { dir, server, admin } = app;
    server.stop();

    let out = rekey(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let env = [
        ("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true"),
        ("ZOHO_VAULT_ZOHO__TIMEOUT_SECS", "2"),
    ];
    let server = Server::start(&dir, Some(NEW_PASSPHRASE), &env);
    let z = ZohoApp {
        app: TestApp { dir, server, admin },
        fake,
        client,
    };
    // Cached and freshly minted tokens alike, with the service token made
    // before the rekey.
    let mut issued = 0;
    for body in [json!({}), json!({"min_valid_secs": 3000}), json!({})] {
        let (status, answer) = z.issue("acme", &token, body).await;
        assert_eq!(status, 200, "{answer}");
        issued += 1;
    }
    let report = z.app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    let events = z.app.all_events("").await;
    let rekeys: Vec<_> = events.iter().filter(|e| e["action"] == "rekey").collect();
    assert_eq!(rekeys.len(), 1, "{rekeys:?}");
    assert_eq!(rekeys[0]["outcome"], "success");
    let after_rekey = events
        .iter()
        .skip_while(|e| e["action"] != "rekey")
        .filter(|e| e["action"] == "token_issued" && e["outcome"] == "success")
        .count();
    assert_eq!(after_rekey, issued, "every 200 after the rekey is audited");
}
