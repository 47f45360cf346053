//! What the callback receives (the query Zoho sends to
//! `GET /v1/oauth/callback`) and why a callback does not connect anything.

use secrecy::SecretString;
use time::OffsetDateTime;

use crate::store::StoreError;
use crate::zoho::ZohoError;

/// The query of `GET /v1/oauth/callback`, as Zoho sends it:
/// `code`, `location`, `accounts-server` (URL-encoded), `state`, or
/// `error` on Deny. Unknown parameters and empty pieces (Zoho's trailing
/// `&`) are ignored; an empty value counts as absent. `Debug` redacts the
/// code and the state.
#[derive(Default)]
pub struct CallbackParams {
    /// The state from the link.
    pub state: Option<String>,
    /// The one-time authorization code.
    pub code: Option<SecretString>,
    /// Zoho's error (`access_denied` on Deny).
    pub error: Option<String>,
    /// The user's data center (`us`, `eu`, ...).
    pub location: Option<String>,
    /// The accounts server to exchange the code at (browser-supplied).
    pub accounts_server: Option<String>,
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("error", &self.error)
            .field("location", &self.location)
            .field("accounts_server", &self.accounts_server)
            .finish()
    }
}

impl CallbackParams {
    /// Parses a raw query string. A parameter given twice with values is
    /// refused: which copy was meant is anyone's guess.
    pub fn parse(query: &str) -> Result<Self, CallbackError> {
        let mut params = Self::default();
        let mut code: Option<String> = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "state" => &mut params.state,
                "code" => &mut code,
                "error" => &mut params.error,
                "location" => &mut params.location,
                "accounts-server" => &mut params.accounts_server,
                _ => continue,
            };
            if value.is_empty() {
                continue;
            }
            if slot.is_some() {
                return Err(CallbackError::Malformed("a parameter appears twice"));
            }
            *slot = Some(value.into_owned());
        }
        params.code = code.map(SecretString::from);
        Ok(params)
    }
}

/// Why a callback did not connect anything. Messages are for logs and never
/// hold the state or the code; the HTTP layer turns each into a page.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// No state, or a parameter given twice.
    #[error("the callback is malformed: {0}")]
    Malformed(&'static str),
    /// Never issued here, or forgotten long ago.
    #[error("the state is unknown")]
    UnknownState,
    /// The link is older than `oauth.state_ttl_secs`.
    #[error("the authorization link of `{name}` has expired")]
    Expired {
        /// Connection.
        name: String,
    },
    /// The link worked once already.
    #[error("the authorization link of `{name}` was already used")]
    Used {
        /// Connection.
        name: String,
    },
    /// The user chose Deny (`error=access_denied`); the link still works
    /// until it expires.
    #[error("the user declined to connect `{name}`")]
    Declined {
        /// Connection.
        name: String,
        /// When the link stops working.
        expires_at: OffsetDateTime,
    },
    /// Zoho sent another `error` instead of a code.
    #[error("Zoho answered `{error}` instead of a code for `{name}`")]
    ZohoReported {
        /// Connection.
        name: String,
        /// Zoho's error value (sanitised, clipped).
        error: String,
    },
    /// Neither a code nor an error.
    #[error("Zoho sent no code for `{name}`")]
    MissingCode {
        /// Connection.
        name: String,
    },
    /// The `accounts-server` (or `location`) is not on the allowlist; no
    /// request was sent anywhere.
    #[error("refused accounts server for `{name}`")]
    UnknownAccountsServer {
        /// Connection.
        name: String,
        /// What the callback named (sanitised, clipped).
        given: String,
    },
    /// The connection was deleted (or deleted and created anew) since the
    /// link was made.
    #[error("connection `{name}` was deleted or replaced after the link was made")]
    ConnectionChanged {
        /// Connection.
        name: String,
    },
    /// Zoho refused the code (used, expired, wrong redirect URI or client,
    /// throttled) or answered without a refresh token.
    #[error("Zoho refused the code for `{name}`: {err}")]
    Refused {
        /// Connection.
        name: String,
        /// Zoho's answer.
        err: ZohoError,
    },
    /// Zoho could not be reached (network, timeout, 5xx) after retries.
    #[error("Zoho could not be reached for `{name}`: {err}")]
    Upstream {
        /// Connection.
        name: String,
        /// What failed.
        err: ZohoError,
    },
    /// The vault is sealed (or not initialised): no state can be read.
    #[error("the vault is sealed")]
    Sealed,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Keeps printable ASCII that cannot break out of text (letters, digits,
/// `.:/_-`), at most `max` characters, for values echoed on a page.
pub(crate) fn clip(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || ".:/_-".contains(*c))
        .take(max)
        .collect()
}
