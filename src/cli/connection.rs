//! `zoho-vault connection add|import-csv|list|show|delete`: clients of
//! `/v1/connections` (admin token).
//!
//! `add` sends `self_client.json` as Zoho's console wrote it, adding only
//! where the client lives (`data_center` or `accounts_url`); or, with
//! `--refresh-token-file`, imports an existing refresh token. Secrets are
//! read from files, never from flags, so they stay out of shell history and
//! `ps`.

mod body;
mod import;
mod view;

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::client::{authed, segment, send, send_with_status};
use super::error::CliError;
use super::output;
use super::ClientArgs;
use crate::zoho::DataCenter;

fn data_centers() -> PossibleValuesParser {
    PossibleValuesParser::new(DataCenter::ALL.map(DataCenter::code))
}

/// Connection subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Upload a self_client.json (the code is exchanged at once), or import a refresh token.
    #[command(
        override_usage = "zoho-vault connection add [OPTIONS] <NAME> <SELF_CLIENT_JSON>\n       \
                          zoho-vault connection add [OPTIONS] <NAME> --refresh-token-file <FILE> \
                          --client-id <ID> --client-secret-file <FILE>",
        after_help = "\
Examples:
  zoho-vault connection add acme self_client.json --data-center eu
  zoho-vault connection add acme - < self_client.json
  zoho-vault connection add acme --refresh-token-file rt.txt \\
      --client-id 1000.XXXX --client-secret-file secret.txt --data-center in

The file is Zoho's self_client.json as the API console downloads it:
  {\"client_id\": \"1000.XXXX\", \"client_secret\": \"...\", \"code\": \"1000....\",
   \"scope\": [\"ZohoInvoice.invoices.CREATE\"], \"expiry_time\": 1769431483587,
   \"grant_type\": \"authorization_code\"}
Upload it before `expiry_time` (the code lives a few minutes), then delete the
file: it holds the client secret. Keep it outside any git checkout."
    )]
    Add {
        /// Connection name: the tenant's id in your world ([A-Za-z0-9._-], 1 to 128).
        name: String,
        /// self_client.json from Zoho's API console (`-` reads stdin).
        #[arg(
            value_name = "SELF_CLIENT_JSON",
            required_unless_present = "refresh_token_file",
            conflicts_with = "refresh_token_file"
        )]
        file: Option<PathBuf>,
        /// Zoho data center of the client (default `com`).
        #[arg(long, value_name = "DC", value_parser = data_centers(), conflicts_with = "accounts_url")]
        data_center: Option<String>,
        /// Custom accounts server (the vault must allow it: zoho.allow_custom_accounts_url).
        #[arg(long, value_name = "URL")]
        accounts_url: Option<String>,
        /// Import this refresh token (file, first line) instead of exchanging a code.
        #[arg(long, value_name = "FILE", requires_all = ["client_id", "client_secret_file"])]
        refresh_token_file: Option<PathBuf>,
        /// Client id, with --refresh-token-file.
        #[arg(long, value_name = "ID", requires = "refresh_token_file")]
        client_id: Option<String>,
        /// File holding the client secret (first line), with --refresh-token-file.
        #[arg(long, value_name = "FILE", requires = "refresh_token_file")]
        client_secret_file: Option<PathBuf>,
        /// Scopes of the imported refresh token (comma-separated), for the record.
        #[arg(
            long,
            value_name = "SCOPES",
            value_delimiter = ',',
            requires = "refresh_token_file"
        )]
        scope: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Import refresh tokens in bulk from a CSV file, one connection per row.
    #[command(after_help = "\
Examples:
  zoho-vault connection import-csv zoho_tokens.csv --data-center eu
  zoho-vault connection import-csv zoho_tokens.csv --json > import-result.json

Each row: name,client_id,client_secret,refresh_token[,data_center]
  acme,1000.XXXX,0123abcd...,1000.abcd...ef.0123...,in
