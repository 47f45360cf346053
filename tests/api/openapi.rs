//! `GET /v1/openapi.json`: the document parses, is OpenAPI 3.x, and lists
//! exactly the routes the server answers.
//!
//! Route coverage is established both ways against a real server:
//! - what the document says: every (method, path template) under `paths`;
//! - what the server answers: every path template registered through
//!   `api::resource()` / `api::root_resource()` (`api::route_templates()`,
//!   the same registration code the server runs), plus every documented
//!   path, probed with sample parameter values and each method below,
//!   without a token or body. A path every method answers `404` for is not
//!   served at all; otherwise a method answered `405 method_not_allowed`
//!   is not a route there, and any other answer (401, 400, 200...) is.
//!
//! The two sets must be equal: a route added without documenting it, or a
//! documented route that does not exist, fails here with the difference.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Server, TestApp, VaultDir, PASSPHRASE};

/// Methods probed on every path.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Methods an OpenAPI path item may hold.
const OPENAPI_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

const FAULTS: (&str, &str) = ("ZOHO_VAULT_AUDIT__FAULT_INJECTION", "true");

type Routes = BTreeSet<(String, String)>;

async fn fetch_document(server: &Server) -> Value {
    let resp = server
        .http
        .get(server.url("/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let text = resp.text().await.expect("body");
    serde_json::from_str(&text).expect("the document is JSON")
}

fn documented(doc: &Value) -> Routes {
    let mut routes = Routes::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in OPENAPI_METHODS {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// A concrete path for a template: sample values for its parameters.
fn sample(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{name}" => "probe-connection",
            "{id}" => "tok_0000000000000000",
            s if s.starts_with('{') => "probe",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// (method, template) pairs the server answers, over `templates`.
async fn answered(server: &Server, templates: &BTreeSet<String>) -> Routes {
    let mut routes = Routes::new();
    for template in templates {
        let path = sample(template);
        let mut statuses = BTreeMap::new();
        for method in METHODS {
            let m = Method::from_bytes(method.as_bytes()).expect("method");
            let resp = server
                .http
                .request(m, server.url(&path))
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            if status == 405 && method != "HEAD" {
                let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                assert_eq!(
                    json["error"]["code"], "method_not_allowed",
                    "{method} {path}: a 405 outside the error shape: {body}"
                );
            }
            statuses.insert(method, status);
        }
        if statuses.values().all(|s| *s == 404) {
            // Not served at all (e.g. the test knob while it is off).
            continue;
        }
        for (method, status) in statuses {
            if status != 405 {
                routes.insert((method.to_string(), template.clone()));
            }
        }
    }
    routes
}

fn describe(routes: &Routes) -> String {
    routes
        .iter()
        .map(|(m, p)| format!("  {m} {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The document of `app` and the routes it answers are the same set.
async fn assert_coverage(server: &Server) {
    let doc = fetch_document(server).await;
    let documented = documented(&doc);
    let registered = zoho_vault::api::route_templates();
    let mut templates = registered.clone();
    templates.extend(documented.iter().map(|(_, p)| p.clone()));
    let answered = answered(server, &templates).await;
    let undocumented: Routes = answered.difference(&documented).cloned().collect();
    let missing: Routes = documented.difference(&answered).cloned().collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "the OpenAPI document and the server disagree\n\
         answered but not documented (add #[utoipa::path] and list it in api::openapi::ApiDoc):\n{}\n\
         documented but not answered (or not registered through api::resource()):\n{}",
        describe(&undocumented),
        describe(&missing),
    );
    // Sanity: the probe saw the routes everyone knows.
    for (method, path) in [
        ("GET", "/v1/sys/health"),
        ("PUT", "/v1/connections/{name}"),
        ("POST", "/v1/connections/{name}/token"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/metrics"),
    ] {
        assert!(
            answered.contains(&(method.to_string(), path.to_string())),
            "{method} {path} not seen"
        );
    }
}

#[tokio::test]
async fn documented_operations_are_exactly_the_routes_the_server_answers() {
    let app = TestApp::spawn();
    assert_coverage(&app.server).await;
    let doc = fetch_document(&app.server).await;
    assert!(
        doc["paths"].get("/v1/sys/audit-faults").is_none(),
        "the test knob is off: its route does not exist, so it is not documented"
    );
}

#[tokio::test]
async fn with_the_test_knob_on_its_route_is_documented_and_answered() {
    let app = TestApp::spawn_with(&[FAULTS]);
    assert_coverage(&app.server).await;
    let doc = fetch_document(&app.server).await;
    assert!(doc["paths"]["/v1/sys/audit-faults"]["post"].is_object());
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_describes_every_route_and_is_served_while_sealed() {
    let dir = VaultDir::new();
    dir.init(PASSPHRASE);
    let server = Server::start(&dir, None, &[]);
    assert_eq!(server.health().await["sealed"], true);
    let doc = fetch_document(&server).await;

    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert_eq!(doc["info"]["title"], "zoho-vault");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let paths = doc["paths"].as_object().expect("paths");
    for template in zoho_vault::api::route_templates() {
        if template == "/v1/sys/audit-faults" {
            continue; // exists only with the test knob on (the test above)
        }
        assert!(paths.contains_key(&template), "no path for {template}");
    }

    // Every reference resolves.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }

    // The one error shape and both bearer schemes.
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]));
    let detail = &doc["components"]["schemas"]["ErrorDetail"];
    assert_eq!(detail["required"], serde_json::json!(["code", "message"]));
    assert!(detail["properties"]["hint"].is_object());
    for scheme in ["admin", "service"] {
        let s = &doc["components"]["securitySchemes"][scheme];
        assert_eq!(s["type"], "http");
        assert_eq!(s["scheme"], "bearer");
    }
    let issue = &doc["paths"]["/v1/connections/{name}/token"]["post"];
    assert_eq!(
        issue["security"],
        serde_json::json!([{"service": []}, {"admin": []}])
    );
    assert_eq!(
        doc["paths"]["/v1/sys/seal"]["post"]["security"],
        serde_json::json!([{"admin": []}])
    );
    assert!(doc["paths"]["/v1/sys/health"]["get"]
        .get("security")
        .is_none());
    assert_eq!(
        issue["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );

    // Content types of the routes that do not answer JSON.
    let html = &doc["paths"]["/v1/oauth/callback"]["get"]["responses"];
    for status in ["200", "400", "503"] {
        assert!(
            html[status]["content"]["text/html"].is_object(),
            "callback {status}: {}",
            html[status]
        );
    }
    let metrics = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    let types: Vec<&String> = metrics.as_object().expect("content").keys().collect();
    assert_eq!(types, ["text/plain; version=0.0.4; charset=utf-8"]);
}

#[tokio::test]
async fn live_answers_have_the_documented_fields() {
    // A light check that the schemas follow the types: the fields of real
    // answers are the documented properties, and the required ones are there.
    let app = TestApp::spawn();
    let doc = fetch_document(&app.server).await;
    let schemas = &doc["components"]["schemas"];
    let check = |name: &str, value: &Value| {
        let schema = &schemas[name];
        let props = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no properties"));
        let fields = value.as_object().expect("an object");
        for key in fields.keys() {
            assert!(props.contains_key(key), "{name}: `{key}` is not documented");
        }
        for req in schema["required"].as_array().into_iter().flatten() {
            let req = req.as_str().expect("name");
            assert!(
                fields.contains_key(req),
                "{name}: `{req}` missing in {value}"
            );
        }
    };
    check("VaultHealth", &app.server.health().await);
    let (status, created) = app
        .admin_post(
            "/v1/service-tokens",
            serde_json::json!({"name": "backend", "connections": ["*"]}),
        )
        .await;
    assert_eq!(status, 201);
    check("ServiceTokenCreated", &created);
    let (_, list) = app.admin_get("/v1/service-tokens").await;
    check("ServiceTokenList", &list);
    check("TokenRecord", &list["service_tokens"][0]);
    let (_, page) = app.admin_get("/v1/audit?limit=5").await;
    check("AuditPage", &page);
    check("AuditRecord", &page["events"][0]);
    check("VerifyReport", &app.verify().await);
    let (_, err) = app.admin_get("/v1/connections/nope").await;
    check("ErrorBody", &err);
    check("ErrorDetail", &err["error"]);
}
