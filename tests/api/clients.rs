//! The example clients in `examples/clients/` (Python, standard library
//! only; Node.js, built-in `fetch`) run against the real vault and the fake
//! Zoho. Each behaviour is checked against what the vault's audit trail and
//! the fake Zoho saw, not only against what the client says. A machine
//! without `python3` or `node` skips that language's tests with one line
//! saying so, unless `ZOHO_VAULT_REQUIRE_CLIENT_TESTS=1` (set by `.ci/run`),
//! which turns the skip into a failure.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::helpers::ZohoApp;
use zoho_vault::fake_zoho;

/// `1`: a client test whose interpreter is missing fails instead of
/// skipping.
const REQUIRE_VAR: &str = "ZOHO_VAULT_REQUIRE_CLIENT_TESTS";

/// One language's clients.
#[derive(Clone, Copy)]
enum Lang {
    Python,
    Node,
}

impl Lang {
    fn interpreter(self) -> &'static str {
        match self {
            Lang::Python => "python3",
            Lang::Node => "node",
        }
    }

    /// The script of one client (`token_client`, `proxy_client`).
    fn script(self, client: &str) -> PathBuf {
        let (dir, ext) = match self {
            Lang::Python => ("python", "py"),
            Lang::Node => ("node", "mjs"),
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/clients")
            .join(dir)
            .join(format!("{client}.{ext}"))
    }

    /// Whether the interpreter can run the clients; prints why not.
    fn available(self, test: &str) -> bool {
        let out = Command::new(self.interpreter()).arg("--version").output();
        let why = match out {
            Err(e) => format!("`{}` cannot be run ({e})", self.interpreter()),
            Ok(o) if !o.status.success() => format!("`{} --version` failed", self.interpreter()),
            Ok(o) => {
                // Python prints its version on stdout (stderr before 3.4).
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                match (self, major_version(&text)) {
                    (Lang::Node, Some(major)) if major < 18 => {
                        format!("node {} is older than 18 (no built-in fetch)", text.trim())
                    }
                    _ => return true,
                }
            }
        };
        assert!(
            std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
            "{test}: {why}, and {REQUIRE_VAR}=1"
        );
        // Straight to stderr: the test harness swallows `eprintln!` of
        // passing tests, and this line must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {why}; this example client was not tested"
        );
        false
    }

    /// Runs `client` with `args`, pointed at the vault with `token`.
    fn run(self, z: &ZohoApp, client: &str, token: &str, args: &[&str]) -> Output {
        Command::new(self.interpreter())
            .arg(self.script(client))
            .args(args)
            .env("ZOHO_VAULT_ADDR", &z.app.server.base)
            .env("ZOHO_VAULT_TOKEN", token)
            .env("ZOHO_VAULT_CONNECTION", "acme")
            .env("ZOHO_ORG_ID", z.fake.config().organization_id)
            .output()
            .expect("run the client")
    }
}

