//! Lifecycle on PostgreSQL: init once, every replica unseals itself and
//! serves the same vault.

use serde_json::json;
use sqlx::Connection;

use std::process::{Output, Stdio};

use crate::cluster::{backend_env, init_command, run_init, Cluster};
use crate::helpers::{admin_token_from, Server, VaultDir, PASSPHRASE};
use crate::pg;

/// Every record row, in key order, as (tree, key, value).
async fn rows(url: &str) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    // Not the webhook outbox: a replica's worker drains it as it fans
    // events out, whichever replica queued them.
    sqlx::query_as(
        "SELECT tree, key, value FROM zv_records WHERE tree <> 'webhook_outbox' ORDER BY tree, key",
    )
    .fetch_all(&mut conn)
    .await
    .expect("rows")
}

#[tokio::test]
async fn init_on_an_empty_database_prints_an_admin_token_and_a_second_init_changes_nothing() {
    let Some(db) = pg::database().await else {
        return;
    };
    let first = run_init(&db.url);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(admin_token_from(&first).starts_with("zva_"));
    let before = rows(&db.url).await;
    assert!(!before.is_empty());

    let second = run_init(&db.url);
    assert!(!second.status.success(), "a second init must be refused");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already initiali"), "{stderr}");
    assert!(!String::from_utf8_lossy(&second.stdout).contains("admin token"));
    assert_eq!(rows(&db.url).await, before, "the refused init changed rows");
}

#[tokio::test]
async fn two_inits_at_once_on_an_empty_database_make_one_vault_and_refuse_the_other_clearly() {
    let Some(db) = pg::database().await else {
        return;
    };
    // Both processes are started before either is waited for.
    let (dir_a, mut a) = init_command(&db.url);
    let (dir_b, mut b) = init_command(&db.url);
    let children: Vec<_> = [&mut a, &mut b]
        .into_iter()
        .map(|cmd| {
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn init")
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait init"))
        .collect();
    drop((dir_a, dir_b));
    let text = |o: &Output| {
        format!(
            "status {}; stdout: {}; stderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let (won, lost): (Vec<&Output>, Vec<&Output>) =
        outputs.iter().partition(|o| o.status.success());
    assert_eq!(
        won.len(),
        1,
        "exactly one init succeeds: {}",
        outputs.iter().map(text).collect::<Vec<_>>().join(" | ")
    );
    let admin = admin_token_from(won[0]);
    assert!(admin.starts_with("zva_"), "{}", text(won[0]));
    let refused = lost[0];
    assert!(
        !String::from_utf8_lossy(&refused.stdout).contains("admin token"),
        "{}",
        text(refused)
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("already initiali"), "{}", text(refused));

    // One header, and the vault it describes is whole: a replica unseals
    // with the passphrase and the winner's admin token works on it.
    let headers: i64 = {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        sqlx::query_scalar("SELECT count(*) FROM zv_records WHERE tree = 'meta' AND key = 'header'")
            .fetch_one(&mut conn)
            .await
            .expect("count headers")
    };
    assert_eq!(headers, 1);
    let dir = VaultDir::new();
    let env = backend_env(&db.url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with_args(&dir, Some(PASSPHRASE), &env, &[]);
    let (status, body) = server.get("/v1/audit/verify", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
}

#[tokio::test]
async fn a_replica_on_postgres_serves_tokens_and_health_names_the_backend_and_node() {
    let Some(c) = Cluster::start(1, &[]).await else {
        return;
    };
    let health = c.at(0).health().await;
    assert_eq!(health["backend"], "postgres", "{health}");
    assert_eq!(health["node"], "replica-0", "{health}");
    assert_eq!(health["sealed"], false, "{health}");

    c.connect(0, "acme").await;
    let (_, svc) = c.service_token(0, &["acme"]).await;
    let (status, body) = c.issue(0, "acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn serve_with_init_on_an_initialised_database_only_unseals_and_serves_the_same_vault() {
    let Some(mut c) = Cluster::start(1, &[]).await else {
        return;
    };
    c.connect(0, "acme").await;
    let (_, svc) = c.service_token(0, &["acme"]).await;
    let (_, on_first) = c.issue(0, "acme", &svc, json!({})).await;

    let rows_before = rows(&c.db.url).await.len();
    let second = c.add_replica(&["--init"]);
    let health = c.at(second).health().await;
    assert_eq!(health["sealed"], false, "{health}");
    assert_eq!(health["node"], "replica-1", "{health}");
    let log = c.at(second).log_text();
    assert!(
        !log.contains("The vault is initialised"),
        "serve --init initialised again: {log}"
    );

    // The token and the connection made through the first replica work
    // on the second, which serves the same cached access token.
    let (status, on_second) = c.issue(second, "acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{on_second}");
    assert_eq!(on_second["access_token"], on_first["access_token"]);
    assert_eq!(c.fake.counters().refreshes, 0);
    assert!(rows(&c.db.url).await.len() >= rows_before);

    // One audit trail: either replica lists and verifies both issues.
    for i in [0, second] {
        let (status, page) = c
            .at(i)
            .get("/v1/audit?action=token_issued", Some(&c.admin))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["events"].as_array().map(Vec::len), Some(2), "{page}");
        let (status, report) = c.at(i).get("/v1/audit/verify", Some(&c.admin)).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["ok"], true, "{report}");
    }
}
