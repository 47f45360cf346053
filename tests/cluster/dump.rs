//! A `pg_dump` of a database that real replicas filled holds no plaintext
//! secret, audit tables included.

use std::process::Command;

use serde_json::json;

use crate::cluster::Cluster;
use crate::console_client::Browser;
use crate::helpers::{answer, SCOPES};
use crate::pg;

/// The plain text, and the hex form pg_dump writes bytea in.
fn found(dump: &str, secret: &str) -> bool {
    dump.contains(secret) || dump.contains(&hex::encode(secret.as_bytes()))
}

#[tokio::test]
async fn a_pg_dump_of_a_cluster_database_in_use_contains_no_planted_secret() {
    let Some(c) = Cluster::start(2, &[]).await else {
        return;
    };
    let pg_dump = pg::tool("pg_dump").expect("pg_dump beside the PostgreSQL binaries");
    // A connection imported with a known refresh token, used on both
    // replicas; its name is the control that the scan reads the tables.
    let name = "planted-connection-7f3a";
    let refresh_token = c
        .fake
        .mint_refresh_token(&c.client, &SCOPES)
        .expect("refresh token");
    let body = json!({"client_id": c.client.client_id, "client_secret": c.client.client_secret,
        "refresh_token": refresh_token, "accounts_url": c.fake.base_url()});
    let server = c.at(0);
    let req = server
        .http
        .put(server.url(&format!("/v1/connections/{name}")))
        .bearer_auth(&c.admin)
        .json(&body);
    let (status, view) = answer(req).await;
    assert_eq!(status, 201, "{view}");
    let (_, svc) = c.service_token(1, &[name]).await;
    let mut access_tokens = Vec::new();
    for i in 0..2 {
        let (status, issued) = c.issue(i, name, &svc, json!({})).await;
        assert_eq!(status, 200, "{issued}");
        access_tokens.push(issued["access_token"].as_str().expect("token").to_string());
    }

    // A console session: its id and CSRF token are secrets too.
    let browser = Browser::new(c.at(0));
    let login = browser.login(&c.admin).await;
    assert_eq!(login.status, 303, "{}", login.html);
    let session_id = login
        .set_cookies()
        .iter()
        .find_map(|c| {
            c.split(';')
                .next()?
                .strip_prefix("zv_session=")
                .map(str::to_string)
        })
        .expect("a session cookie");
    let csrf = browser.get("/ui/service-tokens").await.csrf();

    let out = Command::new(&pg_dump)
        .arg("--dbname")
        .arg(&c.db.url)
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(
        dump.contains("zv_audit_events"),
        "the dump has the audit table"
    );
    assert!(
        found(&dump, name),
        "the scan sees what is stored in the clear"
    );
    let mut secrets = vec![
        ("client secret", c.client.client_secret.clone()),
        ("refresh token", refresh_token),
        ("admin token", c.admin.clone()),
        ("service token", svc),
        ("console session id", session_id),
        ("console CSRF token", csrf),
    ];
    secrets.extend(access_tokens.into_iter().map(|t| ("access token", t)));
    for (label, secret) in &secrets {
        assert!(
            !found(&dump, secret),
            "the dump holds the {label} in the clear"
        );
    }
}
