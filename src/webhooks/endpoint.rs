//! A webhook endpoint as stored: its URL and signing secret sealed (a URL
//! may carry credentials: `https://user:pass@host/` or a token in the
//! query), what it subscribes to, and how its body is shaped.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use crate::store::records::{SealedRecord, SealedSecret};
use crate::store::Tree;

/// The body shape an endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"type", "timestamp", "data"}`, signed.
    #[default]
    Json,
    /// `{"text": ...}` for a Slack incoming webhook (signed too; Slack
    /// ignores the headers).
    Slack,
}

/// One endpoint, sealed in [`Tree::WebhookEndpoints`] under its id.
#[derive(Clone, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// `wh_` + 16 hex digits.
    pub id: String,
    /// Where deliveries go.
    pub url: SealedSecret,
    /// The Standard Webhooks signing secret (`whsec_...`).
    pub secret: SealedSecret,
    /// Subscribed event types, or `*`.
    pub events: Vec<String>,
    /// Free text for operators.
    pub description: Option<String>,
    /// Body shape.
    #[serde(default)]
    pub format: Format,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl SealedRecord for EndpointRecord {
    const TREE: Tree = Tree::WebhookEndpoints;
    const SCHEMA: u8 = 1;
}

/// Checks a target URL: absolute, `https` (or `http` when allowed), with a
/// host, no fragment. The reason never quotes the URL (it may hold
/// credentials).
pub fn validate_url(raw: &str, allow_http: bool) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("`url` is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(
            "`url` must use https (plain http is accepted only with webhooks.allow_http = true)"
                .into(),
        ),
        other => return Err(format!("`url` must use https, not `{other}`")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("`url` has no host".into());
    }
    if url.fragment().is_some() {
        return Err("`url` must not have a fragment (`#...`)".into());
    }
    Ok(url)
}

/// The URL as lists and logs show it: scheme, host, port and path; user
/// information and the query replaced by `***`.
pub fn redact(raw: &str) -> String {
    let Ok(url) = Url::parse(raw) else {
        return "***".into();
    };
    let mut out = format!("{}://", url.scheme());
    if !url.username().is_empty() || url.password().is_some() {
        out.push_str("***@");
    }
    out.push_str(url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(url.path());
    if url.query().is_some() {
        out.push_str("?***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_is_accepted_unless_http_is_allowed() {
        assert!(validate_url("https://hooks.example.com/x", false).is_ok());
        assert!(validate_url("http://127.0.0.1:9/x", false).is_err());
        assert!(validate_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(validate_url("ftp://example.com/", true).is_err());
        assert!(validate_url("not a url", true).is_err());
        assert!(validate_url("https://example.com/#frag", true).is_err());
    }

    #[test]
    fn a_refusal_never_quotes_the_url() {
        let err = validate_url("http://user:hunter2@example.com/", false).expect_err("refused");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn redaction_hides_credentials_and_the_query() {
        let shown = redact("https://bob:hunter2@hooks.example.com:8443/in?token=s3cret");
        assert_eq!(shown, "https://***@hooks.example.com:8443/in?***");
        assert_eq!(redact("https://h.example/p"), "https://h.example/p");
    }
}
