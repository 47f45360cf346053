//! The body of `PUT /v1/connections/{name}`: Zoho's `self_client.json` as
//! the console writes it, plus where to send it, or a refresh token to
//! import, or (no code, no refresh token, a `redirect_uri`) a server-based
//! client to connect through the browser later. Parsing is strict (unknown fields are refused by name) and
//! validation happens before any request to Zoho.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

pub use crate::model::name::MAX_NAME_LEN;

/// Longest accepted redirect URI.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

/// Checks a redirect URI: an absolute `http(s)` URL with a host and no
/// fragment, as Zoho's console accepts them. The text itself is kept as
/// given (trimmed): Zoho compares it with the registered one exactly.
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let bad = || {
        Err(
            "`redirect_uri` must be the absolute http(s) URL registered for the client in Zoho's API console, e.g. https://vault.example.com/v1/oauth/callback"
                .to_string(),
        )
    };
    if uri.is_empty() || uri.len() > MAX_REDIRECT_URI_LEN {
        return bad();
    }
    match url::Url::parse(uri) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.fragment().is_none()
                && url.username().is_empty()
                && url.password().is_none() =>
        {
            Ok(())
        }
        _ => bad(),
    }
}

/// Scopes as Zoho's file writes them (an array) or as people type them (a
/// comma- or space-separated string).
#[derive(Debug, Clone, Default)]
pub struct Scopes(pub Vec<String>);

/// Either form [`Scopes`] accepts.
impl utoipa::PartialSchema for Scopes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(
                "Scopes: an array, or one string separated by commas or spaces",
            ))
            .examples([serde_json::json!(["ZohoInvoice.invoices.CREATE"])])
            .into()
    }
}

impl utoipa::ToSchema for Scopes {}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        let items = match Raw::deserialize(d)? {
            Raw::List(v) => v,
            Raw::Text(s) => s.split([',', ' ']).map(str::to_string).collect(),
        };
        Ok(Scopes(
            items
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ))
    }
}

/// The upload body: Zoho's `self_client.json` as the API console writes
/// it, plus where the client lives (`data_center` or `accounts_url`). With
/// `refresh_token` instead of `code` an existing refresh token is imported;
/// with neither but a `redirect_uri`, the connection waits for the browser
/// flow.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// Zoho client id.
    pub client_id: String,
    /// Zoho client secret.
    #[schema(value_type = String, format = Password)]
    pub client_secret: SecretString,
    /// The one-time code from the API console.
    #[schema(value_type = Option<String>, format = Password)]
    pub code: Option<SecretString>,
    /// A refresh token to import instead of a code.
    #[schema(value_type = Option<String>, format = Password)]
    pub refresh_token: Option<SecretString>,
    /// Scopes.
    #[serde(default)]
    pub scope: Scopes,
    /// When the code dies, epoch milliseconds (as in self_client.json).
    pub expiry_time: Option<i64>,
    /// `authorization_code` when present.
    pub grant_type: Option<String>,
    /// Redirect URI (browser flow); not sent on a self-client exchange.
    pub redirect_uri: Option<String>,
    /// Data center code (`com`, `eu`, `in`, `com.au`, `jp`, `ca`, `sa`, `uk`, `com.cn`).
    pub data_center: Option<String>,
    /// Custom accounts server (only with `zoho.allow_custom_accounts_url`).
    pub accounts_url: Option<String>,
}

