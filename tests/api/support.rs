//! Helpers for the hardening tests: any method, raw bodies, raw TCP, audit
//! queries.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{answer, Server};

/// Any method, optional token, optional JSON body.
pub async fn call(
    server: &Server,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server.http.request(method, server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    answer(req).await
}

/// Any method with raw body bytes and an optional content type; returns
/// status, content type and the raw body.
pub async fn call_raw(
    server: &Server,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Option<String>, Vec<u8>) {
    let mut req = server
        .http
        .request(method.clone(), server.url(path))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: no answer (a dropped connection fails): {e}"));
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.expect("body").to_vec();
    (status, ct, bytes)
}

/// `host:port` of a server.
pub fn host_port(server: &Server) -> String {
    server
        .base
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_string()
}

/// A raw HTTP/1.1 exchange over TCP: sends `request` as is (it should ask
/// for `Connection: close`) and returns the status (0 if none could be
/// parsed), the header block and the body.
pub fn raw(server: &Server, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(host_port(server)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The server may close early (e.g. headers too large): ignore errors.
    let _ = stream.write_all(request);
    let _ = stream.flush();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let body = out.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// Audit events matching `query` (admin token).
pub async fn events(server: &Server, admin: &str, query: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/v1/audit?{query}"), Some(admin)).await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().expect("events").clone()
}

/// Creates a service token; returns (token, id).
pub async fn service_token(
    server: &Server,
    admin: &str,
    connections: &[&str],
    ttl_secs: Option<u64>,
) -> (String, String) {
    let mut body = serde_json::json!({"name": "svc", "connections": connections});
    if let Some(ttl) = ttl_secs {
        body["ttl_secs"] = ttl.into();
    }
    let (status, body) = server.post("/v1/service-tokens", Some(admin), body).await;
    assert_eq!(status, 201, "{body}");
    (
        body["token"].as_str().expect("token").to_string(),
        body["id"].as_str().expect("id").to_string(),
    )
}

/// Creates an admin token; returns (token, id).
pub async fn admin_token(server: &Server, admin: &str, ttl_secs: Option<u64>) -> (String, String) {
    let mut body = serde_json::json!({"name": "second admin"});
    if let Some(ttl) = ttl_secs {
        body["ttl_secs"] = ttl.into();
    }
    let (status, body) = server.post("/v1/admin-tokens", Some(admin), body).await;
    assert_eq!(status, 201, "{body}");
    (
        body["token"].as_str().expect("token").to_string(),
        body["id"].as_str().expect("id").to_string(),
    )
}

/// One operation of the served OpenAPI document.
pub struct Route {
    pub method: Method,
    /// The documented template, e.g. `/v1/connections/{name}`.
    pub template: String,
    /// The template with sample values for its parameters.
    pub path: String,
    /// The operation object (security, responses...).
    pub operation: Value,
}

impl Route {
    /// Only an admin token may call it (`security: [{admin: []}]`).
    pub fn admin_only(&self) -> bool {
        self.operation["security"] == serde_json::json!([{"admin": []}])
    }

    /// The content types the document gives for answers with `status`.
    pub fn content_types(&self, status: u16) -> Vec<String> {
        self.operation["responses"][status.to_string()]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Every operation the running server documents at `GET /v1/openapi.json`
/// (which `tests/api/openapi.rs` proves is exactly the set it answers), so
/// a route added later is in every battery built from this list. `POST
/// /v1/sys/seal` comes last: it changes the state the others run in.
pub async fn documented_routes(server: &Server) -> Vec<Route> {
    let (status, doc) = server.get("/v1/openapi.json", None).await;
    assert_eq!(status, 200, "{doc}");
    let mut routes = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            const METHODS: [&str; 8] = [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ];
            if !METHODS.contains(&method.as_str()) {
                continue; // `parameters`, `summary`...
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            routes.push(Route {
                method,
                template: template.clone(),
                path: sample_path(template),
                operation: operation.clone(),
            });
        }
    }
    routes.sort_by_key(|r| r.template == "/v1/sys/seal");
    assert!(
        routes.len() >= 25,
        "only {} routes documented",
        routes.len()
    );
    routes
}

/// A concrete path for a template: a valid connection name or token id for
/// each parameter, so requests get past path validation.
pub fn sample_path(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{name}" => "acme",
            "{id}" => "tok_0000000000000000",
            "{path}" => "crm/v2/Leads",
            s if s.starts_with('{') => panic!("no sample value for {s} in {template}"),
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}
