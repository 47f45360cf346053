//! The admin console's pages and actions over real HTTP: no secret on any
//! page (but a new token, once), the chart's bars, the actions audited
//! with the admin's id and the channel `ui`, adding a connection by upload
//! and through the browser flow, re-authorising, deleting, verifying.

use serde_json::{json, Value};

use crate::console_client::Browser;
use crate::helpers::{Planted, ZohoApp, SCOPES};
use crate::oauth_flow::Flow;
use crate::support::service_token;

/// The admin token's public id.
async fn admin_id(z: &ZohoApp) -> String {
    let (status, me) = z.app.admin_get("/v1/auth/self").await;
    assert_eq!(status, 200, "{me}");
    me["id"].as_str().expect("id").to_string()
}

/// Number of chart bars on a page, and their hours.
fn bars(html: &str) -> Vec<String> {
    html.split("<rect class=\"bar\" data-hour=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(str::to_string)
        .collect()
}

fn hour_now() -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]");
    time::OffsetDateTime::now_utc().format(&fmt).expect("hour")
}

#[tokio::test]
async fn no_page_shows_a_planted_secret_and_a_new_token_is_shown_once() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000);
    let mut planted = Planted::default();
    planted.add("admin token", &z.app.admin);
    let upload = z.upload_body();
    planted.add(
        "client secret",
        upload["client_secret"].as_str().expect("secret"),
    );
    planted.add("code", upload["code"].as_str().expect("code"));
    let (status, body) = z.put_connection("acme", &upload).await;
    assert_eq!(status, 201, "{body}");
    let rt = z.import("imported").await;
    planted.add("refresh token", &rt);
    let (svc, _) = service_token(&z.app.server, &z.app.admin, &["*"], None).await;
    planted.add("service token", &svc);
    for name in ["acme", "imported"] {
        let (status, body) = z.issue(name, &svc, json!({"min_valid_secs": 3000})).await;
        assert_eq!(status, 200, "{body}");
        planted.add(
            "access token",
            body["access_token"].as_str().expect("token"),
        );
    }
    let (status, wh) = z
        .app
        .admin_post(
            "/v1/webhooks",
            json!({"url": "https://hooks.example.com/in?key=hidden-query-secret", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 201, "{wh}");
    planted.add("webhook secret", wh["secret"].as_str().expect("whsec"));
    planted.add("webhook URL query", "hidden-query-secret");

    // A refused login does not echo what was pasted.
    let refused = Browser::new(&z.app.server).login(&svc).await;
    assert_eq!(refused.status, 401);
    planted.assert_absent("a refused login", &refused.html);
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;
    let verified = b.submit("/ui/audit", "/ui/audit/verify", &[]).await;
    planted.assert_absent("the verify page", &verified.html);
    for path in [
        "/ui/",
        "/ui/connections",
        "/ui/connections/new",
        "/ui/connections/acme",
        "/ui/connections/imported",
        "/ui/service-tokens",
        "/ui/audit",
        "/ui/audit?limit=1000",
        "/ui/webhooks",
        "/ui/static/console.css",
    ] {
        let page = b.get(path).await;
        assert!(
            page.status == 200 || page.status == 303,
            "{path}: {}",
            page.status
        );
        planted.assert_absent(path, &page.html);
        assert!(
            !page.html.contains("zva_") && !page.html.contains("zvs_"),
            "{path}"
        );
    }

    // A new token is on the page the creation redirects to, and only there.
    let posted = b
        .submit(
            "/ui/service-tokens",
            "/ui/service-tokens",
            &[
                ("name", "backend"),
                ("connections", "acme, imported"),
                ("access", "token"),
            ],
        )
        .await;
    assert_eq!(posted.status, 303, "{}", posted.html);
    assert_eq!(posted.location(), "/ui/service-tokens");
    assert!(!posted.html.contains("zvs_"));
    let created = b.get("/ui/service-tokens").await;
    assert_eq!(created.status, 200, "{}", created.html);
    let shown = created
        .between("<code id=\"new-token\">", "<")
        .expect("the new token");
    assert!(shown.starts_with("zvs_"), "{shown}");
    planted.assert_absent("the creation page", &created.html);
    let (status, _) = z.app.server.get("/v1/auth/self", Some(&shown)).await;
    assert_eq!(status, 200, "the shown token works");
    let again = b.get("/ui/service-tokens").await;
    assert!(!again.html.contains(&shown), "shown once only");
    assert!(!again.html.contains("new-token"));
    // Reloading the page made no second token.
    let (_, tokens) = z.app.admin_get("/v1/service-tokens").await;
    let named = tokens["service_tokens"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|t| t["name"] == "backend")
        .count();
    assert_eq!(named, 1, "{tokens}");
}

#[tokio::test]
async fn the_chart_has_one_bar_per_hour_with_token_issues_or_refreshes() {
    let clock = tempfile::NamedTempFile::new().expect("clock file");
    std::fs::write(clock.path(), "0").expect("write");
    let path = clock.path().display().to_string();
    let z = ZohoApp::spawn_with(&[
        ("ZV_FAKE_CLOCK_FILE", &path),
        ("ZOHO_VAULT_UI__SESSION_TTL", "2days"),
    ]);
    z.connect("quiet").await;
    z.connect("busy").await;
    let (svc, _) = service_token(&z.app.server, &z.app.admin, &["busy"], None).await;
    let before = hour_now();
    for _ in 0..3 {
        let (status, body) = z.issue("busy", &svc, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let after = hour_now();
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;

    let busy = b.get("/ui/connections/busy").await;
    assert_eq!(busy.status, 200, "{}", busy.html);
    assert!(busy
        .html
        .contains(r#"<svg class="chart" role="img" aria-label="#));
    let hours = bars(&busy.html);
    assert_eq!(hours.len(), 1, "{}", busy.html);
    assert!(hours[0] == before || hours[0] == after, "{hours:?}");
    // Three issues; the upload's exchange is not a refresh.
    assert!(busy.html.contains("24 hours: 3 in all"), "{}", busy.html);

    let quiet = b.get("/ui/connections/quiet").await;
    assert!(quiet.html.contains("<svg class=\"chart\""));
    assert_eq!(bars(&quiet.html).len(), 0, "no traffic, no bars");

    // A day later the same traffic is out of the window.
    std::fs::write(clock.path(), (25 * 3600).to_string()).expect("write");
    let later = b.get("/ui/connections/busy").await;
    assert_eq!(later.status, 200, "{}", later.html);
    assert_eq!(bars(&later.html).len(), 0, "{}", later.html);
}

#[tokio::test]
async fn console_actions_are_audited_with_the_admins_id_and_the_ui_channel() {
    let z = ZohoApp::spawn();
    z.connect("acme").await;
    let actor = format!("admin:{}", admin_id(&z).await);
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;

    let created = b
        .submit(
            "/ui/service-tokens",
            "/ui/service-tokens",
            &[
                ("name", "backend"),
                ("connections", "acme"),
                ("access", "proxy"),
                ("proxy_paths", "/invoice/v3/"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.html);
    let created = b.get("/ui/service-tokens").await;
    let id = created
        .between("data-token-id=\"", "\"")
        .expect("the token's row");
    let revoked = b
        .submit(
            "/ui/service-tokens",
            &format!("/ui/service-tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(revoked.status, 303);
    let asked = b
        .submit("/ui/connections/acme", "/ui/connections/acme/delete", &[])
        .await;
    assert_eq!(asked.status, 200, "{}", asked.html);
    assert!(asked.html.contains(r#"<form id="confirm-delete""#));
    let (status, _) = z.app.admin_get("/v1/connections/acme").await;
    assert_eq!(status, 200, "asking deletes nothing");
    let deleted = b
        .submit(
            "/ui/connections/acme",
            "/ui/connections/acme/delete",
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.html);
    assert_eq!(deleted.location(), "/ui/connections?done=deleted");
    let list = b.get(deleted.location()).await;
    assert!(list.html.contains(r#"<p class="flash" role="status">"#));
    assert!(!list.html.contains("data-connection=\"acme\""));

    for action in [
        "service_token_created",
        "service_token_revoked",
        "connection_deleted",
        "audit_read",
    ] {
        let events = z.app.events(&format!("action={action}")).await;
        let e = events
            .iter()
            .find(|e| e["details"]["channel"] == "ui")
            .unwrap_or_else(|| panic!("no {action} from the console: {events:?}"));
        assert_eq!(e["actor"], actor, "{e}");
    }
    // The API's own actions carry no channel.
    let created_by_api = z.app.events("action=connection_created").await;
    assert!(created_by_api[0]["details"].get("channel").is_none());
}

#[tokio::test]
async fn a_refused_console_action_says_why_and_is_audited_as_refused() {
    let z = ZohoApp::spawn();
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;
    let answer = b
        .submit(
            "/ui/service-tokens",
            "/ui/service-tokens",
            &[("name", ""), ("connections", ""), ("access", "token")],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.html);
    assert!(answer.html.contains(r#"<p class="error" role="alert">"#));
    let (_, tokens) = z.app.admin_get("/v1/service-tokens").await;
    assert_eq!(tokens["service_tokens"], json!([]));
    let refused: Vec<Value> = z.app.events("action=service_token_created").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["outcome"], "failure", "{refused:?}");
    assert_eq!(refused[0]["details"]["channel"], "ui");
}

#[tokio::test]
async fn a_self_client_json_uploaded_in_the_console_becomes_an_active_connection() {
    let z = ZohoApp::spawn();
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;
    let csrf = b.get("/ui/connections/new").await.csrf();
    let file = z
        .fake
        .self_client_json(&z.client, &SCOPES, 180)
        .expect("code");
    let bytes = serde_json::to_vec(&file).expect("json");
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("name", "uploaded")
        .text("data_center", "com")
        .text("accounts_url", z.fake.base_url())
        .part(
            "self_client",
            reqwest::multipart::Part::bytes(bytes).file_name("self_client.json"),
        );
    let resp = b
        .http
        .post(format!("{}/ui/connections", b.base))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let answer = Browser::read(resp).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location(), "/ui/connections/uploaded?done=created");
    let page = b.get(answer.location()).await;
    assert!(
        page.html
            .contains(r#"<span class="state state-active">active</span>"#),
        "{}",
        page.html
    );
    let list = b.get("/ui/connections").await;
    assert!(list.html.contains(r#"<tr data-connection="uploaded">"#));
}

#[tokio::test]
async fn an_upload_without_the_csrf_token_is_refused_and_creates_nothing() {
    let z = ZohoApp::spawn();
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;
    let file = z
        .fake
        .self_client_json(&z.client, &SCOPES, 180)
        .expect("code");
    let form = reqwest::multipart::Form::new()
        .text("name", "sneaky")
        .text("accounts_url", z.fake.base_url())
        .part(
            "self_client",
            reqwest::multipart::Part::bytes(serde_json::to_vec(&file).expect("json")),
        );
    let resp = b
        .http
        .post(format!("{}/ui/connections", b.base))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 403);
    let (status, _) = z.app.admin_get("/v1/connections/sneaky").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_upload_with_more_fields_than_the_form_is_refused() {
    let z = ZohoApp::spawn();
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;
    let csrf = b.get("/ui/connections/new").await.csrf();
    let mut form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("name", "many");
    for i in 0..100 {
        form = form.text(format!("junk{i}"), "x");
    }
    // A good file: only the number of fields is wrong.
    let file = z
        .fake
        .self_client_json(&z.client, &SCOPES, 180)
        .expect("code");
    let form = form.text("accounts_url", z.fake.base_url()).part(
        "self_client",
        reqwest::multipart::Part::bytes(serde_json::to_vec(&file).expect("json")),
    );
    let resp = b
        .http
        .post(format!("{}/ui/connections", b.base))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let answer = Browser::read(resp).await;
    assert_eq!(answer.status, 400, "{}", answer.html);
    assert!(answer.html.contains(r#"<p class="error" role="alert">"#));
    let (status, _) = z.app.admin_get("/v1/connections/many").await;
    assert_eq!(status, 404);
}

/// Follows the vault's 303 to Zoho, accepts there, and opens the callback
/// in the console's browser: answers the callback's answer.
async fn accept_at_zoho(f: &Flow, b: &Browser, to_zoho: &str) -> crate::console_client::Answer {
    assert!(
        to_zoho.starts_with(&f.z.fake.base_url()),
        "sent to Zoho: {to_zoho}"
    );
    let back = f.consent(to_zoho, "accept").await;
    b.get(&back).await
}

#[tokio::test]
async fn the_browser_flow_started_in_the_console_lands_back_on_the_connection_page() {
    let f = Flow::spawn();
    let b = Browser::logged_in(&f.z.app.server, &f.z.app.admin).await;
    let scopes = SCOPES.join(",");
    let callback = f.callback_url();
    let base = f.z.fake.base_url();
    let started = b
        .submit(
            "/ui/connections/new",
            "/ui/connections/authorize",
            &[
                ("name", "web"),
                ("client_id", &f.web.client_id),
                ("client_secret", &f.web.client_secret),
                ("scopes", &scopes),
                ("redirect_uri", &callback),
                ("data_center", "com"),
                ("accounts_url", &base),
            ],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.html);
    let landed = accept_at_zoho(&f, &b, started.location()).await;
    assert_eq!(landed.status, 303, "{}", landed.html);
    assert_eq!(landed.location(), "/ui/connections/web?done=connected");
    let page = b.get(landed.location()).await;
    assert!(
        page.html
            .contains(r#"<span class="state state-active">active</span>"#),
        "{}",
        page.html
    );
    assert!(page.html.contains(r#"<p class="flash" role="status">"#));
    // Without the console's mark, the callback answers its own page.
    assert_eq!(f.show("web").await["health"]["state"], "active");
}

#[tokio::test]
async fn a_connection_that_needs_reauth_shows_the_fix_and_is_reauthorised_from_the_console() {
    let f = Flow::spawn();
    f.z.set_access_token_ttl(3000);
    let rt =
        f.z.fake
            .mint_refresh_token(&f.web, &SCOPES)
            .expect("refresh token");
    let body = json!({"client_id": f.web.client_id, "client_secret": f.web.client_secret,
        "refresh_token": rt, "redirect_uri": f.callback_url(), "accounts_url": f.z.fake.base_url()});
    let (status, view) = f.z.put_connection("web", &body).await;
    assert_eq!(status, 201, "{view}");
    let svc = f.z.service_token(&["web"]).await;
    assert!(f.z.fake.revoke(&rt));
    let (status, body) =
        f.z.issue("web", &svc, json!({"min_valid_secs": 3000}))
            .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "needs_reauth");

    let b = Browser::logged_in(&f.z.app.server, &f.z.app.admin).await;
    let list = b.get("/ui/connections").await;
    assert!(
        list.html
            .contains(r#"<span class="state state-needs_reauth">needs_reauth</span>"#),
        "{}",
        list.html
    );
    let page = b.get("/ui/connections/web").await;
    assert!(page.html.contains(r#"<p class="fix">"#), "{}", page.html);
    assert!(page.html.contains("Re-authorise"), "{}", page.html);

    let started = b
        .submit(
            "/ui/connections/web",
            "/ui/connections/web/reauthorize",
            &[],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.html);
    let landed = accept_at_zoho(&f, &b, started.location()).await;
    assert_eq!(landed.location(), "/ui/connections/web?done=connected");
    let page = b.get(landed.location()).await;
    assert!(
        page.html
            .contains(r#"<span class="state state-active">active</span>"#),
        "{}",
        page.html
    );
    let (status, body) = f.z.issue("web", &svc, json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn only_a_browser_flow_connection_offers_re_authorisation_the_others_point_to_the_upload() {
    let z = ZohoApp::spawn();
    z.connect("uploaded").await;
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;
    let page = b.get("/ui/connections/uploaded").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(!page.html.contains(r#"id="reauthorize""#), "{}", page.html);
    assert!(
        page.html
            .contains(r#"href="/ui/connections/new?name=uploaded""#),
        "{}",
        page.html
    );
    let upload = b.get("/ui/connections/new?name=uploaded").await;
    assert!(
        upload
            .html
            .contains(r#"name="name" required pattern="[A-Za-z0-9._-]{1,128}" autocomplete="off" value="uploaded""#),
        "{}",
        upload.html
    );
    assert!(
        upload.html.contains(&z.fake.base_url()),
        "the accounts server is filled in: {}",
        upload.html
    );
}

#[tokio::test]
async fn the_audit_page_filters_pages_and_verifies_the_chain() {
    let z = ZohoApp::spawn();
    for name in ["a", "b", "c"] {
        z.connect(name).await;
    }
    let b = Browser::logged_in(&z.app.server, &z.app.admin).await;
    let page = b.get("/ui/audit?action=connection_created&limit=2").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains(r#"<form id="filters" method="get""#));
    assert_eq!(
        page.html.matches("<tr data-seq=").count(),
        2,
        "{}",
        page.html
    );
    assert!(!page.html.contains("rel=\"prev\""), "the first page");
    let next = page
        .between("<a rel=\"next\" href=\"", "\"")
        .expect("a next link")
        .replace("&amp;", "&");
    let second = b.get(&next).await;
    assert_eq!(
        second.html.matches("<tr data-seq=").count(),
        1,
        "{}",
        second.html
    );
    assert!(second.html.contains("rel=\"prev\""));
    assert!(!second.html.contains("rel=\"next\""), "the last page");
    let bad = b.get("/ui/audit?action=nonsense").await;
    assert_eq!(bad.status, 400);
    assert!(bad.html.contains(r#"<p class="error" role="alert">"#));

    let verified = b.submit("/ui/audit", "/ui/audit/verify", &[]).await;
    assert_eq!(verified.status, 200, "{}", verified.html);
    let head = verified
        .between("<p id=\"verified-head\">", "</p>")
        .expect("the verified head");
    let between = |a: &str, b: &str| {
        head.split(a)
            .nth(1)
            .and_then(|r| r.split(b).next())
            .expect("a field of the head")
            .to_string()
    };
    let seq: u64 = between("<span class=\"seq\">", "<").parse().expect("seq");
    let hash = between("<code class=\"hash\">", "<");
    let record = z
        .app
        .events(&format!("order=asc&after={}&limit=1", seq - 1))
        .await;
    assert_eq!(record[0]["seq"], seq);
    assert_eq!(
        record[0]["hash"],
        hash.as_str(),
        "the head shown is the record's hash"
    );
}
