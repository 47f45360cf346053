//! The HTTP side of the client commands: building requests, turning the
//! API's error shape into a [`CliError`], and the `status`, `unseal` and
//! `seal` commands.

use anyhow::Context;
use reqwest::{header, Method, RequestBuilder};
use serde_json::Value;

use super::error::CliError;
use super::output;
use super::passphrase::{self, Purpose};
use super::{ClientArgs, PassphraseArgs};

/// A request to `path` on the vault, with the bearer token when one is set.
pub(super) fn request(
    args: &ClientArgs,
    method: Method,
    path: &str,
) -> anyhow::Result<RequestBuilder> {
    let base = args.addr.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .user_agent(concat!("zoho-vault-cli/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut req = client.request(method, format!("{base}{path}"));
    if let Some(token) = args.token.as_deref().filter(|t| !t.is_empty()) {
        // A pasted token with a newline or a space cannot be a header value;
        // say so, rather than a confusing transport error.
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CliError::Usage(
                "the token (ZOHO_VAULT_TOKEN or --token) holds spaces, newlines or other \
                 characters no token has; copy it again"
                    .into(),
            )
            .into());
        }
        req = req.bearer_auth(token);
    }
    Ok(req)
}

/// Like [`request`], for routes that need a token: fails locally, before
/// any network traffic, when none is set.
pub(super) fn authed(
    args: &ClientArgs,
    method: Method,
    path: &str,
) -> anyhow::Result<RequestBuilder> {
    if args.token.as_deref().is_none_or(str::is_empty) {
        return Err(CliError::NoToken.into());
    }
    request(args, method, path)
}

/// Checks a path segment given on the command line (a connection name, a
/// token id) so that it cannot change which route is called (`..`, `/`,
/// `?`). Connection names follow the API's own rule.
pub(super) fn segment<'a>(what: &str, value: &'a str) -> Result<&'a str, CliError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(value)
    } else {
        Err(CliError::Usage(format!(
            "invalid {what} {:?}: use 1 to 128 letters, digits, `.`, `_` or `-`",
            value.chars().take(40).collect::<String>()
        )))
    }
}

/// Sends, and answers the JSON body of a success (`null` when empty). An
/// error answer becomes [`CliError::Api`] with the API's message and hint;
/// no answer at all becomes [`CliError::Unreachable`].
pub(super) async fn send(req: RequestBuilder) -> anyhow::Result<Value> {
    let resp = send_raw(req).await?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .context("the vault's answer was cut off")?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).with_context(|| {
        format!(
            "the vault answered HTTP {} with a body that is not JSON",
            status.as_u16()
        )
    })
}

/// Sends, and answers the response of a success with its body unread (for
/// downloads); errors as for [`send`].
pub(super) async fn send_raw(req: RequestBuilder) -> anyhow::Result<reqwest::Response> {
    let resp = req.send().await.map_err(|e| {
        let addr = e
            .url()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|| "?".into());
        CliError::unreachable(&addr, &e)
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let text = resp
        .text()
        .await
        .context("the vault's answer was cut off")?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let err = &body["error"];
    let message = err["message"].as_str().map_or_else(
        || {
            format!(
                "the vault answered HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string()
        },
        str::to_string,
    );
    Err(CliError::Api {
        status: status.as_u16(),
        code: err["code"].as_str().unwrap_or("?").to_string(),
        message,
        hint: err["hint"].as_str().map(str::to_string),
        retry_after,
    }
    .into())
}

/// A GET of a large body (a backup) with the admin token: no limit on the
/// whole transfer, but the vault must answer within two minutes and never
/// stall longer than that between two reads.
pub(super) fn download(args: &ClientArgs, path: &str) -> anyhow::Result<RequestBuilder> {
    if args.token.as_deref().is_none_or(str::is_empty) {
        return Err(CliError::NoToken.into());
    }
    let base = args.addr.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(std::time::Duration::from_secs(120))
        .user_agent(concat!("zoho-vault-cli/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut req = client.get(format!("{base}{path}"));
    if let Some(token) = args.token.as_deref() {
        req = req.bearer_auth(token);
    }
    Ok(req)
}

/// `zoho-vault status`.
pub async fn status(args: &ClientArgs, json: bool) -> anyhow::Result<()> {
    let health = send(request(args, Method::GET, "/v1/sys/health")?).await?;
    if json {
        return output::json(&health);
    }
    let yes_no = |v: &Value| match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    };
    output::pairs(&[
        ("address", args.addr.clone()),
        ("version", health["version"].as_str().unwrap_or("?").into()),
        ("initialized", yes_no(&health["initialized"]).into()),
        ("sealed", yes_no(&health["sealed"]).into()),
    ]);
    Ok(())
}

/// `zoho-vault unseal`.
pub async fn unseal(args: &ClientArgs, pass: &PassphraseArgs, json: bool) -> anyhow::Result<()> {
    let passphrase = passphrase::require(
        pass.passphrase_file.as_deref(),
        passphrase::ENV,
        "Vault passphrase",
        Purpose::Existing,
    )
    // No passphrase, or an unreadable file: the command's input is wrong.
    .map_err(|e| CliError::Usage(format!("{e:#}")))?;
    let body = serde_json::json!({
        "passphrase": secrecy::ExposeSecret::expose_secret(&passphrase)
    });
    let answer = send(request(args, Method::POST, "/v1/sys/unseal")?.json(&body)).await?;
    if json {
        return output::json(&answer);
    }
    if answer["already_unsealed"] == Value::Bool(true) {
        println!("the vault was already unsealed");
    } else {
        println!("the vault is unsealed");
    }
    Ok(())
}

/// `zoho-vault seal`.
pub async fn seal(args: &ClientArgs, json: bool) -> anyhow::Result<()> {
    let answer = send(authed(args, Method::POST, "/v1/sys/seal")?).await?;
    if json {
        return output::json(&answer);
    }
    println!("the vault is sealed");
    Ok(())
}