/// What to trade for a refresh token.
pub enum Grant<'a> {
    /// Exchange a one-time code.
    Code(&'a SecretString),
    /// Validate and import a refresh token.
    RefreshToken(&'a SecretString),
    /// Nothing to trade yet: store the client, pending until the browser
    /// redirect flow brings a code (to this redirect URI).
    Browser(&'a str),
}

impl UploadRequest {
    /// Checks the body's own consistency; the `Err` is a message for a 400.
    pub fn grant(&self) -> Result<Grant<'_>, String> {
        if self.client_id.trim().is_empty() || self.client_id.len() > 256 {
            return Err("`client_id` must be the client id from Zoho's API console".into());
        }
        if secrecy::ExposeSecret::expose_secret(&self.client_secret).is_empty() {
            return Err("`client_secret` is empty".into());
        }
        if let Some(g) = &self.grant_type {
            if g != "authorization_code" {
                return Err(format!(
                    "`grant_type` must be `authorization_code` (self-client file), not `{}`",
                    g.chars().take(40).collect::<String>()
                ));
            }
        }
        if self.data_center.is_some() && self.accounts_url.is_some() {
            return Err("give either `data_center` or `accounts_url`, not both".into());
        }
        if let Some(uri) = self.redirect_uri() {
            validate_redirect_uri(uri)?;
        }
        match (&self.code, &self.refresh_token) {
            (Some(code), None) => Ok(Grant::Code(code)),
            (None, Some(rt)) if self.grant_type.is_none() => Ok(Grant::RefreshToken(rt)),
            (None, Some(_)) => {
                Err("`grant_type` goes with `code`, not with `refresh_token`".into())
            }
            (Some(_), Some(_)) => Err("give either `code` or `refresh_token`, not both".into()),
            (None, None) => match self.redirect_uri() {
                Some(_) if self.grant_type.is_some() => {
                    Err("`grant_type` goes with `code`; leave it out to connect through the browser".into())
                }
                Some(_) if self.scope.0.is_empty() => Err(
                    "connecting through the browser needs `scope` (the scopes to ask the user for)"
                        .into(),
                ),
                Some(uri) => Ok(Grant::Browser(uri)),
                None => Err(
                    "the body needs `code` (from self_client.json), `refresh_token` (to import one), or `redirect_uri` (to connect a server-based client through the browser)"
                        .into(),
                ),
            },
        }
    }

    /// The redirect URI, trimmed; `None` when absent or blank.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// When the code expires, from `expiry_time` (epoch ms).
    pub fn code_expires_at(&self) -> Option<OffsetDateTime> {
        let ms = self.expiry_time?;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_accepts_an_array_or_a_comma_string() {
        let a: Scopes = serde_json::from_str(r#"["A.b.READ","A.b.CREATE"]"#).expect("array");
        let b: Scopes = serde_json::from_str(r#""A.b.READ, A.b.CREATE""#).expect("string");
        assert_eq!(a.0, b.0);
        assert_eq!(a.0, vec!["A.b.READ", "A.b.CREATE"]);
    }

    #[test]
    fn a_self_client_json_parses_as_is() {
        let body = r#"{"scope":["ZohoInvoice.invoices.CREATE"],"expiry_time":1769431483587,
            "client_id":"1000.ABC","client_secret":"abc123","code":"1000.x.y","grant_type":"authorization_code"}"#;
        let req: UploadRequest = serde_json::from_str(body).expect("parse");
        assert!(matches!(req.grant(), Ok(Grant::Code(_))));
        assert_eq!(
            req.code_expires_at().map(|t| t.unix_timestamp()),
            Some(1_769_431_483)
        );
    }

    #[test]
    fn a_redirect_uri_without_code_means_the_browser_flow() {
        let body = r#"{"client_id":"1000.W","client_secret":"s","scope":"A.b.READ,A.b.CREATE",
            "redirect_uri":" https://vault.example.com/v1/oauth/callback ","data_center":"eu"}"#;
        let req: UploadRequest = serde_json::from_str(body).expect("parse");
        assert!(matches!(
            req.grant(),
            Ok(Grant::Browser(
                "https://vault.example.com/v1/oauth/callback"
            ))
        ));
    }

    #[test]
    fn redirect_uris_must_be_absolute_http_urls() {
        for ok in [
            "https://vault.example.com/v1/oauth/callback",
            "http://127.0.0.1:8700/v1/oauth/callback",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/v1/oauth/callback",
            "ftp://x.example/cb",
            "https://x.example/cb#frag",
            "https://u:p@x.example/cb",
            "javascript:alert(1)",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inconsistent_bodies_are_refused_with_a_reason() {
        let both = r#"{"client_id":"1","client_secret":"s","code":"c","refresh_token":"r"}"#;
        let req: UploadRequest = serde_json::from_str(both).expect("parse");
        assert!(req.grant().is_err());
        let neither = r#"{"client_id":"1","client_secret":"s"}"#;
        let req: UploadRequest = serde_json::from_str(neither).expect("parse");
        assert!(req.grant().is_err());
        let no_scope =
            r#"{"client_id":"1","client_secret":"s","redirect_uri":"https://v.example/cb"}"#;
        let req: UploadRequest = serde_json::from_str(no_scope).expect("parse");
        assert!(req.grant().is_err());
        let bad_uri =
            r#"{"client_id":"1","client_secret":"s","scope":"A.b.READ","redirect_uri":"vault/cb"}"#;
        let req: UploadRequest = serde_json::from_str(bad_uri).expect("parse");
        assert!(req.grant().is_err());
        let unknown = r#"{"client_id":"1","client_secret":"s","code":"c","colour":"red"}"#;
        let err = serde_json::from_str::<UploadRequest>(unknown)
            .err()
            .expect("unknown field");
        assert!(err.to_string().contains("colour"));
    }
}
