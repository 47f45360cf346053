//! `webhooks.max_age`: how long an event is retried, as whole seconds or a
//! duration such as "24h" or "90m"; `webhooks.max_age_secs` is its
//! deprecated alias, and setting both stops the start. Event age is read
//! on the vault's test clock (`ZV_FAKE_CLOCK_FILE`), which only the test
//! moves on.

use serde_json::{json, Value};

use crate::helpers::{TestApp, VaultDir};
use crate::webhooks::receiver::Receiver;
use crate::webhooks::{subscribe, Clock, ENV};

/// Waits until the endpoint's log holds `n` attempts; the newest first.
async fn attempts(app: &TestApp, id: &str, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, log) = app
            .admin_get(&format!("/v1/webhooks/{id}/deliveries"))
            .await;
        assert_eq!(status, 200, "{log}");
        let got = log["attempts"].as_array().cloned().unwrap_or_default();
        if got.len() >= n {
            return got;
        }
        assert!(std::time::Instant::now() < deadline, "never {n}: {log}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// With `setting`, an event that failed once is retried two minutes later
/// (past its retry gap): the outcome of that second attempt.
async fn second_outcome_two_minutes_on(setting: (&str, &str)) -> Value {
    let receiver = Receiver::start(&[500, 500]);
    let clock = Clock::new();
    let path = clock.path();
    let mut env = ENV.to_vec();
    env.push(("ZV_FAKE_CLOCK_FILE", &path));
    env.push(setting);
    let app = TestApp::spawn_with(&env);
    let (id, _) = subscribe(&app, &receiver.url, json!(["*"])).await;
    app.admin_post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    let first = attempts(&app, &id, 1).await;
    assert_eq!(first[0]["outcome"], "retrying", "{first:?}");
    clock.set(120);
    let both = attempts(&app, &id, 2).await;
    both[0]["outcome"].clone()
}

#[tokio::test]
async fn an_event_older_than_a_max_age_given_as_a_duration_is_marked_failed() {
    let outcome = second_outcome_two_minutes_on(("ZOHO_VAULT_WEBHOOKS__MAX_AGE", "1m")).await;
    assert_eq!(outcome, "failed");
}

#[tokio::test]
async fn an_event_younger_than_max_age_is_retried_again() {
    let outcome = second_outcome_two_minutes_on(("ZOHO_VAULT_WEBHOOKS__MAX_AGE", "3m")).await;
    assert_eq!(outcome, "retrying");
}

#[tokio::test]
async fn the_deprecated_max_age_secs_still_works() {
    let outcome = second_outcome_two_minutes_on(("ZOHO_VAULT_WEBHOOKS__MAX_AGE_SECS", "60")).await;
    assert_eq!(outcome, "failed");
}

/// Runs `serve` with `env` and answers its stderr; fails (instead of
/// hanging) if the server starts and keeps running.
fn refused_start(env: &[(&str, &str)]) -> String {
    let dir = VaultDir::new();
    let mut cmd = dir.command();
    cmd.arg("serve")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started with {env:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn setting_both_max_age_and_its_alias_stops_the_start_naming_both() {
    let stderr = refused_start(&[
        ("ZOHO_VAULT_WEBHOOKS__MAX_AGE", "24h"),
        ("ZOHO_VAULT_WEBHOOKS__MAX_AGE_SECS", "86400"),
    ]);
    assert!(
        stderr.contains("webhooks.max_age") && stderr.contains("webhooks.max_age_secs"),
        "{stderr}"
    );
}

#[test]
fn a_max_age_that_is_not_a_duration_stops_the_start_saying_what_is_accepted() {
    let stderr = refused_start(&[("ZOHO_VAULT_WEBHOOKS__MAX_AGE", "a day")]);
    assert!(stderr.contains("\"24h\""), "{stderr}");
}
