//! Upgrade: a data directory written by the previous release (0.1.0, tree
//! `d438e59`: audit events as JSON in the store, four index entries each,
//! the prune checkpoint beside them) opens with this release, which moves
//! the trail into the audit log once, at the first unseal, with the chain
//! still verifying.
//!
//! The fixture `tests/fixtures/data-dir-0.1.0-d438e59.tar.gz` was made with
//! that release's binary: `init`, `serve` unsealed, three service tokens
//! created, one refused request, one audit query, a prune up to event 2,
//! a seal, and a failed unseal while sealed (a pending event), then
//! SIGTERM. Its passphrase and admin token are below (test data only).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{Server, TestApp, VaultDir};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/data-dir-0.1.0-d438e59.tar.gz"
);
const PASSPHRASE: &str = "legacy fixture passphrase";
const ADMIN: &str = "zva_isNqYg9f-sjLGws8uHP0tCSKXWjUCNyc9JGVhFMly6s";

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().filter_map(|e| e["seq"].as_u64()).collect()
}

#[tokio::test]
async fn a_previous_release_data_directory_moves_its_trail_into_the_log_once() {
    let dir = VaultDir::new();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(FIXTURE)
        .arg("-C")
        .arg(dir.root.path())
        .status()
        .expect("run tar");
    assert!(status.success());
    assert!(!dir.data().join("audit-log").exists());
    let server = Server::start(&dir, None, &[]);
    let app = TestApp {
        dir,
        server,
        admin: ADMIN.into(),
    };
    assert_eq!(app.server.unseal(PASSPHRASE).await, 200);

    let report = app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        report["anchor"]["seq"], 2,
        "the old prune checkpoint: {report}"
    );
    let moved = app.all_events("").await;
    let numbers = seqs(&moved);
    let expected: Vec<u64> = (3..3 + numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "contiguous after the checkpoint");
    // Event 1 was the unseal, 2 the first service token (pruned); the
    // other two are kept.
    let created = app.all_events("action=service_token_created").await;
    assert_eq!(created.len(), 2, "the old release's events are all there");
    let seal = app.all_events("action=seal").await;
    assert_eq!(seal.len(), 1);
    let failed = app.all_events("action=unseal").await;
    assert_eq!(failed[0]["outcome"], "failure", "{failed:?}");
    assert!(failed[0]["seq"].as_u64() > seal[0]["seq"].as_u64());
    assert!(app.dir.data().join("audit-log").is_dir());

    // A restart moves nothing twice: the same events, the same hashes.
    let before: BTreeSet<String> = moved.iter().map(|e| e.to_string()).collect();
    let app = app.restarted(Some(PASSPHRASE));
    let report = app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    let after = app.all_events("").await;
    let numbers = seqs(&after);
    let expected: Vec<u64> = (3..3 + numbers.len() as u64).collect();
    assert_eq!(numbers, expected);
    let kept: BTreeSet<String> = after.iter().map(|e| e.to_string()).collect();
    assert!(before.is_subset(&kept), "an event changed or vanished");
    assert_eq!(
        app.all_events("action=service_token_created").await.len(),
        2
    );
}
