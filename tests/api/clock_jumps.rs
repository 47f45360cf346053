//! Wall-clock jumps while tokens are cached. A jump forwards costs one
//! refresh (single flight), never one per caller; a jump backwards never
//! makes an expired token look valid: the vault also keeps each cached
//! token's deadline on the monotonic clock, which no jump moves.
//!
//! The vault under test reads its wall clock through the test hook
//! `ZV_FAKE_CLOCK_FILE` (whole seconds added to the system clock); the
//! fake Zoho keeps the true time, as the real one would.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::ZohoApp;

const CALLERS: usize = 20;

struct JumpingVault {
    z: Arc<ZohoApp>,
    _dir: tempfile::TempDir,
    offset_file: PathBuf,
}

impl JumpingVault {
    fn spawn(access_token_ttl: i64) -> Self {
        Self::spawn_with(access_token_ttl, &[])
    }

    fn spawn_with(access_token_ttl: i64, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let offset_file = dir.path().join("clock-offset");
        std::fs::write(&offset_file, "0").expect("offset");
        let path = offset_file.to_str().expect("utf-8 path").to_string();
        let mut env = env.to_vec();
        env.push(("ZV_FAKE_CLOCK_FILE", &path));
        let z = ZohoApp::spawn_with(&env);
        z.set_access_token_ttl(access_token_ttl);
        Self {
            z: Arc::new(z),
            _dir: dir,
            offset_file,
        }
    }

    fn jump(&self, secs: i64) {
        write_offset(&self.offset_file, secs);
    }
}

fn write_offset(file: &Path, secs: i64) {
    // Written whole in one rename, so the server never reads half a number.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, secs.to_string()).expect("offset");
    std::fs::rename(&tmp, file).expect("offset");
}

fn expires_at(answer: &Value) -> OffsetDateTime {
    let text = answer["expires_at"].as_str().expect("expires_at");
    OffsetDateTime::parse(text, &Rfc3339).expect("RFC 3339 expires_at")
}

fn expires_in(answer: &Value) -> i64 {
    answer["expires_in"].as_i64().expect("expires_in")
}

/// `CALLERS` callers at once, each answered.
async fn callers(z: &Arc<ZohoApp>, token: &str, body: Value) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let z = Arc::clone(z);
            let token = token.to_string();
            let body = body.clone();
            tokio::spawn(async move { z.issue("acme", &token, body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("caller"));
    }
    answers
}

#[tokio::test]
async fn a_clock_jump_forwards_costs_one_refresh_and_answers_a_live_token() {
    let v = JumpingVault::spawn(3600);
    let z = &v.z;
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    let (status, cached) = z.issue("acme", &svc, json!({})).await;
    assert_eq!(status, 200, "{cached}");
    let before = z.fake.counters().token_requests;

    // Two hours on: by the wall clock, the cached token has expired.
    v.jump(7200);
    let answers = callers(z, &svc, json!({})).await;

    let (_, first) = &answers[0];
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["access_token"], first["access_token"], "one token");
        assert!(expires_in(answer) > 0, "{answer}");
    }
    assert_ne!(first["access_token"], cached["access_token"]);
    let token = first["access_token"].as_str().expect("token");
    assert!(z.fake.is_access_token_live(token));
    assert_eq!(
        z.fake.counters().token_requests - before,
        1,
        "one refresh for every caller"
    );
}

#[tokio::test]
async fn a_clock_jump_backwards_never_makes_an_expired_token_valid() {
    // A 20 s token is handed out for 10 s (half its life).
    let v = JumpingVault::spawn(20);
    let z = &v.z;
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    let demand = json!({"min_valid_secs": 0});
    let (status, cached) = z.issue("acme", &svc, demand.clone()).await;
    assert_eq!(status, 200, "{cached}");
    let real_expiry = expires_at(&cached);
    let before = z.fake.counters().token_requests;

    // An hour back: by the wall clock, the token now has an hour more.
    v.jump(-3600);
    for (status, answer) in callers(z, &svc, demand.clone()).await {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["access_token"], cached["access_token"]);
        assert!(
            expires_in(&answer) <= expires_in(&cached),
            "the jump lengthened the token's life: {answer}"
        );
    }
    assert_eq!(z.fake.counters().token_requests, before, "no refresh yet");

    // Past the token's true expiry (a condition, not a guess).
    while OffsetDateTime::now_utc() <= real_expiry {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let answers = callers(z, &svc, demand).await;
    let (_, first) = &answers[0];
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_ne!(
            answer["access_token"], cached["access_token"],
            "an expired token was answered as valid"
        );
        assert_eq!(answer["access_token"], first["access_token"], "one token");
        assert!(expires_in(answer) > 0, "{answer}");
    }
    let token = first["access_token"].as_str().expect("token");
    assert!(z.fake.is_access_token_live(token));
    assert_eq!(
        z.fake.counters().token_requests - before,
        1,
        "one refresh for every caller"
    );
}

#[tokio::test]
async fn a_full_mint_budget_frees_one_window_after_a_backward_jump_not_after_the_jump() {
    // One mint per 10 minutes; every 3000 s demand needs a refresh.
    let v = JumpingVault::spawn_with(3000, &[("ZOHO_VAULT_BROKER__MINT_BUDGET", "1")]);
    let z = &v.z;
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    let demand = json!({"min_valid_secs": 3000});
    let mut exhausted = false;
    for _ in 0..3 {
        let (status, body) = z.issue("acme", &svc, demand.clone()).await;
        if status == 429 {
            assert_eq!(body["error"]["code"], "refresh_budget_exhausted", "{body}");
            exhausted = true;
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    assert!(exhausted, "the budget of one mint ran out");

    // An hour back: the mints now lie in the vault's future.
    v.jump(-3600);
    let (status, body) = z.issue("acme", &svc, demand.clone()).await;
    assert_eq!(status, 429, "{body}");

    // One window (600 s) later by the vault's clock, still long before the
    // mints' recorded times: the budget has a mint again.
    v.jump(-3600 + 601);
    let (status, body) = z.issue("acme", &svc, demand).await;
    assert_eq!(status, 200, "blocked until the clock caught up: {body}");
}
