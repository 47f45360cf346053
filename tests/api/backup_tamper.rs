//! A backup cannot be edited or cut short undetected: its trailer is a MAC
//! only the vault can make, and it records the audit chain's head, which a
//! restore checks the trail reaches. Each forgery below recomputes what an
//! attacker can (counts, a SHA-256 in place of the MAC, the head line) and
//! is still refused, changing nothing.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backup::{fails, ok, restore};
use crate::helpers::{Server, TestApp, VaultDir, PASSPHRASE};

/// A vault with a trail of more than 60 events, and its backup's lines.
async fn backed_up() -> (TestApp, tempfile::TempDir, Vec<String>) {
    let app = TestApp::spawn();
    for _ in 0..60 {
        // Each read of the trail is itself an audited event.
        app.events("limit=1").await;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let file = out.path().join("good.backup");
    ok(&app.cli(&["backup", file.to_str().expect("utf-8")]));
    let text = std::fs::read_to_string(&file).expect("read");
    let lines = text.lines().map(str::to_string).collect();
    (app, out, lines)
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).expect("json line")
}

fn is_event(line: &str) -> bool {
    json(line)["t"] == "audit"
}

/// The event an `audit` entry line holds.
fn event_of(line: &str) -> Value {
    let v = B64
        .decode(json(line)["v"].as_str().expect("v"))
        .expect("b64");
    serde_json::from_slice(&v).expect("event json")
}

/// What an attacker without the key can do to the trailer: fix the count
/// and put a SHA-256 of the lines where the MAC was.
fn recompute_trailer(mut lines: Vec<String>) -> String {
    lines.pop();
    let entries = lines.iter().filter(|l| json(l).get("t").is_some()).count();
    let mut hash = Sha256::new();
    for l in &lines {
        hash.update(l.as_bytes());
        hash.update(b"\n");
    }
    let sha = hex::encode(hash.finalize());
    lines.push(format!(
        r#"{{"end":{{"entries":{entries},"mac":"{sha}"}}}}"#
    ));
    lines.join("\n") + "\n"
}

/// Restores `content` into a fresh directory: refused with exit 2, naming
/// `why`, and the directory was not even created.
fn assert_refused(content: &str, dir: &Path, why: &str) -> String {
    let file = dir.join("forged.backup");
    std::fs::write(&file, content).expect("write");
    let target = VaultDir::new();
    let err = fails(&restore(&target, &file), 2);
    assert!(err.contains(why), "{err}");
    assert!(err.contains("nothing was restored"), "{err}");
    assert!(!target.data().join("store-v1").exists());
    err
}

#[tokio::test]
async fn an_edited_event_with_a_recomputed_checksum_is_refused() {
    let (_app, out, mut lines) = backed_up().await;
    let at = lines.iter().position(|l| is_event(l)).expect("an event") + 5;
    let mut event = event_of(&lines[at]);
    event["source"] = Value::from("203.0.113.66");
    let mut entry = json(&lines[at]);
    entry["v"] = Value::from(B64.encode(serde_json::to_vec(&event).expect("json")));
    lines[at] = entry.to_string();
    assert_refused(&recompute_trailer(lines), out.path(), "MAC does not match");
}

#[tokio::test]
async fn the_last_50_events_dropped_with_the_trailer_recomputed_are_refused() {
    let (_app, out, lines) = backed_up().await;
    let events: Vec<usize> = (0..lines.len()).filter(|&i| is_event(&lines[i])).collect();
    assert!(events.len() > 60, "{} events", events.len());
    let dropped = &events[events.len() - 50..];
    let cut: Vec<String> = (0..lines.len())
        .filter(|i| !dropped.contains(i))
        .map(|i| lines[i].clone())
        .collect();
    // The head line still names the real head: the trail falls short.
    assert_refused(
        &recompute_trailer(cut.clone()),
        out.path(),
        "events were dropped",
    );

    // The head line rewritten to the new last event: the MAC gives it away.
    let new_last = event_of(&lines[events[events.len() - 51]]);
    let head_at = cut.len() - 2;
    let mut rewritten = cut;
    rewritten[head_at] = format!(
        r#"{{"head":{{"seq":{},"hash":"{}"}}}}"#,
        new_last["seq"],
        new_last["hash"].as_str().expect("hash")
    );
    assert_refused(
        &recompute_trailer(rewritten),
        out.path(),
        "MAC does not match",
    );
}

#[tokio::test]
async fn a_version_1_backup_is_refused_by_name() {
    let (_app, out, mut lines) = backed_up().await;
    lines[0] = lines[0].replace(r#""version":2"#, r#""version":1"#);
    assert_refused(&recompute_trailer(lines), out.path(), "version 1 backup");
}

#[tokio::test]
async fn a_wrong_passphrase_cannot_restore_and_changes_nothing() {
    let (_app, out, lines) = backed_up().await;
    let file = out.path().join("good.backup");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let target = VaultDir::new();
    let err = fails(
        &target
            .command()
            .env("ZOHO_VAULT_PASSPHRASE", "not the passphrase at all")
            .args(["restore", file.to_str().expect("utf-8")])
            .output()
            .expect("restore"),
        2,
    );
    assert!(err.contains("passphrase does not open"), "{err}");
    assert!(!target.data().join("store-v1").exists());
}

#[tokio::test]
async fn a_good_backup_restores_and_its_trail_verifies_up_to_the_recorded_head() {
    let (app, out, lines) = backed_up().await;
    let head = json(&lines[lines.len() - 2])["head"].clone();
    assert!(head["seq"].as_u64().is_some_and(|s| s > 60), "{head}");
    let target = VaultDir::new();
    let stdout = ok(&restore(&target, &out.path().join("good.backup")));
    assert!(
        stdout.contains(&format!("event {}", head["seq"])),
        "the restore names the head: {stdout}"
    );
    let admin = app.admin.clone();
    drop(app);
    let server = Server::start(&target, Some(PASSPHRASE), &[]);
    let restored = TestApp {
        dir: target,
        server,
        admin,
    };
    let report = restored.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    let events = restored.all_events("").await;
    let at_head = events
        .iter()
        .find(|e| e["seq"] == head["seq"])
        .expect("the head event is in the restored trail");
    assert_eq!(at_head["hash"], head["hash"]);
}

#[tokio::test]
async fn verify_reports_the_last_event_as_its_head() {
    let app = TestApp::spawn();
    app.events("limit=1").await;
    let report = app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    let events = app.all_events("").await;
    let at_head = events
        .iter()
        .find(|e| e["seq"] == report["head_seq"])
        .expect("the head is an event");
    assert_eq!(at_head["hash"], report["head_hash"]);
    // Everything after the head was recorded after the verify: the
    // listing's own reads.
    let later: Vec<_> = events
        .iter()
        .filter(|e| e["seq"].as_u64() > report["head_seq"].as_u64())
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert!(later.iter().all(|a| *a == "audit_read"), "{later:?}");
}
