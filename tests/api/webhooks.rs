//! Outgoing webhooks against a real receiver: a small HTTP server on
//! loopback that records every request and answers from a script. Waits
//! are on what the receiver got (with a generous limit), never on time;
//! retry gaps come from the vault's test clock (`ZV_FAKE_CLOCK_FILE`).

use std::path::PathBuf;

use secrecy::SecretString;
use serde_json::{json, Value};
use zoho_vault::webhooks::signing::verify;

use crate::helpers::{error_code, TestApp, ZohoApp};

#[path = "../support/webhook_receiver.rs"]
pub(crate) mod receiver;
use receiver::{Got, Receiver};

/// Settings every webhook test needs: plain http to the loopback
/// receiver, a fast poll.
pub(crate) const ENV: [(&str, &str); 2] = [
    ("ZOHO_VAULT_WEBHOOKS__ALLOW_HTTP", "true"),
    ("ZOHO_VAULT_WEBHOOKS__POLL_MS", "50"),
];

pub(crate) async fn subscribe(app: &TestApp, url: &str, events: Value) -> (String, SecretString) {
    let (status, body) = app
        .admin_post("/v1/webhooks", json!({"url": url, "events": events}))
        .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["secret"].as_str().expect("secret").to_string();
    (
        body["id"].as_str().expect("id").to_string(),
        SecretString::from(secret),
    )
}

/// A test clock for the vault: whole seconds added to its wall clock.
pub(crate) struct Clock {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("clock-offset");
        std::fs::write(&file, "0").expect("offset");
        Clock { _dir: dir, file }
    }

    pub(crate) fn path(&self) -> String {
        self.file.to_str().expect("utf-8").to_string()
    }

    pub(crate) fn set(&self, secs: i64) {
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, secs.to_string()).expect("offset");
        std::fs::rename(&tmp, &self.file).expect("offset");
    }
}

#[tokio::test]
async fn a_revoked_refresh_token_sends_a_signed_needs_reauth_event_without_secrets() {
    let receiver = Receiver::start(&[]);
    let z = ZohoApp::spawn_with(&ENV);
    z.set_access_token_ttl(3000);
    let (_, secret) = subscribe(&z.app, &receiver.url, json!(["*"])).await;
    let rt = z.import("acme").await;
    let created = receiver.wait_for_type("connection.created").await;
    assert_eq!(created.json()["data"]["connection"], "acme");

    let admin = z.app.admin.clone();
    let (status, issued) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200, "{issued}");
    let access_token = issued["access_token"].as_str().expect("token").to_string();
    assert!(z.fake.revoke(&rt));
    let (status, err) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(error_code(&err), "needs_reauth");
    let got = receiver.wait_for_type("connection.needs_reauth").await;
    let body = got.json();
    assert_eq!(body["data"]["connection"], "acme");
    assert_eq!(body["data"]["state"], "needs_reauth");
    assert_eq!(body["data"]["previous_state"], "active");
    assert_eq!(body["data"]["error_code"], "needs_reauth");
    assert_eq!(body["data"]["fix"]["code"], "reauthorize");
    assert!(body["timestamp"].is_string());

    // Standard Webhooks: the signature covers id, timestamp and body.
    assert!(verify(
        &secret,
        &got.id,
        got.timestamp,
        &got.body,
        &got.signature
    ));
    let wrong = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string());
    assert!(!verify(
        &wrong,
        &got.id,
        got.timestamp,
        &got.body,
        &got.signature
    ));
    let mut changed = got.body.clone();
    changed.push(b' ');
    assert!(!verify(
        &secret,
        &got.id,
        got.timestamp,
        &changed,
        &got.signature
    ));
    assert!(!verify(
        &secret,
        &got.id,
        got.timestamp + 1,
        &got.body,
        &got.signature
    ));

    // Planted secrets: nothing the receiver got holds one.
    let planted = [rt.clone(), z.client.client_secret.clone(), access_token];
    for g in receiver.got() {
        let text = String::from_utf8_lossy(&g.body).to_string();
        for s in &planted {
            assert!(!text.contains(s.as_str()), "a secret in a payload: {text}");
        }
        assert!(!text.contains("fingerprint"), "{text}");
    }
}

