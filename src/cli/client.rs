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

/// How long a client call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// An ordinary call: the whole exchange within two minutes.
    Short,
    /// A download (backup, audit export): no limit on the whole transfer,
    /// but no stall of more than two minutes between two reads.
    Stream,
    /// A call whose answer takes as long as the data is big (audit
    /// verify): only the connection must be made in time.
    Long,
}

/// The HTTP client for `args`: the public web roots plus `--ca-cert` /
/// `ZOHO_VAULT_CACERT` when given, and the timeouts of `wait`.
pub(super) fn http_client(args: &ClientArgs, wait: Wait) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("zoho-vault-cli/", env!("CARGO_PKG_VERSION")));
    let two_minutes = std::time::Duration::from_secs(120);
    builder = match wait {
        Wait::Short => builder.timeout(two_minutes),
        Wait::Stream => builder.read_timeout(two_minutes),
        Wait::Long => builder,
    };
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read the CA certificate {} (--ca-cert / ZOHO_VAULT_CACERT): {e}",
                path.display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{} (--ca-cert / ZOHO_VAULT_CACERT) holds no PEM certificate",
                    path.display()
                ))
            })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

/// A request to `path` on the vault, with the bearer token when one is set.
pub(super) fn request(
    args: &ClientArgs,
    method: Method,
    path: &str,
) -> anyhow::Result<RequestBuilder> {
    request_with(args, method, path, Wait::Short)
}

