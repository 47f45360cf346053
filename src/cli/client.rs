//! Commands that talk to a running vault over HTTP.

use anyhow::{bail, Context};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use super::passphrase::{self, Purpose};
use super::{ClientArgs, PassphraseArgs};

pub(super) fn request(
    args: &ClientArgs,
    method: Method,
    path: &str,
) -> anyhow::Result<RequestBuilder> {
    let base = args.addr.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let mut req = client.request(method, format!("{base}{path}"));
    if let Some(token) = &args.token {
        req = req.bearer_auth(token);
    }
    Ok(req)
}

/// Sends, and turns the JSON error shape into a readable error.
pub(super) async fn send(req: RequestBuilder) -> anyhow::Result<Value> {
    let resp = req.send().await.context("cannot reach the vault")?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let err = &body["error"];
    let message = err["message"].as_str().unwrap_or("request failed");
    let mut text = format!(
        "{message} (HTTP {}, {})",
        status.as_u16(),
        err["code"].as_str().unwrap_or("?")
    );
    if let Some(hint) = err["hint"].as_str() {
        text.push_str(&format!("\nhint: {hint}"));
    }
    bail!(text)
}

/// `zoho-vault status`.
pub async fn status(args: &ClientArgs) -> anyhow::Result<()> {
    let health = send(request(args, Method::GET, "/v1/sys/health")?).await?;
    println!("address:      {}", args.addr);
    println!(
        "version:      {}",
        health["version"].as_str().unwrap_or("?")
    );
    println!("initialized:  {}", health["initialized"]);
    println!("sealed:       {}", health["sealed"]);
    Ok(())
}

/// `zoho-vault unseal`.
pub async fn unseal(args: &ClientArgs, pass: &PassphraseArgs) -> anyhow::Result<()> {
    let passphrase = passphrase::require(
        pass.passphrase_file.as_deref(),
        passphrase::ENV,
        "Vault passphrase",
        Purpose::Existing,
    )?;
    let body = secrecy::ExposeSecret::expose_secret(&passphrase).to_string();
    let answer = send(
        request(args, Method::POST, "/v1/sys/unseal")?
            .json(&serde_json::json!({ "passphrase": body })),
    )
    .await?;
    if answer["already_unsealed"] == Value::Bool(true) {
        println!("the vault was already unsealed");
    } else {
        println!("the vault is unsealed");
    }
    Ok(())
}

/// `zoho-vault seal`.
pub async fn seal(args: &ClientArgs) -> anyhow::Result<()> {
    send(request(args, Method::POST, "/v1/sys/seal")?).await?;
    println!("the vault is sealed");
    Ok(())
}
