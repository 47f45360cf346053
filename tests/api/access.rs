//! Least privilege: service tokens against every admin route the server
//! documents and against ungranted connections, 401s for every kind of bad
//! token, admin tokens (create, list, revoke, the last one kept), last use,
//! and path validation. Every 401/403 is checked in the audit trail.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp, ZohoApp};
use crate::support::{admin_token, call, documented_routes, events, raw, service_token, Route};

/// A body an admin could send to `route` (`None` for routes without one):
/// what matters is that only the token decides the answer.
fn body_for(route: &Route) -> Option<Value> {
    route.operation.get("requestBody")?;
    Some(match (route.method.as_str(), route.template.as_str()) {
        ("PUT", "/v1/connections/{name}") => {
            json!({"client_id": "1000.X", "client_secret": "s", "code": "c"})
        }
        ("POST", "/v1/service-tokens") => json!({"name": "x", "connections": ["*"]}),
        ("POST", "/v1/admin-tokens") => json!({"name": "x"}),
        ("POST", "/v1/audit/fingerprint") => json!({"token": "x"}),
        ("POST", "/v1/audit/prune") => json!({"until_seq": 1}),
        ("POST", "/v1/webhooks") => json!({"url": "https://example.com/in", "events": ["*"]}),
        _ => json!({}),
    })
}

/// Every admin-only route the server documents (a new one is included
/// without editing this test).
async fn admin_routes(s: &crate::helpers::Server) -> Vec<Route> {
    let routes: Vec<Route> = documented_routes(s)
        .await
        .into_iter()
        .filter(Route::admin_only)
        .collect();
    for known in [
        "/v1/sys/backup",
        "/v1/connections/{name}/authorize",
        "/v1/sys/seal",
    ] {
        assert!(
            routes.iter().any(|r| r.template == known),
            "{known} is not admin-only"
        );
    }
    routes
}

#[tokio::test]
async fn service_tokens_get_403_on_every_admin_route_and_each_refusal_is_audited() {
    let app = TestApp::spawn();
    let s = &app.server;
    let (narrow, narrow_id) = service_token(s, &app.admin, &["acme"], None).await;
    let (wide, wide_id) = service_token(s, &app.admin, &["*"], None).await;
    let routes = admin_routes(s).await;
    for (token, _) in [(&narrow, &narrow_id), (&wide, &wide_id)] {
        for route in &routes {
            let (method, path) = (&route.method, &route.path);
            let (status, answer) =
                call(s, method.clone(), path, Some(token), body_for(route)).await;
            assert_eq!(status, 403, "{method} {path}: {answer}");
            assert_eq!(error_code(&answer), "forbidden", "{method} {path}");
        }
    }
    // Nothing happened: still unsealed, no token was made.
    assert_eq!(s.health().await["sealed"], false);
    let (_, list) = s.get("/v1/service-tokens", Some(&app.admin)).await;
    assert_eq!(list["service_tokens"].as_array().map(Vec::len), Some(2));
    for id in [&narrow_id, &wide_id] {
        let denied = events(
            s,
            &app.admin,
            &format!("action=access_denied&actor=service:{id}&limit=1000"),
        )
        .await;
        assert_eq!(denied.len(), routes.len(), "one event per refusal");
        assert!(denied
            .iter()
            .all(|e| e["details"]["status"] == 403 && e["outcome"] == "denied"));
    }
}

#[tokio::test]
async fn a_service_token_reaches_only_the_connections_it_was_granted() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    z.connect("globex").await;
    let s = &z.app.server;
    let (acme_only, acme_id) = service_token(s, &z.app.admin, &["acme"], None).await;
    let (all, _) = service_token(s, &z.app.admin, &["*"], None).await;

    let (status, body) = z.issue("acme", &acme_only, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = z.issue("globex", &acme_only, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    assert!(body.get("access_token").is_none());
    for name in ["acme", "globex"] {
        let (status, body) = z.issue(name, &all, json!({})).await;
        assert_eq!(status, 200, "{name}: {body}");
    }
    // The 403 decided in the service layer is audited with the caller.
    let denied = events(
        s,
        &z.app.admin,
        &format!("action=access_denied&actor=service:{acme_id}"),
    )
    .await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["details"]["status"], 403);
    assert_eq!(
        denied[0]["details"]["route"],
        "/v1/connections/globex/token"
    );
}