/// `v20.20.2` or `Python 3.11.7` → the first number.
fn major_version(text: &str) -> Option<u32> {
    text.trim()
        .trim_start_matches("Python ")
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The client's one JSON line on stdout (asserting it exited 0).
fn json_line(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "client failed: {}\n{}",
        stdout(out),
        stderr(out)
    );
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// How many `token_issued` events the trail holds.
async fn token_issues(z: &ZohoApp) -> usize {
    fresh_events(z, "action=token_issued&limit=1000")
        .await
        .len()
}

/// Events matching `query`. A fresh HTTP client: the shared one's idle
/// connection may have been closed by the server while a client script
/// ran.
async fn fresh_events(z: &ZohoApp, query: &str) -> Vec<Value> {
    let req = reqwest::Client::new()
        .get(z.app.server.url(&format!("/v1/audit?{query}")))
        .bearer_auth(&z.app.admin);
    let (status, body) = crate::helpers::answer(req).await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().expect("events").clone()
}

async fn token_client_asks_the_vault_once_for_many_calls(lang: Lang, test: &str) {
    if !lang.available(test) {
        return;
    }
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let (svc_id, svc) = z.app.create_service_token("backend", &["acme"]).await;
    let before = token_issues(&z).await;
    let out = json_line(&lang.run(&z, "token_client", &svc, &["5"]));
    assert_eq!(out["calls"], 5, "{out}");
    assert_eq!(out["vault_requests"], 1, "{out}");
    assert_eq!(out["distinct_tokens"], 1, "{out}");
    assert_eq!(out["api_domain"], z.fake.base_url(), "{out}");
    // The vault agrees: five calls, one token issued, to this service token.
    assert_eq!(token_issues(&z).await, before + 1);
    let issued = fresh_events(&z, "action=token_issued&limit=1").await;
    assert_eq!(
        issued[0]["actor"],
        format!("service:{svc_id}"),
        "{issued:?}"
    );
}

#[tokio::test]
async fn python_token_client_asks_the_vault_once_for_many_calls() {
    token_client_asks_the_vault_once_for_many_calls(
        Lang::Python,
        "python_token_client_asks_the_vault_once_for_many_calls",
    )
    .await;
}

#[tokio::test]
async fn node_token_client_asks_the_vault_once_for_many_calls() {
    token_client_asks_the_vault_once_for_many_calls(
        Lang::Node,
        "node_token_client_asks_the_vault_once_for_many_calls",
    )
    .await;
}

async fn token_client_waits_out_retry_after(lang: Lang, test: &str) {
    if !lang.available(test) {
        return;
    }
    // A throttled connection answers 429 with Retry-After until the
    // back-off ends; long enough that the client surely starts within it.
    let z = ZohoApp::spawn_with(&[("ZOHO_VAULT_BROKER__THROTTLE_BACKOFF_SECS", "6")]);
    z.set_access_token_ttl(150); // cached: 150 s - the 60 s margin = 90 s left
    z.connect("acme").await;
    let svc = z.service_token(&["acme"]).await;
    // The next refresh is throttled by Zoho: the connection is `throttled`.
    let throttle = |limit| fake_zoho::ConfigPatch {
        mint_limit: Some(limit),
        access_token_ttl_secs: Some(3600),
        ..Default::default()
    };
    z.fake.update_config(throttle(1)).expect("config");
    let admin = z.app.admin.clone();
    let (status, body) = z
        .issue("acme", &admin, json!({"min_valid_secs": 120}))
        .await;
    assert_eq!(status, 429, "{body}");
    z.fake.update_config(throttle(100)).expect("config");
    let before = token_issues(&z).await;
    // The client asks for 120 s of validity, which the cached token lacks.
    let out = json_line(&lang.run(&z, "token_client", &svc, &["2"]));
    let waits = out["waits"].as_u64().expect("waits");
    assert!(waits >= 1, "{out}");
    assert_eq!(out["vault_requests"], waits + 1, "{out}");
    assert_eq!(out["distinct_tokens"], 1, "{out}");
    assert_eq!(token_issues(&z).await, before + 1);
    assert_eq!(
        z.fake.counters().throttled,
        1,
        "the client's waits were not spent at Zoho"
    );
}

#[tokio::test]
async fn python_token_client_waits_out_retry_after_and_then_gets_the_token() {
    token_client_waits_out_retry_after(
        Lang::Python,
        "python_token_client_waits_out_retry_after_and_then_gets_the_token",
    )
    .await;
}

#[tokio::test]
async fn node_token_client_waits_out_retry_after_and_then_gets_the_token() {
    token_client_waits_out_retry_after(
        Lang::Node,
        "node_token_client_waits_out_retry_after_and_then_gets_the_token",
    )
    .await;
}

async fn token_client_reports_needs_reauth_with_the_fix(lang: Lang, test: &str) {
    if !lang.available(test) {
        return;
    }
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000); // a demand of 3000 s needs a refresh
    let rt = z.import("acme").await;
    assert!(z.fake.revoke(&rt));
    let admin = z.app.admin.clone();
    let (status, _) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 409);
    let svc = z.service_token(&["acme"]).await;
    let refreshes = z.fake.counters().refreshes;
    let out = lang.run(&z, "token_client", &svc, &["1"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("409 needs_reauth"), "{err}");
    // The vault's hint, naming the connection, reaches the operator.
    assert!(err.contains("PUT /v1/connections/acme"), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    // A dead credential is not retried: Zoho saw nothing more.
    assert_eq!(z.fake.counters().refreshes, refreshes);
}

#[tokio::test]
async fn python_token_client_reports_needs_reauth_with_the_fix() {
    token_client_reports_needs_reauth_with_the_fix(
        Lang::Python,
        "python_token_client_reports_needs_reauth_with_the_fix",
    )
    .await;
}

#[tokio::test]
async fn node_token_client_reports_needs_reauth_with_the_fix() {
    token_client_reports_needs_reauth_with_the_fix(
        Lang::Node,
        "node_token_client_reports_needs_reauth_with_the_fix",
    )
    .await;
}
/// A proxy-only service token for `acme`, limited to `/invoice/v3/`;
/// (id, token).
async fn proxy_only_token(z: &ZohoApp) -> (String, String) {
    let body = json!({"name": "billing", "connections": ["acme"], "access": "proxy",
        "proxy_paths": ["/invoice/v3/"]});
    let (status, created) = z.app.admin_post("/v1/service-tokens", body).await;
    assert_eq!(status, 201, "{created}");
    let field = |f: &str| created[f].as_str().expect(f).to_string();
    (field("id"), field("token"))
}

/// What the fake Zoho answers to `GET {path}` with the connection's access
/// token (asked by the admin: the same cached token the proxy uses), and
/// that token.
async fn straight_from_the_fake(z: &ZohoApp, path: &str) -> (Value, String) {
    // The test connections' scopes create records; reading them is the
    // proxy's business here, not the fake's scope check.
    z.fake
        .update_config(fake_zoho::ConfigPatch {
            enforce_scopes: Some(false),
            ..Default::default()
        })
        .expect("config");
    let admin = z.app.admin.clone();
    let (status, issued) = z.issue("acme", &admin, json!({})).await;
    assert_eq!(status, 200, "{issued}");
    let access = issued["access_token"].as_str().expect("token").to_string();
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", z.fake.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {access}"))
        .header(
            "X-com-zoho-invoice-organizationid",
            z.fake.config().organization_id,
        )
        .send()
        .await
        .expect("fake");
    assert_eq!(resp.status(), 200);
    (resp.json().await.expect("json"), access)
}