/// [`request`] with the timeouts of `wait`.
pub(super) fn request_with(
    args: &ClientArgs,
    method: Method,
    path: &str,
    wait: Wait,
) -> anyhow::Result<RequestBuilder> {
    let base = args.addr.trim_end_matches('/');
    let client = http_client(args, wait)?;
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

/// Checks `--addr` / `ZOHO_VAULT_ADDR`: an `http://` or `https://` URL.
/// Without a scheme (`127.0.0.1:8700`) it says what to write instead.
pub fn parse_addr(value: &str) -> Result<String, String> {
    let has_scheme = |v: &str| {
        url::Url::parse(v)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .is_some()
    };
    if has_scheme(value) {
        return Ok(value.to_string());
    }
    let suggestion = format!("http://{}", value.trim());
    if !value.contains("://") && has_scheme(&suggestion) {
        return Err(format!(
            "the vault address (ZOHO_VAULT_ADDR or --addr) needs a scheme: use {suggestion} (or https:// with TLS)"
        ));
    }
    Err(
        "the vault address (ZOHO_VAULT_ADDR or --addr) must be an http:// or https:// URL, e.g. http://127.0.0.1:8700"
            .into(),
    )
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
    Ok(send_with_status(req).await?.1)
}

/// [`send`], with the status of the success (e.g. 200 or 201).
pub(super) async fn send_with_status(
    req: RequestBuilder,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let resp = send_raw(req).await?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .context("the vault's answer was cut off")?;
    if text.trim().is_empty() {
        return Ok((status, Value::Null));
    }
    let body = serde_json::from_str(&text).map_err(|_| {
        CliError::Usage(format!(
            "the server answered HTTP {} with a body that is not JSON: it does not look like \
             a zoho-vault; check ZOHO_VAULT_ADDR / --addr",
            status.as_u16()
        ))
    })?;
    Ok((status, body))
}

/// Sends, and answers the response of a success with its body unread (for
/// downloads); errors as for [`send`].
pub(super) async fn send_raw(req: RequestBuilder) -> anyhow::Result<reqwest::Response> {
    let resp = req.send().await.map_err(|e| {
        let addr = e
            .url()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|| "?".into());
        let mut err = CliError::unreachable(&addr, &e);
        if let CliError::Unreachable { reason, .. } = &mut err {
            if e.is_connect() && reason.to_lowercase().contains("refused") {
                reason.push_str(
                    "\nhint: is the vault running? start it with `zoho-vault serve` \
                     (or check ZOHO_VAULT_ADDR / --addr)",
                );
            }
        }
        err
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
            // Not our error shape: some other server on that address.
            format!(
                "the server answered HTTP {} {} without a zoho-vault error body: is \
                 ZOHO_VAULT_ADDR / --addr the vault's address?",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string()
        },
        str::to_string,
    );
    let fix = super::fix::parse(&err["fix"]);
    Err(CliError::Api {
        status: status.as_u16(),
        code: err["code"].as_str().unwrap_or("?").to_string(),
        message,
        hint: super::fix::hint(fix.as_ref(), err["hint"].as_str()),
        fix,
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
    request_with(args, Method::GET, path, Wait::Stream)
}

/// `zoho-vault status`: the vault's state and, when a token is set, who
/// it is. Exits 2 when the vault is sealed or not initialised (as Vault's
/// `status` does) and 3 when the token is refused.
pub async fn status(args: &ClientArgs, json: bool) -> anyhow::Result<()> {
    // The overrides make the health route answer 200 in every state, so
    // the body is read the same way whatever the state.
    let mut health = send(
        request(args, Method::GET, "/v1/sys/health")?
            .query(&[("sealedcode", "200"), ("uninitcode", "200")]),
    )
    .await?;
    if !health["initialized"].is_boolean() || !health["sealed"].is_boolean() {
        return Err(CliError::Usage(
            "the server's /v1/sys/health answer is not a zoho-vault's: check ZOHO_VAULT_ADDR / --addr"
                .into(),
        )
        .into());
    }
    let ready =
        health["initialized"] == Value::Bool(true) && health["sealed"] == Value::Bool(false);
    let has_token = args.token.as_deref().is_some_and(|t| !t.is_empty());
    let who = if ready && has_token {
        Some(send(request(args, Method::GET, "/v1/auth/self")?).await)
    } else {
        None
    };
    let yes_no = |v: &Value| match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    };
    if json {
        if let Some(Ok(me)) = &who {
            health["token"] = me.clone();
        }
        output::json(&health)?;
    } else {
        let mut rows = vec![
            ("address", args.addr.clone()),
            ("version", health["version"].as_str().unwrap_or("?").into()),
            ("initialized", yes_no(&health["initialized"]).into()),
            ("sealed", yes_no(&health["sealed"]).into()),
        ];
        match &who {
            Some(Ok(me)) => rows.extend(token_rows(me)),
            None if !has_token => rows.push(("token", "none (set ZOHO_VAULT_TOKEN)".into())),
            _ => {}
        }
        output::pairs(&rows);
    }
    if health["initialized"] != Value::Bool(true) {
        return Err(CliError::Usage(
            "the vault is not initialised: run `zoho-vault init` (or `zoho-vault serve --init`)"
                .into(),
        )
        .into());
    }
    if !ready {
        return Err(CliError::Usage(
            "the vault is sealed: unseal it with `zoho-vault unseal`".into(),
        )
        .into());
    }
    match who {
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

/// `status` lines about the caller's token (`GET /v1/auth/self`).
fn token_rows(me: &Value) -> Vec<(&'static str, String)> {
    let text = |k: &str| me[k].as_str().unwrap_or("?").to_string();
    let grants = match me["connections"].as_array() {
        Some(list) if !list.is_empty() => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ if me["kind"] == "admin" => "every admin route".into(),
        _ => "none".into(),
    };
    vec![
        (
            "token",
            format!("{} `{}` ({})", text("kind"), text("name"), text("id")),
        ),
        ("grants", grants),
        (
            "expires",
            me["expires_at"].as_str().unwrap_or("never").to_string(),
        ),
    ]
}

/// `zoho-vault unseal`.
pub async fn unseal(args: &ClientArgs, pass: &PassphraseArgs, json: bool) -> anyhow::Result<()> {
    let passphrase = passphrase::require(
        pass.passphrase_file.as_deref(),
        passphrase::ENV,
        "Vault passphrase",
        Purpose::Existing,
    )?;
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