#[tokio::test]
async fn a_grant_opens_only_the_connection_of_that_exact_name() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    z.connect("acme2").await;
    let s = &z.app.server;
    let (acme_only, _) = service_token(s, &z.app.admin, &["acme"], None).await;
    let (acme2_only, _) = service_token(s, &z.app.admin, &["acme2"], None).await;

    for (token, granted, other) in [
        (&acme_only, "acme", "acme2"),
        (&acme2_only, "acme2", "acme"),
    ] {
        let (status, body) = z.issue(granted, token, json!({})).await;
        assert_eq!(status, 200, "{granted}: {body}");
        let (status, body) = z.issue(other, token, json!({})).await;
        assert_eq!(status, 403, "a grant for {granted} opened {other}: {body}");
        assert_eq!(error_code(&body), "forbidden");
        assert!(body.get("access_token").is_none());
    }
}

#[tokio::test]
async fn missing_malformed_unknown_expired_and_revoked_tokens_get_401_and_are_audited() {
    // Every denial written one by one (the per-address counting of a
    // flood is tested in tests/api/flood.rs).
    let app = TestApp::spawn_with(&[("ZOHO_VAULT_AUDIT__DENIALS_WRITTEN_PER_WINDOW", "0")]);
    let s = &app.server;
    let (expiring, _) = service_token(s, &app.admin, &["*"], Some(1)).await;
    let (revoked_svc, revoked_svc_id) = service_token(s, &app.admin, &["*"], None).await;
    let (revoked_admin, revoked_admin_id) = admin_token(s, &app.admin, None).await;
    let (status, _) = call(
        s,
        Method::DELETE,
        &format!("/v1/service-tokens/{revoked_svc_id}"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        s,
        Method::DELETE,
        &format!("/v1/admin-tokens/{revoked_admin_id}"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let before = events(
        s,
        &app.admin,
        "action=access_denied&actor=anonymous&limit=1000",
    )
    .await
    .len();
    let unknown = format!("zvs_{}", "A".repeat(43));
    let cases: Vec<(Option<&str>, &str)> = vec![
        (None, "missing_token"),
        (Some("nonsense"), "invalid_token"),
        (Some("zva_short"), "invalid_token"),
        (Some(&unknown), "invalid_token"),
        (Some(&expiring), "token_expired"),
        (Some(&revoked_svc), "invalid_token"),
        (Some(&revoked_admin), "invalid_token"),
    ];
    for (token, code) in &cases {
        // A caller route and an admin route.
        for (method, path) in [
            (Method::POST, "/v1/connections/acme/token"),
            (Method::GET, "/v1/service-tokens"),
        ] {
            let (status, body) = call(s, method.clone(), path, *token, None).await;
            assert_eq!(status, 401, "{token:?} {path}: {body}");
            assert_eq!(error_code(&body), *code, "{token:?} {path}");
        }
    }
    // A scheme other than Bearer, and a header that is not text.
    for header in [&b"Basic dXNlcjpwYXNz"[..], &b"Bearer \xff\xfe"[..]] {
        let mut req =
            b"GET /v1/service-tokens HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
                .to_vec();
        req.extend_from_slice(header);
        req.extend_from_slice(b"\r\n\r\n");
        let (status, _, body) = raw(s, &req);
        assert_eq!(status, 401);
        let body: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(error_code(&body), "invalid_token");
    }
    let after = events(
        s,
        &app.admin,
        "action=access_denied&actor=anonymous&limit=1000",
    )
    .await
    .len();
    assert_eq!(after - before, cases.len() * 2 + 2, "every 401 is audited");
}

#[tokio::test]
async fn admin_tokens_are_created_shown_once_listed_used_and_revoked() {
    let app = TestApp::spawn();
    let s = &app.server;
    let (status, created) = s
        .post(
            "/v1/admin-tokens",
            Some(&app.admin),
            json!({"name": "ops on-call", "ttl_secs": 3600}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    assert!(token.starts_with("zva_"));
    assert_eq!(created["name"], "ops on-call");
    assert!(created["expires_at"].is_string());
    assert!(created["last_used_at"].is_null());

    // The new token is an admin.
    let (status, list) = s.get("/v1/admin-tokens", Some(&token)).await;
    assert_eq!(status, 200, "{list}");
    let tokens = list["admin_tokens"].as_array().expect("list");
    assert_eq!(tokens.len(), 2);
    assert!(
        !list.to_string().contains(&token[4..]),
        "tokens are shown once"
    );
    assert!(tokens.iter().all(|t| t.get("token").is_none()));
    assert!(tokens.iter().all(|t| t["kind"] == "admin"));
    // Admin tokens are not service tokens, and the other way round.
    let (_, svc) = s.get("/v1/service-tokens", Some(&token)).await;
    assert_eq!(svc["service_tokens"].as_array().map(Vec::len), Some(0));
    let (status, _) = call(
        s,
        Method::DELETE,
        &format!("/v1/service-tokens/{id}"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Strict bodies.
    let (status, body) = s
        .post(
            "/v1/admin-tokens",
            Some(&app.admin),
            json!({"name": "x", "connections": ["*"]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("connections"), "{body}");
    for bad in [json!({"name": ""}), json!({"name": "x", "ttl_secs": 0})] {
        let (status, _) = s.post("/v1/admin-tokens", Some(&app.admin), bad).await;
        assert_eq!(status, 400);
    }

    let (status, body) = call(
        s,
        Method::DELETE,
        &format!("/v1/admin-tokens/{id}"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked"], id.as_str());
    let (status, _) = s.get("/v1/admin-tokens", Some(&token)).await;
    assert_eq!(status, 401);
    let (status, _) = call(
        s,
        Method::DELETE,
        &format!("/v1/admin-tokens/{id}"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Refused attempts earlier in this test are `failure` events.
    let created: Vec<Value> = events(s, &app.admin, "action=admin_token_created")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["details"]["token_id"], id.as_str());
    let revoked: Vec<Value> = events(s, &app.admin, "action=admin_token_revoked")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    assert_eq!(revoked.len(), 1);
    assert!(!format!("{created:?}{revoked:?}").contains(&token[4..]));
}

#[tokio::test]
async fn the_last_valid_admin_token_cannot_be_revoked() {
    let app = TestApp::spawn();
    let s = &app.server;
    let (_, list) = s.get("/v1/admin-tokens", Some(&app.admin)).await;
    let first_id = list["admin_tokens"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let revoke = |id: String, token: String| async move {
        call(
            s,
            Method::DELETE,
            &format!("/v1/admin-tokens/{id}"),
            Some(&token),
            None,
        )
        .await
    };
    let (status, body) = revoke(first_id.clone(), app.admin.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "last_admin_token");

    // Another admin token that has expired does not count.
    let (_, _) = admin_token(s, &app.admin, Some(1)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = revoke(first_id.clone(), app.admin.clone()).await;
    assert_eq!(status, 409);

    // With a valid second admin, the first may go (even by its own hand),
    // and then the second is the last one.
    let (second, second_id) = admin_token(s, &app.admin, None).await;
    let (status, body) = revoke(first_id, app.admin.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = revoke(second_id, second.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(s.get("/v1/admin-tokens", Some(&second)).await.0, 200);
}

async fn last_used(app: &TestApp, list: &str, id: &str) -> Value {
    let (status, body) = app
        .server
        .get(&format!("/v1/{list}"), Some(&app.admin))
        .await;
    assert_eq!(status, 200);
    let key = list.replace('-', "_");
    body[key.as_str()]
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["id"] == id)
        .map(|t| t["last_used_at"].clone())
        .expect("token listed")
}

/// Polls the list until `id`'s `last_used_at` is set: the write happens
/// off the request path, so a condition (not a duration) decides; gives up
/// loudly after a minute.
async fn first_last_use(app: &TestApp, list: &str, id: &str) -> Value {
    for _ in 0..600 {
        let seen = last_used(app, list, id).await;
        if !seen.is_null() {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("last_used_at of {id} was never written");
}

// Only what can be observed without waiting for something not to happen:
// that a write comes, and when. That the later requests of the same minute
// schedule no second write, and that a write racing a revocation never
// restores the token, are the token registry's unit tests (they control
// the interleaving); from outside, a late write and no write look alike.
#[tokio::test]
async fn last_use_is_recorded_off_the_request_path_for_service_and_admin_tokens() {
    let app = TestApp::spawn();
    let s = &app.server;
    let (token, id) = service_token(s, &app.admin, &["*"], None).await;
    assert!(last_used(&app, "service-tokens", &id).await.is_null());

    // Any authenticated request counts, even one that fails afterwards.
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let (status, _) = s
        .post("/v1/connections/nope/token", Some(&token), json!({}))
        .await;
    assert_eq!(status, 404);
    let first = first_last_use(&app, "service-tokens", &id).await;
    let at = time::OffsetDateTime::parse(
        first.as_str().expect("a timestamp"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert!(at >= before, "{at} is before the request");

    // Admin tokens show it too (the list requests themselves use it).
    let (_, list) = s.get("/v1/admin-tokens", Some(&app.admin)).await;
    let admin_id = list["admin_tokens"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(first_last_use(&app, "admin-tokens", &admin_id)
        .await
        .is_string());

    // Revoked: refused at once, whatever the background writer does.
    let (status, _) = call(
        s,
        Method::DELETE,
        &format!("/v1/service-tokens/{id}"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post("/v1/connections/nope/token", Some(&token), json!({}))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn bad_connection_names_and_token_ids_are_refused_with_400_in_every_route() {
    let app = TestApp::spawn();
    let s = &app.server;
    let long = "x".repeat(129);
    let token_shaped = format!("zvs_{}", "A".repeat(43));
    let encoded = [
        token_shaped.as_str(),
        "a%2Fb",
        "a%20b",
        "%FF",
        "%C3%A9",
        long.as_str(),
    ];
    let body = json!({"client_id": "1000.X", "client_secret": "s", "code": "c"});
    for name in encoded {
        for (method, suffix, body) in [
            (Method::PUT, "", Some(body.clone())),
            (Method::GET, "", None),
            (Method::DELETE, "", None),
            (Method::POST, "/token", Some(json!({}))),
        ] {
            let path = format!("/v1/connections/{name}{suffix}");
            let (status, answer) = call(s, method.clone(), &path, Some(&app.admin), body).await;
            assert_eq!(status, 400, "{method} {path}: {answer}");
            assert_eq!(error_code(&answer), "invalid_name", "{method} {path}");
            assert!(!answer.to_string().contains("%FF"));
        }
    }
    // `.` and `..` raw (an HTTP client would normalise them away).
    for name in [".", ".."] {
        for (method, suffix) in [("GET", ""), ("DELETE", ""), ("POST", "/token")] {
            let req = format!(
                "{method} /v1/connections/{name}{suffix} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                app.admin
            );
            let (status, _, body) = raw(s, req.as_bytes());
            assert_eq!(status, 400, "{method} {name}{suffix}");
            let body: Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(error_code(&body), "invalid_name");
        }
    }
    for list in ["service-tokens", "admin-tokens"] {
        for id in ["nonsense", "tok_XYZ", "tok_00000000000000000", "%00"] {
            let (status, body) = call(
                s,
                Method::DELETE,
                &format!("/v1/{list}/{id}"),
                Some(&app.admin),
                None,
            )
            .await;
            assert_eq!(status, 400, "{list}/{id}: {body}");
            assert_eq!(error_code(&body), "invalid_id");
        }
    }
}
