//! How `connection list` and `connection show` print for people.

use serde_json::Value;

use crate::cli::output::{self, Table};

/// Where a connection's client lives: its data center, or the custom URL.
fn location(view: &Value) -> String {
    match view["data_center"].as_str() {
        Some(dc) => dc.to_string(),
        None => output::text(&view["accounts_url"]),
    }
}

fn budget(view: &Value) -> String {
    let b = &view["budget"];
    format!("{}/{}", output::text(&b["used"]), output::text(&b["limit"]))
}

pub(super) fn print_list(answer: &Value) {
    let items = answer["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        println!(
            "no connections yet; add one with `zoho-vault connection add NAME self_client.json`"
        );
        return;
    }
    let mut table = Table::new(&[
        "NAME",
        "STATE",
        "DATA CENTER",
        "SOURCE",
        "TOKEN EXPIRES",
        "LAST SUCCESS",
        "MINTS",
    ]);
    for c in &items {
        table.row(vec![
            output::text(&c["name"]),
            output::text(&c["health"]["state"]),
            location(c),
            output::text(&c["source"]),
            output::ago(&c["token"]["expires_at"]),
            output::ago(&c["health"]["last_success_at"]),
            budget(c),
        ]);
    }
    table.print();
    for c in items {
        if let Some(fix) = crate::cli::fix::of_health(&c["health"]) {
            println!("fix {}: {fix}", output::text(&c["name"]));
        }
    }
}

pub(super) fn print_connection(view: &Value) {
    let health = &view["health"];
    let mut items: Vec<(&str, String)> = vec![
        ("name", output::text(&view["name"])),
        ("state", output::text(&health["state"])),
        ("source", output::text(&view["source"])),
        ("client id", output::text(&view["client_id"])),
        ("data center", output::text(&view["data_center"])),
        ("accounts url", output::text(&view["accounts_url"])),
        ("api domain", output::text(&view["api_domain"])),
        ("scopes", output::list(&view["scopes"])),
        ("created", output::when(&view["created_at"])),
        ("updated", output::when(&view["updated_at"])),
        ("last success", output::when(&health["last_success_at"])),
    ];
    let last_error = &health["last_error"];
    if last_error.is_object() {
        items.push((
            "last error",
            format!(
                "{}: {} ({})",
                output::text(&last_error["code"]),
                output::text(&last_error["message"]),
                output::ago(&last_error["at"])
            ),
        ));
    }
    if health["throttled_until"].is_string() {
        items.push(("throttled until", output::when(&health["throttled_until"])));
    }
    if let Some(fix) = crate::cli::fix::of_health(health) {
        items.push(("fix", fix));
    }
    let token = &view["token"];
    items.push((
        "access token",
        if token.is_object() {
            format!("cached, expires {}", output::when(&token["expires_at"]))
        } else {
            "none cached".into()
        },
    ));
    let b = &view["budget"];
    items.push((
        "refresh budget",
        format!(
            "{} of {} mints used in the last {} s",
            output::text(&b["used"]),
            output::text(&b["limit"]),
            output::text(&b["window_secs"])
        ),
    ));
    output::pairs(&items);
}