/// The fake Zoho's invoice list.
const INVOICES: &str = "/invoice/v3/invoices";

async fn proxy_client_gets_zohos_answer_without_a_token(lang: Lang, test: &str) {
    if !lang.available(test) {
        return;
    }
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let (svc_id, svc) = proxy_only_token(&z).await;
    let (expected, access) = straight_from_the_fake(&z, INVOICES).await;
    let calls = z.fake.counters().invoice_calls;
    let out = lang.run(&z, "proxy_client", &svc, &[INVOICES]);
    let got = json_line(&out);
    assert_eq!(got, expected);
    assert_eq!(got["invoices"].as_array().map(Vec::len), Some(10), "{got}");
    // One call reached Zoho, and the caller never saw the access token.
    assert_eq!(z.fake.counters().invoice_calls, calls + 1);
    assert!(!stdout(&out).contains(&access) && !stderr(&out).contains(&access));
    // The trail has the call, by this token, without the query string.
    let sent = fresh_events(&z, "action=proxy_request&limit=10").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["actor"], format!("service:{svc_id}"), "{sent:?}");
    assert_eq!(sent[0]["connection"], "acme", "{sent:?}");
    assert_eq!(sent[0]["details"]["method"], "GET", "{sent:?}");
    assert_eq!(sent[0]["details"]["path"], INVOICES, "{sent:?}");
    let done = fresh_events(&z, "action=proxy_completed&limit=10").await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["request_id"], sent[0]["request_id"], "{done:?}");
    assert_eq!(done[0]["details"]["status"], 200, "{done:?}");
}

#[tokio::test]
async fn python_proxy_client_gets_zohos_answer_without_ever_holding_a_token() {
    proxy_client_gets_zohos_answer_without_a_token(
        Lang::Python,
        "python_proxy_client_gets_zohos_answer_without_ever_holding_a_token",
    )
    .await;
}

#[tokio::test]
async fn node_proxy_client_gets_zohos_answer_without_ever_holding_a_token() {
    proxy_client_gets_zohos_answer_without_a_token(
        Lang::Node,
        "node_proxy_client_gets_zohos_answer_without_ever_holding_a_token",
    )
    .await;
}

async fn proxy_only_token_cannot_fetch_a_token(lang: Lang, test: &str) {
    if !lang.available(test) {
        return;
    }
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let (_, svc) = proxy_only_token(&z).await;
    let before = token_issues(&z).await;
    let out = lang.run(&z, "token_client", &svc, &["1"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("403 proxy_only"), "{}", stderr(&out));
    assert_eq!(token_issues(&z).await, before);
}

#[tokio::test]
async fn python_token_client_with_a_proxy_only_token_is_refused() {
    proxy_only_token_cannot_fetch_a_token(
        Lang::Python,
        "python_token_client_with_a_proxy_only_token_is_refused",
    )
    .await;
}

#[tokio::test]
async fn node_token_client_with_a_proxy_only_token_is_refused() {
    proxy_only_token_cannot_fetch_a_token(
        Lang::Node,
        "node_token_client_with_a_proxy_only_token_is_refused",
    )
    .await;
}

async fn proxy_client_reports_needs_reauth_without_reaching_zoho(lang: Lang, test: &str) {
    if !lang.available(test) {
        return;
    }
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    let rt = z.import("acme").await;
    assert!(z.fake.revoke(&rt));
    let admin = z.app.admin.clone();
    let (status, _) = z
        .issue("acme", &admin, json!({"min_valid_secs": 3000}))
        .await;
    assert_eq!(status, 409);
    let (_, svc) = proxy_only_token(&z).await;
    let calls = z.fake.counters().invoice_calls;
    let out = lang.run(&z, "proxy_client", &svc, &[INVOICES]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("409 needs_reauth"), "{err}");
    assert!(err.contains("PUT /v1/connections/acme"), "{err}");
    assert_eq!(z.fake.counters().invoice_calls, calls);
}

#[tokio::test]
async fn python_proxy_client_reports_needs_reauth_without_reaching_zoho() {
    proxy_client_reports_needs_reauth_without_reaching_zoho(
        Lang::Python,
        "python_proxy_client_reports_needs_reauth_without_reaching_zoho",
    )
    .await;
}

#[tokio::test]
async fn node_proxy_client_reports_needs_reauth_without_reaching_zoho() {
    proxy_client_reports_needs_reauth_without_reaching_zoho(
        Lang::Node,
        "node_proxy_client_reports_needs_reauth_without_reaching_zoho",
    )
    .await;
}
