//! The connection pages: a dead connection and its fix, re-authorising
//! through the browser flow, and the 24-hour chart.

use std::collections::BTreeSet;

use serde_json::json;

use super::Console;

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn a_revoked_refresh_token_shows_needs_reauth_with_the_fix() {
    let c = Console::start().await;
    let rt = c.import("billing").await;
    c.login().await;
    assert_eq!(c.listed_state("billing").await, "active");

    c.kill("billing", &rt).await;

    assert_eq!(c.listed_state("billing").await, "needs_reauth");
    c.open("/ui/connections/billing").await;
    let state = c.browser.find("span.state").await;
    assert_eq!(state.text().await, "needs_reauth");
    assert_eq!(
        state.attribute("class").await.as_deref(),
        Some("state state-needs_reauth")
    );
    let fix = c.browser.text("p.fix").await;
    assert!(
        fix.contains("self_client.json") && fix.contains("billing"),
        "{fix}"
    );
    c.browser.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn re_authorising_from_the_console_makes_a_dead_connection_active_again() {
    let c = Console::start().await;
    c.f.create_pending("acme").await;
    c.login().await;
    // First authorisation, from the connection's page.
    c.open("/ui/connections/acme").await;
    c.browser.submit("form#reauthorize").await;
    c.accept_consent("acme").await;
    assert_eq!(c.browser.text("span.state").await, "active");

    // Zoho evicts the vault's refresh token (one per user and client, and
    // someone made another): the next refresh finds it dead.
    c.f.z
        .fake
        .update_config(zoho_vault::fake_zoho::ConfigPatch {
            refresh_token_cap: Some(1),
            ..Default::default()
        })
        .expect("config");
    c.f.z
        .fake
        .mint_refresh_token(&c.f.web, &crate::helpers::SCOPES)
        .expect("refresh token");
    let (status, err) = c.demand_fresh_token("acme").await;
    assert_eq!(status, 409, "{err}");
    c.open("/ui/connections/acme").await;
    assert_eq!(c.browser.text("span.state").await, "needs_reauth");
    let fix = c.browser.text("p.fix").await;
    assert!(fix.contains("Re-authorise"), "{fix}");

    c.browser.submit("form#reauthorize").await;
    c.accept_consent("acme").await;
    assert_eq!(c.browser.text("span.state").await, "active");
    assert!(c.browser.try_find("p.fix").await.is_none());
    let (status, token) =
        c.f.z
            .issue("acme", c.admin(), json!({"min_valid_secs": 30}))
            .await;
    assert_eq!(status, 200, "{token}");
    c.browser.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn the_chart_has_one_bar_per_hour_with_traffic() {
    let c = Console::start().await;
    c.import("billing").await;
    // Token requests 7, 5 and 2 hours ago (on the vault's clock) and now.
    for hours_ago in [7, 5, 2, 0] {
        c.set_clock(-hours_ago * 3600);
        for _ in 0..(hours_ago % 3 + 1) {
            let (status, body) = c.f.z.issue("billing", c.admin(), json!({})).await;
            assert_eq!(status, 200, "{body}");
        }
    }
    c.set_clock(0);
    // The hours the trail says had token issues or refreshes.
    let mut expected = BTreeSet::new();
    for e in c.f.z.app.all_events("connection=billing").await {
        if matches!(
            e["action"].as_str(),
            Some("token_issued" | "connection_refreshed")
        ) {
            let time = e["time"].as_str().expect("time");
            expected.insert(time[..13].to_string());
        }
    }
    assert!(
        expected.len() >= 4,
        "traffic in too few hours: {expected:?}"
    );

    c.login().await;
    c.open("/ui/connections/billing").await;
    let chart = c.browser.find("svg.chart[role=img]").await;
    assert!(chart.attribute("aria-label").await.is_some());
    let mut drawn = BTreeSet::new();
    for bar in chart.find_all("rect.bar").await {
        let hour = bar.attribute("data-hour").await.expect("data-hour");
        assert!(drawn.insert(hour.clone()), "two bars for {hour}");
    }
    assert_eq!(drawn, expected);
    c.browser.quit().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; run with `make test-browser`"]
async fn uploading_self_client_json_in_the_console_adds_an_active_connection() {
    let c = Console::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("self_client.json");
    std::fs::write(&file, c.f.z.upload_body().to_string()).expect("self_client.json");
    c.login().await;
    c.browser.follow("a#add-connection").await;
    c.browser.fill("form#upload [name=name]", "books").await;
    c.browser
        .upload("form#upload input[type=file][name=self_client]", &file)
        .await;
    c.browser.submit("form#upload").await;
    assert_eq!(c.listed_state("books").await, "active");
    assert_eq!(c.f.show("books").await["health"]["state"], "active");
    c.browser.quit().await;
}
