//! No leaks: a full flow (init, upload, import, issue, refresh, bad
//! requests, delete) with every log level at `trace`, then a search for
//! every planted secret in the server log, every error body, and the audit
//! trail (and, for good measure, the data directory).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{ZohoApp, PASSPHRASE, SCOPES};
use crate::support::{call, service_token};

#[tokio::test]
async fn a_full_flow_at_trace_level_leaks_no_secret_to_logs_errors_or_the_audit_trail() {
    let z = ZohoApp::spawn_with(&[
        ("ZOHO_VAULT_LOG__LEVEL", "trace"),
        ("RUST_LOG", "trace"),
        ("ZOHO_VAULT_LOG__FORMAT", "json"),
    ]);
    let s = &z.app.server;
    let admin = z.app.admin.clone();
    let mut secrets: Vec<String> = vec![PASSPHRASE.into(), admin.clone()];
    let mut error_bodies: Vec<Value> = Vec::new();

    // Upload (code exchange): the client secret and the code are secrets.
    z.set_access_token_ttl(3000);
    let upload = z.upload_body();
    secrets.push(upload["client_secret"].as_str().expect("secret").into());
    secrets.push(upload["code"].as_str().expect("code").into());
    let (status, body) = z.put_connection("acme", &upload).await;
    assert_eq!(status, 201, "{body}");
    // Reusing the spent code: an error that must not echo it.
    let (status, body) = z.put_connection("acme2", &upload).await;
    assert!(status >= 400);
    error_bodies.push(body);

    // Import: the refresh token is a secret.
    let rt = z.fake.mint_refresh_token(&z.client, &SCOPES).expect("rt");
    secrets.push(rt.clone());
    let import = json!({"client_id": z.client.client_id, "client_secret": upload["client_secret"],
        "refresh_token": rt, "accounts_url": z.fake.base_url()});
    let (status, body) = z.put_connection("imported", &import).await;
    assert_eq!(status, 201, "{body}");

    // Service token, issue (cached), issue with a refresh.
    let (svc, _) = service_token(s, &admin, &["acme", "imported"], None).await;
    secrets.push(svc.clone());
    for (name, demand) in [
        ("acme", json!({})),
        ("acme", json!({"min_valid_secs": 3000})),
        ("imported", json!({"min_valid_secs": 3000})),
    ] {
        let (status, body) = z.issue(name, &svc, demand).await;
        assert_eq!(status, 200, "{body}");
        secrets.push(body["access_token"].as_str().expect("token").into());
    }

    // Bad requests that carry secrets in the wrong places.
    for body in [
        json!({"passphrase": [PASSPHRASE]}),
        json!({"passphrase": PASSPHRASE, "extra": admin}),
    ] {
        let (_, answer) = call(s, Method::POST, "/v1/sys/unseal", None, Some(body)).await;
        error_bodies.push(answer);
    }
    let mut bad_upload = upload.clone();
    bad_upload["client_secret"] = json!([upload["client_secret"]]);
    let (_, answer) = z.put_connection("acme3", &bad_upload).await;
    error_bodies.push(answer);
    let (_, answer) = call(
        s,
        Method::POST,
        "/v1/connections/acme/token",
        None,
        Some(json!({})),
    )
    .await;
    error_bodies.push(answer);
    let wrong = format!("{}x", &svc[..svc.len() - 1]);
    let (_, answer) = call(
        s,
        Method::POST,
        "/v1/connections/acme/token",
        Some(&wrong),
        None,
    )
    .await;
    error_bodies.push(answer);
    secrets.push(wrong);
    // A token pasted where a name goes is refused, and redacted from the
    // request log and the audit trail.
    for token in [Some(admin.as_str()), None] {
        let (status, answer) = call(
            s,
            Method::GET,
            &format!("/v1/connections/{}", &svc),
            token,
            None,
        )
        .await;
        assert!(status == 400 || status == 401, "{answer}");
        error_bodies.push(answer);
    }

    // Delete with upstream revocation.
    for name in ["acme", "imported"] {
        let (status, body) = call(
            s,
            Method::DELETE,
            &format!("/v1/connections/{name}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }

    let export = s
        .http
        .get(s.url("/v1/audit/export?limit=10000"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    assert!(export.lines().count() > 10, "{export}");
    let log = s.log_text();
    assert!(
        log.contains("TRACE") || log.contains("\"level\":\"TRACE\""),
        "the log was not at trace level"
    );
    assert!(!error_bodies.is_empty());
    let errors = serde_json::to_string(&error_bodies).expect("json");
    for secret in &secrets {
        assert!(secret.len() >= 8);
        assert!(!log.contains(secret.as_str()), "the log holds a secret");
        assert!(
            !errors.contains(secret.as_str()),
            "an error body holds a secret: {errors}"
        );
        assert!(
            !export.contains(secret.as_str()),
            "the audit trail holds a secret"
        );
        // Bearer tokens also without their prefix.
        if let Some(body) = secret.strip_prefix("zva_").or(secret.strip_prefix("zvs_")) {
            assert!(!log.contains(body));
            assert!(!export.contains(body));
        }
    }
    assert!(!log.to_lowercase().contains("authorization: bearer"));
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    z.app.dir.assert_no_plaintext(&refs);
}
