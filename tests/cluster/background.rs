//! Background work runs once across replicas: refresh-ahead and the
//! keep-alive refresh each due connection on one replica per cycle, never
//! on every replica that sees it due.
//!
//! The replicas read their wall clock through the test hook
//! `ZV_FAKE_CLOCK_FILE` (one shared file): moving it forwards makes a
//! cached token due, or a connection idle, on all of them at once. The
//! fake Zoho counts the upstream refreshes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use zoho_vault::fake_zoho::ConfigPatch;

use crate::cluster::Cluster;
use crate::helpers::Server;

const REPLICAS: usize = 3;

/// The replicas' shared clock offset (whole seconds).
struct Clock {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl Clock {
    fn new() -> Clock {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("clock-offset");
        write_offset(&file, 0);
        Clock { _dir: dir, file }
    }

    fn path(&self) -> &str {
        self.file.to_str().expect("utf-8 path")
    }

    fn set(&self, secs: i64) {
        write_offset(&self.file, secs);
    }
}

fn write_offset(file: &Path, secs: i64) {
    // One rename, so a replica never reads half a number.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, secs.to_string()).expect("offset");
    std::fs::rename(&tmp, file).expect("offset");
}

/// The sum of the values of `series` (a metric name with its labels) in
/// a replica's `GET /metrics`.
async fn metric(server: &Server, series: &str) -> f64 {
    let text = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.trim().parse::<f64>().ok())
        .sum()
}

/// Polls `done` until it holds; the deadline only bounds a hang.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn refresh_ahead_on_three_replicas_refreshes_a_due_connection_once_per_cycle() {
    let clock = Clock::new();
    let Some(c) = Cluster::start(
        REPLICAS,
        &[
            ("ZV_FAKE_CLOCK_FILE", clock.path()),
            ("ZOHO_VAULT_REFRESH_AHEAD__INTERVAL_SECS", "1"),
            ("ZOHO_VAULT_REFRESH_AHEAD__AHEAD_SECS", "3000"),
            ("ZOHO_VAULT_REFRESH_AHEAD__ACTIVE_SECS", "86400"),
            ("ZOHO_VAULT_REFRESH_AHEAD__KEEPALIVE_SECS", "0"),
        ],
    )
    .await
    else {
        return;
    };
    c.connect(0, "acme").await;
    let (_, svc) = c.service_token(0, &["acme"]).await;
    // Every replica has the connection in use and its token cached.
    let mut token = String::new();
    for i in 0..REPLICAS {
        let (status, body) = c.issue(i, "acme", &svc, json!({})).await;
        assert_eq!(status, 200, "replica {i}: {body}");
        token = body["access_token"].as_str().expect("token").to_string();
    }
    assert_eq!(c.fake.counters().refreshes, 0);

    for cycle in 1..=3u64 {
        // 2000 s later a 3600 s token is past half its life and within
        // `ahead_secs` of expiry: due on every replica at once.
        clock.set(2000 * cycle as i64);
        let previous = token.clone();
        let mut seen = Vec::new();
        for i in 0..REPLICAS {
            let deadline = Instant::now() + Duration::from_secs(60);
            let answer = loop {
                let (status, body) = c.issue(i, "acme", &svc, json!({})).await;
                assert_eq!(status, 200, "replica {i}: {body}");
                let answer = body["access_token"].as_str().expect("token").to_string();
                if answer != previous {
                    break answer;
                }
                // The deadline only bounds a hang.
                assert!(
                    Instant::now() < deadline,
                    "replica {i} never serves the cycle's new token"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            seen.push(answer);
        }
        assert!(
            seen.iter().all(|t| *t == seen[0]),
            "cycle {cycle}: replicas serve different tokens: {seen:?}"
        );
        token = seen[0].clone();
        // Every replica now holds the new token, so none has anything
        // due left: the count is final for this cycle.
        assert_eq!(c.fake.counters().refreshes, cycle, "cycle {cycle}");
    }
}

#[tokio::test]
async fn the_keep_alive_sweep_on_three_replicas_refreshes_each_idle_connection_once() {
    let clock = Clock::new();
    let Some(mut c) = Cluster::start(
        0,
        &[
            ("ZV_FAKE_CLOCK_FILE", clock.path()),
            ("ZOHO_VAULT_REFRESH_AHEAD__INTERVAL_SECS", "1"),
            ("ZOHO_VAULT_REFRESH_AHEAD__AHEAD_SECS", "0"),
        ],
    )
    .await
    else {
        return;
    };
    // The replica that uploads runs no keep-alive of its own.
    let uploader = c.add_replica_with(&[], &[("ZOHO_VAULT_REFRESH_AHEAD__KEEPALIVE_SECS", "0")]);
    let names = ["alpha", "bravo", "charlie"];
    for name in names {
        c.connect(uploader, name).await;
    }
    // Idle for longer than the keep-alive period by every replica's clock;
    // a slow Zoho keeps the sweep going while the other replicas start.
    clock.set(700);
    c.fake
        .update_config(ConfigPatch {
            latency_ms: Some(500),
            ..Default::default()
        })
        .expect("latency");
    let sweepers: Vec<usize> = (0..REPLICAS)
        .map(|_| c.add_replica_with(&[], &[("ZOHO_VAULT_REFRESH_AHEAD__KEEPALIVE_SECS", "600")]))
        .collect();

    // Each sweeper decides once whether the sweep is its own.
    let decided = |i: usize| {
        let server = c.at(i);
        async move {
            metric(
                server,
                "zoho_vault_background_claims_total{job=\"keep_alive\",outcome=\"claimed\"}",
            )
            .await
                + metric(
                    server,
                    "zoho_vault_background_claims_total{job=\"keep_alive\",outcome=\"skipped\"}",
                )
                .await
        }
    };
    for &i in &sweepers {
        eventually(
            &format!("replica {i} looks at the keep-alive"),
            || async move { decided(i).await >= 1.0 },
        )
        .await;
    }
    let mut claimed = 0.0;
    for &i in &sweepers {
        claimed += metric(
            c.at(i),
            "zoho_vault_background_claims_total{job=\"keep_alive\",outcome=\"claimed\"}",
        )
        .await;
    }
    assert_eq!(claimed, 1.0, "exactly one replica sweeps");
    eventually("the sweep refreshes every idle connection", || async {
        c.fake.counters().refreshes >= names.len() as u64
    })
    .await;
    // Nobody else sweeps this period, so nothing more can come.
    assert_eq!(c.fake.counters().refreshes, names.len() as u64);
}
