//! `zoho-vault webhook add|list|remove|test|deliveries`: clients of
//! `/v1/webhooks` (admin token).
//!
//! `add` prints the signing secret alone on stdout (it is shown only once)
//! and the endpoint on stderr, so `SECRET=$(zoho-vault webhook add ...)`
//! captures just the secret.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::{authed, segment, send};
use super::output::{self, Table};
use super::ClientArgs;

/// Webhook subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its signing secret once.
    #[command(after_help = "\
Examples:
  zoho-vault webhook add https://hooks.example.com/zoho-vault --event connection.needs_reauth
  zoho-vault webhook add https://hooks.slack.com/services/T/B/X --event '*' --format slack
  SECRET=$(zoho-vault webhook add https://ops.example.com/in --event connection.needs_reauth,audit.unavailable)")]
    Add {
        /// Where to deliver (https; http only with webhooks.allow_http).
        url: String,
        /// An event type to receive (repeat, or comma-separated; `*` for all).
        #[arg(
            long = "event",
            value_name = "TYPE",
            required = true,
            value_delimiter = ','
        )]
        events: Vec<String>,
        /// A note for people.
        #[arg(long)]
        description: Option<String>,
        /// Body shape: `json` (default) or `slack`.
        #[arg(long, default_value = "json")]
        format: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer (secret included) instead of the secret alone.
        #[arg(long)]
        json: bool,
    },
    /// List endpoints (URLs redacted, never the secrets).
    #[command(after_help = "Example:\n  zoho-vault webhook list")]
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint by id (`wh_...`, from `list`).
    #[command(after_help = "Example:\n  zoho-vault webhook remove wh_0123456789abcdef")]
    Remove {
        /// Endpoint id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Send a `webhook.test` event to an endpoint.
    #[command(after_help = "Example:\n  zoho-vault webhook test wh_0123456789abcdef")]
    Test {
        /// Endpoint id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Show an endpoint's recent delivery attempts and pending deliveries.
    #[command(after_help = "Example:\n  zoho-vault webhook deliveries wh_0123456789abcdef")]
    Deliveries {
        /// Endpoint id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a webhook subcommand.
pub async fn run(command: WebhookCommand) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Add {
            url,
            events,
            description,
            format,
            client,
            json,
        } => {
            let mut body = json!({ "url": url, "events": events, "format": format });
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let answer = send(authed(&client, Method::POST, "/v1/webhooks")?.json(&body)).await?;
            if json {
                return output::json(&answer);
            }
            let Some(secret) = answer["secret"].as_str() else {
                anyhow::bail!("the vault's answer has no secret");
            };
            println!("{secret}");
            eprintln!(
                "added webhook {} to {} for {}; the signing secret above is shown only once",
                output::text(&answer["id"]),
                output::text(&answer["url"]),
                output::list(&answer["events"]),
            );
            Ok(())
        }
        WebhookCommand::List { client, json } => {
            let answer = send(authed(&client, Method::GET, "/v1/webhooks")?).await?;
            if json {
                return output::json(&answer);
            }
            print_list(&answer);
            Ok(())
        }
        WebhookCommand::Remove { id, client, json } => {
            let id = segment("webhook id", &id)?;
            let answer = send(authed(
                &client,
                Method::DELETE,
                &format!("/v1/webhooks/{id}"),
            )?)
            .await?;
            if json {
                return output::json(&answer);
            }
            println!("removed webhook {}", output::text(&answer["deleted"]));
            Ok(())
        }
        WebhookCommand::Test { id, client, json } => {
            let id = segment("webhook id", &id)?;
            let answer = send(authed(
                &client,
                Method::POST,
                &format!("/v1/webhooks/{id}/test"),
            )?)
            .await?;
            if json {
                return output::json(&answer);
            }
            println!(
                "queued test event {}; see `zoho-vault webhook deliveries {id}`",
                output::text(&answer["event_id"])
            );
            Ok(())
        }
        WebhookCommand::Deliveries { id, client, json } => {
            let id = segment("webhook id", &id)?;
            let answer = send(authed(
                &client,
                Method::GET,
                &format!("/v1/webhooks/{id}/deliveries"),
            )?)
            .await?;
            if json {
                return output::json(&answer);
            }
            print_deliveries(&answer);
            Ok(())
        }
    }
}

fn print_list(answer: &Value) {
    let items = answer["webhooks"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no webhooks; add one with `zoho-vault webhook add URL --event TYPE`");
        return;
    }
    let mut table = Table::new(&["ID", "URL", "EVENTS", "PENDING", "STATUS"]);
    for w in &items {
        let status = match (&w["last_error"], w["failing"].as_bool()) {
            (Value::Null, _) => "ok".to_string(),
            (err, Some(true)) => format!("FAILING over an hour: {}", output::text(err)),
            (err, _) => format!("failing: {}", output::text(err)),
        };
        table.row(vec![
            output::text(&w["id"]),
            output::text(&w["url"]),
            output::list(&w["events"]),
            output::text(&w["pending"]),
            status,
        ]);
    }
    table.print();
}

fn print_deliveries(answer: &Value) {
    let attempts = answer["attempts"].as_array().cloned().unwrap_or_default();
    let pending = answer["pending"].as_array().cloned().unwrap_or_default();
    if attempts.is_empty() && pending.is_empty() {
        println!("no deliveries yet; send one with `zoho-vault webhook test ID`");
        return;
    }
    let mut table = Table::new(&["WHEN", "EVENT", "TYPE", "ATTEMPT", "RESULT", "NEXT"]);
    for a in &attempts {
        // The error says what failed (the status and its reason, or why
        // no answer came); a success shows its status.
        let result = match (&a["error"], &a["status"]) {
            (Value::String(err), _) => format!("{} ({err})", output::text(&a["outcome"])),
            (_, Value::Number(n)) => format!("{} (HTTP {n})", output::text(&a["outcome"])),
            _ => output::text(&a["outcome"]),
        };
        let next = if a["next_attempt_at"].is_null() {
            "-".into()
        } else {
            output::when(&a["next_attempt_at"])
        };
        table.row(vec![
            output::ago(&a["at"]),
            output::text(&a["event_id"]),
            output::text(&a["type"]),
            output::text(&a["attempt"]),
            result,
            next,
        ]);
    }
    table.print();
    if !pending.is_empty() {
        println!("{} delivery(ies) pending", pending.len());
    }
}
