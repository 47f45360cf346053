//! A delivery that failed says why, in the delivery record and in
//! `zoho-vault webhook deliveries`: the DNS lookup, a refused connection,
//! the TLS handshake, the receiver's HTTP status. Never the URL's
//! credentials or query values.

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::webhooks::receiver::Receiver;
use crate::webhooks::{subscribe, ENV};

/// Sends a test event to a new endpoint at `url` and waits for its first
/// attempt; answers the attempt.
async fn first_attempt(app: &TestApp, url: &str) -> (String, Value) {
    let (id, _) = subscribe(app, url, json!(["*"])).await;
    let (status, queued) = app
        .admin_post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(status, 202, "{queued}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, log) = app
            .admin_get(&format!("/v1/webhooks/{id}/deliveries"))
            .await;
        assert_eq!(status, 200, "{log}");
        if let Some(first) = log["attempts"].as_array().and_then(|a| a.first()) {
            return (id, first.clone());
        }
        assert!(std::time::Instant::now() < deadline, "no attempt: {log}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// What `zoho-vault webhook deliveries ID` prints (asserted success).
fn deliveries_cli(app: &TestApp, id: &str) -> String {
    let out = app.cli(&["webhook", "deliveries", id]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn a_refused_connection_is_named_without_the_urls_credentials_or_query() {
    let app = TestApp::spawn_with(&ENV);
    let url = format!(
        "http://bob:pa55word@127.0.0.1:{}/hook?token=qu3rytok",
        closed_port()
    );
    let (id, attempt) = first_attempt(&app, &url).await;
    let error = attempt["error"].as_str().expect("an error");
    assert!(error.starts_with("connection refused"), "{attempt}");
    let printed = deliveries_cli(&app, &id);
    assert!(printed.contains("connection refused"), "{printed}");
    let everything = format!("{attempt}{printed}{}", app.server.log_text());
    for planted in ["pa55word", "qu3rytok"] {
        assert!(!everything.contains(planted), "{planted} leaked");
    }
}

#[tokio::test]
async fn https_to_a_receiver_that_speaks_plain_http_is_named_a_tls_failure() {
    let receiver = Receiver::start(&[]);
    let app = TestApp::spawn_with(&ENV);
    let url = receiver.url.replace("http://", "https://");
    let (id, attempt) = first_attempt(&app, &url).await;
    let error = attempt["error"].as_str().expect("an error");
    assert!(error.starts_with("TLS handshake failed"), "{attempt}");
    assert!(deliveries_cli(&app, &id).contains("TLS handshake failed"));
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_named_a_dns_failure() {
    let app = TestApp::spawn_with(&ENV);
    // `.invalid` never resolves (RFC 2606).
    let (_, attempt) = first_attempt(&app, "https://receiver.invalid/hook").await;
    let error = attempt["error"].as_str().expect("an error");
    assert!(error.starts_with("DNS lookup"), "{attempt}");
}

#[tokio::test]
async fn a_receivers_error_status_is_shown_with_its_reason_in_the_cli() {
    let receiver = Receiver::start(&[503]);
    let app = TestApp::spawn_with(&ENV);
    let (id, attempt) = first_attempt(&app, &receiver.url).await;
    assert_eq!(attempt["status"], 503, "{attempt}");
    assert_eq!(
        attempt["error"], "HTTP 503 Service Unavailable",
        "{attempt}"
    );
    let printed = deliveries_cli(&app, &id);
    assert!(
        printed.contains("retrying (HTTP 503 Service Unavailable)"),
        "{printed}"
    );
}
