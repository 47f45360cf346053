//! No input can panic a handler or escape the one JSON error shape: a
//! battery of malformed requests against every route the server documents
//! (so a new route is covered without editing this file), over HTTP and
//! raw TCP. Every request gets an answer: a dropped connection fails.

use serde_json::Value;

use crate::helpers::TestApp;
use crate::support::{call_raw, documented_routes, raw, Route};

/// Bodies no route accepts, with the content type they are sent with.
fn bad_bodies() -> Vec<(Option<&'static str>, Vec<u8>)> {
    let json = Some("application/json");
    let deep_array = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000));
    vec![
        (json, b"".to_vec()),
        (json, b"{".to_vec()),
        (json, b"null".to_vec()),
        (json, b"[]".to_vec()),
        (json, b"\"just a string\"".to_vec()),
        (json, b"-1".to_vec()),
        (json, b"{\"name\": 1e999}".to_vec()),
        (
            json,
            b"{\"ttl_secs\": 18446744073709551616, \"name\": \"x\", \"connections\": [\"*\"]}"
                .to_vec(),
        ),
        (json, b"{\"min_valid_secs\": -5}".to_vec()),
        (json, b"{\"min_valid_secs\": 1.5}".to_vec()),
        (json, b"{\"until_seq\": \"1\"}".to_vec()),
        (json, b"{\"passphrase\": {\"nested\": true}}".to_vec()),
        (
            json,
            b"{\"client_id\": [], \"client_secret\": 5, \"code\": null}".to_vec(),
        ),
        (
            json,
            b"{\"scope\": [1, 2], \"client_id\": \"x\", \"client_secret\": \"y\", \"code\": \"z\"}"
                .to_vec(),
        ),
        (json, b"{\"a\": \"\xff\xfe\"}".to_vec()),
        (json, b"\xef\xbb\xbf{}".to_vec()),
        (json, b"{\"name\": \"\\ud800\"}".to_vec()),
        (json, deep_array.into_bytes()),
        (json, deep_object.into_bytes()),
        (json, vec![b'x'; 70 * 1024]),
        (Some("text/plain"), b"{}".to_vec()),
        (Some("multipart/form-data; boundary=x"), b"--x--".to_vec()),
        (Some("application/x-www-form-urlencoded"), b"a=b".to_vec()),
        (Some("application/json; charset=latin1"), b"{}".to_vec()),
        (Some("application/jsonx"), b"{}".to_vec()),
        (None, b"{}".to_vec()),
    ]
}

fn assert_json_answer(what: &str, status: u16, ct: Option<&str>, body: &[u8]) {
    assert_answer(what, None, status, ct, body)
}

/// No 5xx but 503; an error is in the JSON error shape, unless `route`
/// documents another content type for that status (the OAuth callback
/// answers people, in HTML).
fn assert_answer(what: &str, route: Option<&Route>, status: u16, ct: Option<&str>, body: &[u8]) {
    assert!(status < 500 || status == 503, "{what}: {status}");
    if status < 400 {
        return;
    }
    let documented = route.map(|r| r.content_types(status)).unwrap_or_default();
    if let Some(ct) = ct.filter(|c| !c.starts_with("application/json")) {
        assert!(
            documented.iter().any(|d| ct.starts_with(d.as_str())),
            "{what}: {status} with content type {ct}, documented {documented:?}"
        );
        assert!(!body.is_empty(), "{what}: {status} with an empty body");
        return;
    }
    assert!(
        ct.is_some_and(|c| c.starts_with("application/json")),
        "{what}: {status} with content type {ct:?}"
    );
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("{what}: {status} body is not JSON"));
    assert!(v["error"]["code"].is_string(), "{what}: {v}");
    assert!(v["error"]["message"].is_string(), "{what}: {v}");
}

#[tokio::test]
async fn malformed_bodies_on_every_route_answer_in_the_json_error_shape() {
    let app = TestApp::spawn();
    let s = &app.server;
    for route in documented_routes(s).await {
        let (method, path) = (&route.method, route.path.as_str());
        for token in [None, Some(app.admin.as_str())] {
            for (ct, body) in bad_bodies() {
                let what = format!("{method} {path} {ct:?} token={}", token.is_some());
                let (status, rct, rbody) = call_raw(s, method.clone(), path, token, ct, body).await;
                assert_answer(&what, Some(&route), status, rct.as_deref(), &rbody);
            }
        }
    }
    let log = s.log_text();
    assert!(!log.contains("panicked"), "a handler panicked:\n{log}");
}

