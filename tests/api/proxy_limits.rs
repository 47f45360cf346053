//! The proxy's limits: bodies streamed (memory stays bounded), capped (413),
//! a timeout (504), and the per-connection concurrency cap (429).

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::helpers::error_code;
use super::proxy::{call, get, proxied, token_with, zoho_calls};

const MIB: u64 = 1024 * 1024;

/// The peak resident memory of process `pid` so far (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// A body of `total` bytes sent in 64 KiB chunks, never held whole.
fn chunked_body(total: u64) -> reqwest::Body {
    let chunk = Bytes::from(vec![b'u'; 64 * 1024]);
    let stream = futures_util::stream::unfold(total, move |left| {
        let chunk = chunk.clone();
        async move {
            (left > 0).then(|| {
                let n = left.min(chunk.len() as u64);
                (Ok::<_, std::io::Error>(chunk.slice(..n as usize)), left - n)
            })
        }
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn twenty_mib_stream_up_and_down_without_the_server_holding_them() {
    let z = proxied(&[("ZOHO_VAULT_PROXY__MAX_BODY_BYTES", "67108864")]).await;
    let token = token_with(&z, json!({"access": "proxy"})).await;
    // Warm up: every code path has run once before the baseline.
    let warm =
        call(&z, reqwest::Method::POST, "/echo/v1/upload", &token).body(chunked_body(2 * MIB));
    assert_eq!(super::helpers::answer(warm).await.1["bytes"], 2 * MIB);
    let pid = z.app.server.pid();
    let baseline = peak_rss_kib(pid);

    let size = 20 * MIB;
    let up = call(&z, reqwest::Method::POST, "/echo/v1/upload", &token)
        .header("Content-Length", size.to_string())
        .body(chunked_body(size));
    let (status, body) = super::helpers::answer(up).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bytes"], size, "Zoho got every byte");

    let mut down = call(
        &z,
        reqwest::Method::GET,
        &format!("/echo/v1/download?bytes={size}"),
        &token,
    )
    .send()
    .await
    .expect("send");
    assert_eq!(down.status(), 200);
    assert_eq!(down.content_length(), Some(size), "the length is passed on");
    let mut got = 0u64;
    while let Some(chunk) = down.chunk().await.expect("chunk") {
        got += chunk.len() as u64;
    }
    assert_eq!(got, size);

    // 40 MiB went through; holding either body would add 20 MiB.
    let grown_mib = peak_rss_kib(pid).saturating_sub(baseline) / 1024;
    assert!(
        grown_mib < 10,
        "the server's peak memory grew by {grown_mib} MiB"
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_413_and_never_reaches_zoho() {
    let z = proxied(&[("ZOHO_VAULT_PROXY__MAX_BODY_BYTES", "1048576")]).await;
    let token = token_with(&z, json!({})).await;
    let before = zoho_calls(&z);
    let declared = call(&z, reqwest::Method::POST, "/echo/v1/upload", &token)
        .body(vec![b'x'; 2 * MIB as usize]);
    let (status, body) = super::helpers::answer(declared).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_code(&body), "payload_too_large");
    assert_eq!(zoho_calls(&z), before, "Zoho saw an oversized request");
    // At the cap exactly it passes.
    let fits =
        call(&z, reqwest::Method::POST, "/echo/v1/upload", &token).body(vec![b'x'; MIB as usize]);
    assert_eq!(super::helpers::answer(fits).await.0, 200);
}

#[tokio::test]
async fn a_streamed_body_without_a_length_is_cut_at_the_cap_with_413() {
    let z = proxied(&[
        ("ZOHO_VAULT_PROXY__MAX_BODY_BYTES", "1048576"),
        ("ZOHO_VAULT_PROXY__REPLAY_LIMIT_BYTES", "65536"),
    ])
    .await;
    let token = token_with(&z, json!({})).await;
    let over = call(&z, reqwest::Method::POST, "/echo/v1/upload", &token)
        .body(chunked_body(MIB + 256 * 1024));
    match over.send().await {
        Ok(resp) => {
            assert_eq!(resp.status(), 413);
            let body: Value = resp.json().await.expect("json");
            assert_eq!(error_code(&body), "payload_too_large");
        }
        // The vault may stop reading mid-body; then the caller sees the
        // connection close instead. Either way Zoho got no whole body.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let completed = z.app.all_events("action=proxy_completed").await;
    let last = completed.last().expect("completed event");
    assert_eq!(last["details"]["status"], 413, "{last}");
}

#[tokio::test]
async fn zoho_not_answering_in_time_is_504_in_the_error_shape() {
    let z = proxied(&[("ZOHO_VAULT_PROXY__TIMEOUT_MS", "300")]).await;
    let token = token_with(&z, json!({})).await;
    let (status, body) = get(&z, "/echo/v1/hang", &token).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(error_code(&body), "upstream_timeout");
    let last = z
        .app
        .all_events("action=proxy_completed")
        .await
        .pop()
        .expect("event");
    assert_eq!(last["details"]["status"], 504);
    assert_eq!(last["outcome"], "failure");
}

/// Starts a call that Zoho holds, and waits until Zoho has it.
async fn hold_one(z: &super::helpers::ZohoApp, token: &str) -> tokio::task::JoinHandle<()> {
    let req = call(z, reqwest::Method::GET, "/echo/v1/hang", token);
    let held = tokio::spawn(async move {
        let _ = req.send().await;
    });
    // Waits for a state, not for time: the outcome does not depend on it.
    while z.fake.data_calls_in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    held
}

#[tokio::test]
async fn over_the_concurrency_cap_the_caller_gets_429_with_retry_after() {
    let z = proxied(&[
        ("ZOHO_VAULT_PROXY__MAX_CONCURRENT_PER_CONNECTION", "1"),
        ("ZOHO_VAULT_PROXY__QUEUE_WAIT_MS", "0"),
    ])
    .await;
    let token = token_with(&z, json!({})).await;
    let held = hold_one(&z, &token).await;
    let before = zoho_calls(&z);
    let resp = call(&z, reqwest::Method::GET, "/crm/v2/Leads", &token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 429);
    assert!(
        resp.headers().get("retry-after").is_some(),
        "no Retry-After"
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(error_code(&body), "proxy_busy");
    assert_eq!(zoho_calls(&z), before, "the refused call reached Zoho");
    held.abort();
    let _ = held.await;
    let text = z
        .app
        .server
        .http
        .get(z.app.server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("zoho_vault_proxy_concurrency_rejections_total{connection=\"acme\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn zohos_own_429_is_passed_through_and_not_retried() {
    let z = proxied(&[]).await;
    z.fake
        .update_config(zoho_vault::fake_zoho::ConfigPatch {
            max_concurrent_per_org: Some(1),
            ..Default::default()
        })
        .expect("config");
    let token = token_with(&z, json!({})).await;
    let held = hold_one(&z, &token).await;
    let before = zoho_calls(&z);
    let (status, body) = get(&z, "/crm/v2/Leads", &token).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "TOO_MANY_REQUESTS", "Zoho's body: {body}");
    assert_eq!(zoho_calls(&z), before + 1, "not retried");
    held.abort();
}