A first row starting with `name` is a header; lines starting with `#` are comments.
A row's data_center wins over --data-center. Each row is reported by its line
number; the run goes on past a bad row and exits 1 if any row was not imported.
Secrets are never printed. See docs/migration.md.")]
    ImportCsv(import::ImportCsvArgs),
    /// List connections with their health.
    #[command(
        after_help = "Examples:\n  zoho-vault connection list\n  zoho-vault connection list --json"
    )]
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Show one connection: metadata, health, the fix when one is needed, cached token, budget.
    #[command(after_help = "Example:\n  zoho-vault connection show acme")]
    Show {
        /// Connection name.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Print the Zoho link that connects (or re-authorizes) a browser-flow connection.
    #[command(after_help = "\
Example:
  zoho-vault connection authorize acme

Open the printed link in a browser, sign in to Zoho and press Accept; the
vault's page then says whether the connection is connected. The link works
once and expires after oauth.state_ttl_secs (10 minutes by default). The
connection must have been added with a redirect_uri (see docs/browser-flow.md).")]
    Authorize {
        /// Connection name.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the refresh token at Zoho, then forget the connection.
    #[command(
        after_help = "Examples:\n  zoho-vault connection delete acme\n  zoho-vault connection delete acme --no-revoke   # keep the refresh token alive at Zoho"
    )]
    Delete {
        /// Connection name.
        name: String,
        /// Do not revoke the refresh token at Zoho (it stays usable elsewhere).
        #[arg(long)]
        no_revoke: bool,
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a connection subcommand.
pub async fn run(command: ConnectionCommand) -> anyhow::Result<()> {
    match command {
        ConnectionCommand::Add {
            name,
            file,
            data_center,
            accounts_url,
            refresh_token_file,
            client_id,
            client_secret_file,
            scope,
            client,
            json,
        } => {
            let name = segment("connection name", &name)?;
            let mut body = match (&file, &refresh_token_file) {
                (Some(file), _) => body::self_client_file(file)?,
                (None, Some(rt)) => body::import(
                    rt,
                    client_id.as_deref().unwrap_or_default(),
                    client_secret_file.as_deref(),
                    scope,
                )?,
                (None, None) => {
                    return Err(CliError::Usage(
                        "give a self_client.json file or --refresh-token-file".into(),
                    )
                    .into())
                }
            };
            // Flags override the file.
            if let Some(dc) = data_center {
                body.remove("accounts_url");
                body.insert("data_center".into(), Value::String(dc));
            }
            if let Some(url) = accounts_url {
                body.remove("data_center");
                body.insert("accounts_url".into(), Value::String(url));
            }
            let (status, view) = send_with_status(
                authed(&client, Method::PUT, &format!("/v1/connections/{name}"))?
                    .json(&Value::Object(body)),
            )
            .await?;
            // After the upload, so that a refusal is the first thing said.
            if let Some(file) = &file {
                body::warn_if_readable_by_others(file);
                body::remind_to_delete(file);
            }
            if json {
                return output::json(&view);
            }
            // 200: new credentials replaced a connection that needed
            // re-authorisation (same name, grants and history); 201: new.
            if status == reqwest::StatusCode::OK {
                println!(
                    "replaced connection `{name}` (same name, grants and history; new credentials)"
                );
            } else {
                println!("created connection `{name}`");
            }
            view::print_connection(&view);
            Ok(())
        }
        ConnectionCommand::ImportCsv(args) => import::run(args).await,
        ConnectionCommand::List { client, json } => {
            let answer = send(authed(&client, Method::GET, "/v1/connections")?).await?;
            if json {
                return output::json(&answer);
            }
            view::print_list(&answer);
            Ok(())
        }
        ConnectionCommand::Show { name, client, json } => {
            let name = segment("connection name", &name)?;
            let view = send(authed(
                &client,
                Method::GET,
                &format!("/v1/connections/{name}"),
            )?)
            .await?;
            if json {
                return output::json(&view);
            }
            view::print_connection(&view);
            Ok(())
        }
        ConnectionCommand::Authorize { name, client, json } => {
            let name = segment("connection name", &name)?;
            let answer = send(
                authed(
                    &client,
                    Method::POST,
                    &format!("/v1/connections/{name}/authorize"),
                )?
                .json(&serde_json::json!({})),
            )
            .await?;
            if json {
                return output::json(&answer);
            }
            let url = answer["url"].as_str().unwrap_or_default();
            let expires = answer["state_expires_at"].as_str().unwrap_or("?");
            println!("{url}");
            eprintln!(
                "Open this link in a browser and press Accept; it works once, until {expires}."
            );
            Ok(())
        }
        ConnectionCommand::Delete {
            name,
            no_revoke,
            client,
            json,
        } => {
            let name = segment("connection name", &name)?;
            let mut path = format!("/v1/connections/{name}");
            if no_revoke {
                path.push_str("?revoke=false");
            }
            let answer = send(authed(&client, Method::DELETE, &path)?).await?;
            if json {
                return output::json(&answer);
            }
            let upstream = if no_revoke {
                "its refresh token was left alive at Zoho (--no-revoke)"
            } else if answer["revoked_upstream"] == Value::Bool(true) {
                "its refresh token was revoked at Zoho"
            } else {
                "its refresh token was already dead at Zoho"
            };
            println!("deleted connection `{name}`; {upstream}");
            Ok(())
        }
    }
}