#[tokio::test]
async fn malformed_paths_queries_methods_and_headers_never_break_the_server() {
    let app = TestApp::spawn();
    let s = &app.server;
    let auth = format!("Authorization: Bearer {}\r\n", app.admin);
    let huge_header = format!("X-Junk: {}\r\n", "a".repeat(128 * 1024));
    let long_path = format!("/v1/connections/{}", "a".repeat(20 * 1024));
    let mut requests: Vec<Vec<u8>> = Vec::new();
    let mut add = |head: &str, extra: &str| {
        requests.push(
            format!(
                "{head}\r\nHost: x\r\n{auth}{extra}Connection: close\r\nContent-Length: 0\r\n\r\n"
            )
            .into_bytes(),
        );
    };
    for path in [
        "/v1/connections/%FF%FE",
        "/v1/connections/%00",
        "/v1/connections/%",
        "/v1/connections/%zz",
        "/v1/connections/%2e%2e",
        "/v1/connections/..%2F..%2Fetc",
        "/v1/connections/a/../../sys/seal",
        "/v1/connections//token",
        "/v1/service-tokens/%ff",
        "/v1/admin-tokens/..",
        "/v1/audit?limit=-1",
        "/v1/audit?limit=99999999999999999999999",
        "/v1/audit?since=not-a-time&until=%FF",
        "/v1/audit?action=%00&bogus=1",
        "/v1/audit?limit=1&limit=2",
        "/v1/audit/export?after=-1",
        "/v1/audit/export?limit=0",
        "/v1/connections/acme?revoke=maybe",
        "/v1/connections/acme?revoke=true&x=1",
        "/v1/%",
        "/v1/sys/health?%%%",
        "*",
        long_path.as_str(),
    ] {
        for method in ["GET", "DELETE", "POST", "PUT"] {
            add(&format!("{method} {path} HTTP/1.1"), "");
        }
    }
    for method in ["FOO", "PATCH", "OPTIONS", "TRACE", "CONNECT", "HEAD"] {
        add(&format!("{method} /v1/connections/acme HTTP/1.1"), "");
        add(&format!("{method} /v1/sys/health HTTP/1.1"), "");
    }
    add("GET /v1/sys/health HTTP/1.0", "");
    add("GET http://x/v1/connections HTTP/1.1", "");
    add("GET /v1/connections HTTP/1.1", &huge_header);
    add(
        "GET /v1/connections HTTP/1.1",
        "Content-Type: application/json\r\n",
    );
    add("GET /v1/connections HTTP/1.1", "X-Request-Id: \u{1}\r\n");
    add(
        "GET /v1/connections HTTP/1.1",
        "Authorization: Bearer a\r\n",
    );
    // Raw bytes the HTTP parser itself must refuse.
    let mut raw_requests: Vec<Vec<u8>> = vec![
        b"GET /v1/connections/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"\x00\x01\x02 / HTTP/1.1\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /v1/sys/health HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(),
        b"POST /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n".to_vec(),
        b"POST /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n".to_vec(),
        b"POST /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}".to_vec(),
    ];
    raw_requests.append(&mut requests);
    for request in &raw_requests {
        let shown = String::from_utf8_lossy(&request[..request.len().min(80)]).to_string();
        let (status, head, body) = raw(s, request);
        // Even garbage gets an answer: a dropped connection is a failure.
        assert_ne!(status, 0, "{shown}: no answer (connection dropped)");
        let ct = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        });
        let from_parser = status >= 400 && body.is_empty() && ct.is_none();
        if from_parser {
            // actix-http refused it before any route ran (no body to shape).
            assert!(
                matches!(status, 400 | 404 | 414 | 431 | 505),
                "{shown}: {status}"
            );
            continue;
        }
        if shown.starts_with("HEAD") {
            // No body on HEAD answers; the status is all there is.
            assert!(
                status == 200 || status == 405 || status == 404,
                "{shown}: {status}"
            );
            continue;
        }
        assert_json_answer(&shown, status, ct.as_deref(), &body);
    }
    // Still alive, still unsealed, nothing panicked.
    assert_eq!(s.health().await["sealed"], false);
    let log = s.log_text();
    assert!(!log.contains("panicked"), "a handler panicked:\n{log}");
}
