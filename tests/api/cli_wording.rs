//! What the `zoho-vault` client commands say where a new user was misled:
//! a `--proxy-path` that does not bind the token, a re-upload that
//! replaced rather than created, and an access token Zoho refused.

use std::process::Output;

use serde_json::json;

use crate::helpers::{ZohoApp, SCOPES};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Asserts success; answers (stdout, stderr).
#[track_caller]
fn ok(out: &Output) -> (String, String) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    (stdout, stderr)
}

#[tokio::test]
async fn proxy_paths_without_proxy_access_are_created_with_a_warning_on_stderr() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let create = ["service-token", "create", "--name", "billing"];
    let (stdout, stderr) = ok(&z.app.cli(
        &[
            &create[..],
            &["--connection", "acme", "--proxy-path", "/invoice/v3/"],
        ]
        .concat(),
    ));
    let token = stdout.trim();
    assert!(token.starts_with("zvs_"), "the token alone: {stdout}");
    assert!(stderr.contains("warning:"), "{stderr}");
    assert!(
        stderr.contains("--access proxy") && stderr.contains("fetch access tokens"),
        "{stderr}"
    );
    // Created all the same: it may still fetch tokens (as the API allows).
    let (status, issued) = z.issue("acme", token, json!({})).await;
    assert_eq!(status, 200, "{issued}");

    let (_, stderr) = ok(&z.app.cli(
        &[
            &create[..],
            &[
                "--connection",
                "acme",
                "--access",
                "proxy",
                "--proxy-path",
                "/invoice/v3/",
            ],
        ]
        .concat(),
    ));
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[tokio::test]
async fn uploading_over_a_needs_reauth_connection_says_replaced_not_created() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    let rt = z.import("acme").await;
    assert!(z.fake.revoke(&rt));
    let (status, err) = z
        .issue("acme", &z.app.admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 409, "{err}");

    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("self_client.json");
    let json = z
        .fake
        .self_client_json(&z.client, &SCOPES, 180)
        .expect("code");
    std::fs::write(&file, serde_json::to_string(&json).expect("json")).expect("write");
    let fake = z.fake.base_url();
    let args = [
        "connection",
        "add",
        "acme",
        file.to_str().expect("utf-8"),
        "--accounts-url",
        &fake,
    ];
    let (stdout, _) = ok(&z.app.cli(&args));
    assert!(stdout.contains("replaced connection `acme`"), "{stdout}");
    assert!(!stdout.contains("created connection"), "{stdout}");
    assert!(stdout.contains("active"), "{stdout}");
}

#[tokio::test]
async fn an_access_token_zoho_refused_is_no_longer_shown_when_the_refresh_fails() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let token = z.service_token(&["acme"]).await;
    let (shown, _) = ok(&z.app.cli(&["connection", "show", "acme"]));
    assert!(shown.contains("cached, expires"), "{shown}");

    // Zoho refuses the cached token, and the refresh that follows fails
    // for a while: the connection is degraded, with no live token.
    z.fake.expire_access_tokens();
    z.fake
        .inject_fault(zoho_vault::fake_zoho::FaultKind::Status503, 50);
    let resp = z
        .app
        .server
        .http
        .get(z.app.server.url("/v1/proxy/acme/crm/v2/Leads"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_ne!(resp.status(), 200);

    let (status, view) = z.app.admin_get("/v1/connections/acme").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["health"]["state"], "degraded", "{view}");
    assert!(view["token"].is_null(), "a refused token: {view}");
    let (shown, _) = ok(&z.app.cli(&["connection", "show", "acme"]));
    assert!(shown.contains("none cached"), "{shown}");
}
