//! `zoho-vault service-token create|list|revoke`: clients of
//! `/v1/service-tokens` (admin token).
//!
//! `create` prints the new `zvs_` token alone on stdout (it is shown only
//! once) and what it grants on stderr, so `ZVS=$(zoho-vault service-token
//! create ...)` captures just the token.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::{authed, segment, send};
use super::output::{self, Table};
use super::ClientArgs;

/// `--proxy-path` binds only the proxy: a token with `token` access may
/// still fetch raw access tokens and call any Zoho path with them.
const PATHS_WITHOUT_PROXY_ACCESS: &str = "warning: --proxy-path limits only the vault's proxy; \
this token has `token` access, so it can still fetch access tokens and call any Zoho path with them. \
To hold it to these paths, create it with `--access proxy` and revoke this one";

/// Service-token subcommands.
#[derive(Debug, Subcommand)]
pub enum ServiceTokenCommand {
    /// Create a service token for some connections; prints it once.
    #[command(after_help = "\
Examples:
  zoho-vault service-token create --name billing --connection acme --connection globex
  zoho-vault service-token create --name reports --connection '*' --ttl 86400
  zoho-vault service-token create --name billing --connection acme --access proxy --proxy-path /invoice/v3/
  ZVS=$(zoho-vault service-token create --name billing --connection acme)")]
    Create {
        /// A name for people (which backend holds it).
        #[arg(long)]
        name: String,
        /// A connection it may use (repeat, or comma-separated; `*` for all).
        #[arg(
            long = "connection",
            visible_alias = "connections",
            value_name = "NAME",
            required = true,
            value_delimiter = ','
        )]
        connections: Vec<String>,
        /// Lifetime in seconds (default: no expiry).
        #[arg(long, value_name = "SECS")]
        ttl: Option<u64>,
        /// `token` (may fetch access tokens and use the proxy) or `proxy`
        /// (may only call Zoho through the vault's proxy).
        #[arg(long, value_name = "ACCESS", default_value = "token", value_parser = ["token", "proxy"])]
        access: String,
        /// A path prefix the proxy allows (repeat; default: every path),
        /// e.g. `/invoice/v3/`.
        #[arg(long = "proxy-path", value_name = "PREFIX")]
        proxy_paths: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer (token included) instead of the token alone.
        #[arg(long)]
        json: bool,
    },
    /// List service tokens (never the tokens themselves).
    #[command(after_help = "Example:\n  zoho-vault service-token list")]
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a service token by id (`tok_...`, from `list`).
    #[command(after_help = "Example:\n  zoho-vault service-token revoke tok_0123456789abcdef")]
    Revoke {
        /// Token id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a service-token subcommand.
pub async fn run(command: ServiceTokenCommand) -> anyhow::Result<()> {
    match command {
        ServiceTokenCommand::Create {
            name,
            connections,
            ttl,
            access,
            proxy_paths,
            client,
            json,
        } => {
            let mut body = json!({ "name": name, "connections": connections, "access": access });
            if !proxy_paths.is_empty() {
                body["proxy_paths"] = json!(proxy_paths);
            }
            if let Some(secs) = ttl {
                body["ttl_secs"] = json!(secs);
            }
            let answer =
                send(authed(&client, Method::POST, "/v1/service-tokens")?.json(&body)).await?;
            // After the create, so a refusal is the first thing said.
            if !proxy_paths.is_empty() && access != "proxy" {
                eprintln!("{PATHS_WITHOUT_PROXY_ACCESS}");
            }
            if json {
                return output::json(&answer);
            }
            let Some(token) = answer["token"].as_str() else {
                anyhow::bail!("the vault's answer has no token");
            };
            println!("{token}");
            eprintln!(
                "created service token {} `{}` for {} ({} access), expires {}; the token above is shown only once",
                output::text(&answer["id"]),
                output::text(&answer["name"]),
                output::list(&answer["connections"]),
                output::text(&answer["access"]),
                expiry(&answer["expires_at"]),
            );
            Ok(())
        }
        ServiceTokenCommand::List { client, json } => {
            let answer = send(authed(&client, Method::GET, "/v1/service-tokens")?).await?;
            if json {
                return output::json(&answer);
            }
            print_list(&answer);
            Ok(())
        }
        ServiceTokenCommand::Revoke { id, client, json } => {
            let id = segment("token id", &id)?;
            let answer = send(authed(
                &client,
                Method::DELETE,
                &format!("/v1/service-tokens/{id}"),
            )?)
            .await?;
            if json {
                return output::json(&answer);
            }
            println!("revoked service token {}", output::text(&answer["revoked"]));
            Ok(())
        }
    }
}

fn expiry(value: &Value) -> String {
    if value.is_null() {
        "never".into()
    } else {
        output::when(value)
    }
}

/// `token`, or `proxy` with its path prefixes.
fn access_cell(t: &Value) -> String {
    let access = t["access"].as_str().unwrap_or("token");
    match t["proxy_paths"].as_array().filter(|p| !p.is_empty()) {
        Some(_) => format!("{access} {}", output::list(&t["proxy_paths"])),
        None => access.to_string(),
    }
}

fn print_list(answer: &Value) {
    let items = answer["service_tokens"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        println!("no service tokens; create one with `zoho-vault service-token create --name NAME --connection CONN`");
        return;
    }
    let mut table = Table::new(&["ID", "NAME", "CONNECTIONS", "ACCESS", "CREATED", "EXPIRES"]);
    for t in &items {
        let expires = if t["expires_at"].is_null() {
            "never".into()
        } else {
            output::ago(&t["expires_at"])
        };
        table.row(vec![
            output::text(&t["id"]),
            output::text(&t["name"]),
            output::list(&t["connections"]),
            access_cell(t),
            output::ago(&t["created_at"]),
            expires,
        ]);
    }
    table.print();
}
