//! `zoho-vault token NAME`: print a connection's access token, for scripts.
//!
//! Works with a service token granted the connection or an admin token.
//! stdout carries the access token alone on one line, so
//! `$(zoho-vault token acme)` is the token; `--json` prints the whole answer
//! (`api_domain`, `expires_at`, ...).

use clap::Args;
use reqwest::Method;
use serde_json::json;

use super::client::{authed, segment, send};
use super::output;
use super::ClientArgs;

/// Arguments of `zoho-vault token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Connection name.
    pub name: String,
    /// The token must stay valid at least this long (seconds; the vault's
    /// default is 30, its maximum 3000).
    #[arg(long, value_name = "SECS")]
    pub min_valid: Option<u64>,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print the API's JSON answer (access_token, token_type, api_domain, expires_at, expires_in).
    #[arg(long)]
    pub json: bool,
}

/// Runs `zoho-vault token`.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let name = segment("connection name", &args.name)?;
    let body = match args.min_valid {
        Some(secs) => json!({ "min_valid_secs": secs }),
        None => json!({}),
    };
    let answer = send(
        authed(
            &args.client,
            Method::POST,
            &format!("/v1/connections/{name}/token"),
        )?
        .json(&body),
    )
    .await?;
    if args.json {
        return output::json(&answer);
    }
    match answer["access_token"].as_str() {
        Some(token) => {
            println!("{token}");
            Ok(())
        }
        None => anyhow::bail!("the vault's answer has no access_token"),
    }
}