/// Waits until the endpoint's delivery log holds `n` attempts (each is
/// stored once its answer came back); answers the log.
async fn wait_attempts(app: &TestApp, id: &str, n: usize) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, log) = app
            .admin_get(&format!("/v1/webhooks/{id}/deliveries"))
            .await;
        assert_eq!(status, 200, "{log}");
        if log["attempts"].as_array().map_or(0, Vec::len) >= n {
            return log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {n} attempts: {log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Seconds from an attempt to the next one it scheduled.
fn scheduled_gap(attempt: &Value) -> i64 {
    let at = |k: &str| {
        time::OffsetDateTime::parse(
            attempt[k].as_str().expect(k),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("rfc 3339")
    };
    (at("next_attempt_at") - at("at")).whole_seconds()
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_event_id_again_with_growing_gaps() {
    let receiver = Receiver::start(&[500, 500]);
    let clock = Clock::new();
    let path = clock.path();
    let mut env = ENV.to_vec();
    env.push(("ZV_FAKE_CLOCK_FILE", &path));
    let app = TestApp::spawn_with(&env);
    let (id, secret) = subscribe(&app, &receiver.url, json!(["connection.created"])).await;
    let (status, queued) = app
        .admin_post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 202, "{queued}");
    // The first retry is scheduled about 5 s later (±20 %) by the vault's
    // clock, which only the test moves on.
    let log = wait_attempts(&app, &id, 1).await;
    let first = scheduled_gap(&log["attempts"][0]);
    assert!((4..=6).contains(&first), "first gap {first}: {log}");
    clock.set(10);
    // The second about 30 s after that.
    let log = wait_attempts(&app, &id, 2).await;
    let second = scheduled_gap(&log["attempts"][0]);
    assert!((24..=36).contains(&second), "second gap {second}: {log}");
    clock.set(10 + 40);
    let log = wait_attempts(&app, &id, 3).await;
    let got = receiver.wait_for("a third attempt", |g| g.len() == 3).await;
    assert!(got.iter().all(|g| g.id == got[0].id), "one webhook-id");
    assert_eq!(got[0].id, queued["event_id"].as_str().expect("event id"));
    for g in &got {
        assert!(verify(&secret, &g.id, g.timestamp, &g.body, &g.signature));
    }
    // Each retry waited for the clock: its timestamp is past the gap.
    assert!(got[1].timestamp - got[0].timestamp >= 4, "{got:?}");
    assert!(got[2].timestamp - got[1].timestamp >= 24, "{got:?}");
    let attempts = log["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3, "{log}");
    assert_eq!(attempts[0]["outcome"], "delivered");
    assert_eq!(attempts[1]["status"], 500);
    assert_eq!(attempts[2]["outcome"], "retrying");
    assert!(
        log["pending"].as_array().expect("pending").is_empty(),
        "{log}"
    );
    let metrics = app
        .server
        .http
        .get(app.server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for (outcome, n) in [("delivered", 1), ("retrying", 2)] {
        let line = format!(
            "zoho_vault_webhook_deliveries_total{{endpoint=\"{id}\",outcome=\"{outcome}\"}} {n}"
        );
        assert!(metrics.contains(&line), "no `{line}` in {metrics}");
    }
}

#[tokio::test]
async fn an_event_queued_when_the_vault_is_killed_is_delivered_after_restart() {
    let receiver = Receiver::start(&[503]);
    let clock = Clock::new();
    let path = clock.path();
    let mut env = ENV.to_vec();
    env.push(("ZV_FAKE_CLOCK_FILE", &path));
    let app = TestApp::spawn_with(&env);
    let (id, _) = subscribe(&app, &receiver.url, json!(["*"])).await;
    app.admin_post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    receiver
        .wait_for("a failed attempt", |g| g.len() == 1)
        .await;
    let (_, log) = app
        .admin_get(&format!("/v1/webhooks/{id}/deliveries"))
        .await;
    assert_eq!(
        log["pending"].as_array().expect("test value").len(),
        1,
        "{log}"
    );
    let app = app.crashed_and_restarted(Some(crate::helpers::PASSPHRASE));
    clock.set(60);
    let got = receiver
        .wait_for("the retry after restart", |g| g.len() == 2)
        .await;
    assert_eq!(got[0].id, got[1].id);
    let (_, log) = app
        .admin_get(&format!("/v1/webhooks/{id}/deliveries"))
        .await;
    assert!(
        log["pending"].as_array().expect("test value").is_empty(),
        "{log}"
    );
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_token_issue_or_other_endpoints() {
    let hanging = Receiver::start(&[]);
    hanging.hang();
    let healthy = Receiver::start(&[]);
    let z = ZohoApp::spawn_with(&ENV);
    subscribe(&z.app, &hanging.url, json!(["*"])).await;
    subscribe(&z.app, &healthy.url, json!(["*"])).await;
    for i in 0..6 {
        z.import(&format!("c{i}")).await;
    }
    // The healthy endpoint gets all six while the other hangs.
    healthy
        .wait_for("six events", |g| {
            g.iter()
                .filter(|g| g.json()["type"] == "connection.created")
                .count()
                == 6
        })
        .await;
    // The hanging one holds at most its concurrency (4) at once.
    assert!(hanging.got().len() <= 4, "{}", hanging.got().len());
    let token = z.service_token(&["c0"]).await;
    for _ in 0..20 {
        let (status, body) = z.issue("c0", &token, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn creation_refuses_plain_http_and_unknown_events_with_the_reason() {
    let app = TestApp::spawn();
    let (status, body) = app
        .admin_post(
            "/v1/webhooks",
            json!({"url": "http://user:hunter2@example.com/x", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .expect("test value")
        .contains("https"));
    assert!(!body.to_string().contains("hunter2"));
    let (status, body) = app
        .admin_post(
            "/v1/webhooks",
            json!({"url": "https://example.com/x", "events": ["connection.exploded"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .expect("test value")
        .contains("connection.exploded"));
    let (_, list) = app.admin_get("/v1/webhooks").await;
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn a_url_with_credentials_is_redacted_in_lists_and_absent_from_logs_and_audit() {
    let app = TestApp::spawn();
    let url = "https://bob:pa55word@hooks.example.com/in?token=qu3rytok";
    let (status, created) = app
        .admin_post(
            "/v1/webhooks",
            json!({"url": url, "events": ["connection.needs_reauth"], "description": "ops"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("test value");
    assert_eq!(created["url"], "https://***@hooks.example.com/in?***");
    let (_, list) = app.admin_get("/v1/webhooks").await;
    assert_eq!(
        list["webhooks"][0]["url"],
        "https://***@hooks.example.com/in?***"
    );
    assert!(list["webhooks"][0].get("secret").is_none());
    let (_, one) = app.admin_get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(one["id"], id);
    let events = app.all_events("action=webhook_created").await;
    assert_eq!(events.len(), 1);
    let (status, _) = app.admin_delete(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 200);
    let (status, _) = app.admin_get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(app.all_events("action=webhook_deleted").await.len(), 1);
    let audit = app.all_events("").await;
    let everything = format!("{list}{one}{audit:?}{}", app.server.log_text());
    for secret in [
        "pa55word",
        "qu3rytok",
        created["secret"].as_str().expect("test value"),
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    // Sealed at rest.
    app.dir.assert_no_plaintext(&["pa55word", "qu3rytok"]);
}

/// Runs a verification snippet from docs/webhooks.md on one delivery;
/// `None` when its interpreter is not installed.
fn run_snippet(interpreter: &str, script: &str, secret: &str, got: &Got) -> Option<bool> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = match Command::new(interpreter)
        .arg(format!("{root}/examples/webhooks/{script}"))
        .env("WEBHOOK_SECRET", secret)
        .env("WEBHOOK_ID", &got.id)
        .env("WEBHOOK_TIMESTAMP", got.timestamp.to_string())
        .env("WEBHOOK_SIGNATURE", &got.signature)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: {interpreter} is not installed, so the {script} snippet was not run"
            );
            return None;
        }
        Err(e) => panic!("cannot run {interpreter}: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&got.body)
        .expect("write body");
    Some(child.wait().expect("wait").success())
}

#[tokio::test]
async fn the_documented_python_and_node_snippets_verify_a_real_delivery() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/webhooks.md"))
        .expect("docs/webhooks.md");
    let receiver = Receiver::start(&[]);
    let app = TestApp::spawn_with(&ENV);
    let (status, created) = app
        .admin_post(
            "/v1/webhooks",
            json!({"url": receiver.url, "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().expect("test value");
    let id = created["id"].as_str().expect("test value");
    app.admin_post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    let got = receiver.wait_for_type("webhook.test").await;
    let mut tampered = got.clone();
    tampered.body.push(b' ');
    for (interpreter, script) in [("python3", "verify.py"), ("node", "verify.js")] {
        let source = std::fs::read_to_string(format!(
            "{}/examples/webhooks/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("snippet");
        assert!(
            docs.contains(source.trim_end()),
            "docs/webhooks.md must show examples/webhooks/{script} as it is"
        );
        if let Some(valid) = run_snippet(interpreter, script, secret, &got) {
            assert!(valid, "{script} refused a real delivery");
            let refused = run_snippet(interpreter, script, secret, &tampered);
            assert_eq!(refused, Some(false), "{script} accepted a changed body");
        }
    }
}

#[tokio::test]
async fn a_service_token_with_under_a_day_left_is_announced_once() {
    let receiver = Receiver::start(&[]);
    let app = TestApp::spawn_with(&ENV);
    let (id, _) = subscribe(&app, &receiver.url, json!(["service_token.expiring"])).await;
    let (status, token) = app
        .admin_post(
            "/v1/service-tokens",
            json!({"name": "billing", "connections": ["*"], "ttl_secs": 3600}),
        )
        .await;
    assert_eq!(status, 201, "{token}");
    let (status, _) = app
        .admin_post(
            "/v1/service-tokens",
            json!({"name": "forever", "connections": ["*"]}),
        )
        .await;
    assert_eq!(status, 201);
    let got = receiver.wait_for_type("service_token.expiring").await;
    let data = &got.json()["data"];
    assert_eq!(data["token_id"], token["id"]);
    assert_eq!(data["name"], "billing");
    assert!(data["expires_at"].is_string());
    let plain = token["token"].as_str().expect("token");
    assert!(!String::from_utf8_lossy(&got.body).contains(plain));
    // A restart scans again at once; the token was announced already.
    let app = app.restarted(Some(crate::helpers::PASSPHRASE));
    app.admin_post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    let all = receiver
        .wait_for("the test event", |g| {
            g.iter().any(|g| g.json()["type"] == "webhook.test")
        })
        .await;
    let expiring = all
        .iter()
        .filter(|g| g.json()["type"] == "service_token.expiring")
        .count();
    assert_eq!(expiring, 1);
}

/// Issues `n` tokens one after another; answers the seconds it took.
async fn issue_many(z: &ZohoApp, token: &str, n: usize) -> f64 {
    let started = std::time::Instant::now();
    for _ in 0..n {
        let (status, body) = z.issue("c0", token, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    started.elapsed().as_secs_f64()
}

/// A measurement, not a check (run by hand: `cargo test --features
/// fake-zoho --test api -- --ignored token_issue_throughput`): prints token
/// issue throughput with no endpoint and with a hanging one holding its
/// deliveries, as a ratio from the same run.
#[tokio::test]
#[ignore]
async fn token_issue_throughput_with_and_without_a_hanging_receiver() {
    const N: usize = 500;
    let z = ZohoApp::spawn_with(&ENV);
    z.import("c0").await;
    let token = z.service_token(&["c0"]).await;
    issue_many(&z, &token, 50).await;
    let without = issue_many(&z, &token, N).await;
    let hanging = Receiver::start(&[]);
    hanging.hang();
    subscribe(&z.app, &hanging.url, json!(["*"])).await;
    for i in 1..=6 {
        z.import(&format!("c{i}")).await;
    }
    hanging
        .wait_for("deliveries in flight", |g| g.len() >= 4)
        .await;
    let with = issue_many(&z, &token, N).await;
    eprintln!(
        "token issue: {:.0}/s without webhooks, {:.0}/s with a hanging receiver holding {} deliveries; ratio {:.2}",
        N as f64 / without,
        N as f64 / with,
        hanging.got().len(),
        without / with
    );
}

#[tokio::test]
async fn a_delivery_to_a_url_with_credentials_logs_neither_at_trace_level() {
    let receiver = Receiver::start(&[500]);
    let mut env = ENV.to_vec();
    env.push(("ZOHO_VAULT_LOG__LEVEL", "trace"));
    let app = TestApp::spawn_with(&env);
    let url = receiver
        .url
        .replace("http://", "http://bob:pa55word@")
        .replace("/hook", "/hook?token=qu3rytok");
    let (id, secret) = subscribe(&app, &url, json!(["*"])).await;
    app.admin_post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    // One failed attempt (its error is logged and stored), then its log.
    let log = wait_attempts(&app, &id, 1).await;
    assert_eq!(
        log["attempts"][0]["error"], "HTTP 500 Internal Server Error",
        "{log}"
    );
    let (_, list) = app.admin_get("/v1/webhooks").await;
    let everything = format!("{log}{list}{}", app.server.log_text());
    for planted in [
        "pa55word",
        "qu3rytok",
        secrecy::ExposeSecret::expose_secret(&secret),
    ] {
        assert!(!everything.contains(planted), "`{planted}` leaked");
    }
}
