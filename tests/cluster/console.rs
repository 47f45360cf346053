//! Admin console sessions on a cluster live in the database: a login on
//! one replica is a session on every replica, and logout, revocation and
//! expiry end it on all of them.
//!
//! The replicas listen on 127.0.0.1 on different ports, and a cookie does
//! not depend on the port: one cookie jar sends the session to every
//! replica, as a browser behind a load balancer does.

use serde_json::json;

use crate::cluster::Cluster;
use crate::console_client::{Answer, Browser};
use crate::helpers::PASSPHRASE;

/// Logs in on replica `i`: a browser holding the session cookie, and the
/// session id (to replay the cookie after the browser dropped it).
async fn login(c: &Cluster, i: usize, token: &str) -> (Browser, String) {
    let b = Browser::new(c.at(i));
    let answer = b.login(token).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    assert_eq!(answer.location(), "/ui/connections");
    let cookie = answer
        .set_cookies()
        .into_iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .and_then(|v| v.strip_prefix("zv_session="))
                .map(str::to_string)
        })
        .expect("a session cookie");
    (b, cookie)
}

/// `GET path` on replica `i` with only `zv_session=id`, from a client
/// that keeps no cookies (a copied cookie).
async fn with_cookie(c: &Cluster, i: usize, path: &str, id: &str) -> Answer {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = http
        .get(c.at(i).url(path))
        .header("cookie", format!("zv_session={id}"))
        .send()
        .await
        .expect("get");
    Browser::read(resp).await
}

/// The number of console session rows in the cluster's database.
async fn session_rows(c: &Cluster) -> i64 {
    let pool = sqlx::PgPool::connect(&c.db.url).await.expect("connect");
    let n = sqlx::query_scalar("SELECT count(*) FROM zv_records WHERE tree = 'console_sessions'")
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    n
}

/// The console's form that creates a service token.
fn token_form(csrf: &str) -> [(&str, &str); 4] {
    [
        ("name", "made-on-b"),
        ("connections", "*"),
        ("access", "token"),
        ("csrf", csrf),
    ]
}

fn assert_logged_out(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 303, "{what}: {}", answer.html);
    assert_eq!(answer.location(), "/ui/", "{what}");
}

#[tokio::test]
async fn a_login_on_one_replica_is_served_by_another_and_logout_there_ends_it() {
    let Some(c) = Cluster::start(2, &[]).await else {
        return;
    };
    let (b, id) = login(&c, 0, &c.admin).await;
    let on_b = b.get(&c.at(1).url("/ui/service-tokens")).await;
    assert_eq!(on_b.status, 200, "{}", on_b.html);
    let from_a = b.get(&c.at(0).url("/ui/service-tokens")).await.csrf();
    assert_eq!(on_b.csrf(), from_a, "every replica derives the same token");

    // A form read on A, sent to B.
    let url = c.at(1).url("/ui/service-tokens");
    let wrong = b.post(&url, &token_form(&"0".repeat(64))).await;
    assert_eq!(wrong.status, 403, "{}", wrong.html);
    let created = b.post(&url, &token_form(&from_a)).await;
    assert_eq!(created.status, 303, "{}", created.html);
    // The new token is held in the session: the next page, on A, shows
    // it; after that no replica does.
    let shown = b.get(&c.at(0).url("/ui/service-tokens")).await;
    let token = shown
        .between("<code id=\"new-token\">", "<")
        .expect("the new token");
    assert!(token.starts_with("zvs_"), "{token}");
    for i in [0, 1] {
        let again = b.get(&c.at(i).url("/ui/service-tokens")).await;
        assert!(!again.html.contains(&token), "shown again on replica {i}");
    }
    let (status, _) = c.at(1).get("/v1/auth/self", Some(&token)).await;
    assert_eq!(status, 200, "the shown token is the real one");
    let (_, tokens) = c.at(0).get("/v1/service-tokens", Some(&c.admin)).await;
    assert!(
        tokens["service_tokens"]
            .as_array()
            .expect("list")
            .iter()
            .any(|t| t["name"] == "made-on-b"),
        "{tokens}"
    );

    // Logout on B; the copied cookie no longer works anywhere.
    let out = b
        .post(&c.at(1).url("/ui/logout"), &[("csrf", &from_a)])
        .await;
    assert_eq!(out.status, 303, "{}", out.html);
    for i in 0..2 {
        let after = with_cookie(&c, i, "/ui/connections", &id).await;
        assert_logged_out(&after, &format!("replica {i}"));
    }
    assert_eq!(session_rows(&c).await, 0, "the row is deleted");
}

#[tokio::test]
async fn revoking_the_admin_token_ends_its_sessions_on_every_replica() {
    let Some(c) = Cluster::start(2, &[]).await else {
        return;
    };
    let (status, second) = c
        .at(0)
        .post(
            "/v1/admin-tokens",
            Some(&c.admin),
            json!({"name": "second admin"}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let token = second["token"].as_str().expect("token");
    let token_id = second["id"].as_str().expect("id");
    let (_, id) = login(&c, 0, token).await;
    for i in 0..2 {
        let page = with_cookie(&c, i, "/ui/connections", &id).await;
        assert_eq!(page.status, 200, "replica {i}: {}", page.html);
    }
    let (status, body) = c
        .at(1)
        .delete(&format!("/v1/admin-tokens/{token_id}"), Some(&c.admin))
        .await;
    assert_eq!(status, 200, "{body}");
    for i in 0..2 {
        let after = with_cookie(&c, i, "/ui/connections", &id).await;
        assert_logged_out(&after, &format!("replica {i}"));
    }
}

#[tokio::test]
async fn a_session_expires_on_every_replica_after_ui_session_ttl() {
    let clock = tempfile::NamedTempFile::new().expect("clock file");
    std::fs::write(clock.path(), "0").expect("write");
    let path = clock.path().display().to_string();
    let Some(c) = Cluster::start(
        2,
        &[
            ("ZV_FAKE_CLOCK_FILE", &path),
            ("ZOHO_VAULT_UI__SESSION_TTL", "3600"),
        ],
    )
    .await
    else {
        return;
    };
    let (_, id) = login(&c, 0, &c.admin).await;
    std::fs::write(clock.path(), "3590").expect("write");
    let page = with_cookie(&c, 1, "/ui/connections", &id).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(session_rows(&c).await, 1);
    std::fs::write(clock.path(), "3610").expect("write");
    for i in [1, 0] {
        let after = with_cookie(&c, i, "/ui/connections", &id).await;
        assert_logged_out(&after, &format!("replica {i}"));
    }
    assert_eq!(session_rows(&c).await, 0, "an expired row is deleted");
}

#[tokio::test]
async fn a_sealed_replica_refuses_sessions_while_the_others_serve_them() {
    let Some(c) = Cluster::start(2, &[]).await else {
        return;
    };
    let (_, id) = login(&c, 0, &c.admin).await;
    let (status, body) = c
        .at(0)
        .post("/v1/sys/seal", Some(&c.admin), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(with_cookie(&c, 0, "/ui/connections", &id).await.status, 503);
    let on_b = with_cookie(&c, 1, "/ui/connections", &id).await;
    assert_eq!(on_b.status, 200, "{}", on_b.html);
    assert_eq!(c.at(0).unseal(PASSPHRASE).await, 200);
    let back = with_cookie(&c, 0, "/ui/connections", &id).await;
    assert_eq!(back.status, 200, "{}", back.html);
}
