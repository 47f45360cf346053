//! The browser redirect flow for server-based Zoho clients
//! (docs/zoho.md): the authorization link with its single-use `state`,
//! and the callback that trades Zoho's code for a refresh token.
//!
//! A `state` is 32 random bytes (256 bits, unpadded URL-safe base64). Only
//! its SHA-256 is a key: the record in [`Tree::OAuthStates`] is sealed like
//! every other record and binds the state to one connection (name, client
//! id and creation time, so a connection deleted and created anew under the
//! same name does not inherit old links), to the redirect URI the link
//! named, and to the admin who asked for it (the actor of the audit event).
//! The state is the callback's only credential: whoever holds it may finish
//! that one authorization, once, before it expires (`oauth.state_ttl_secs`).
//!
//! Single use: the callback swaps the sealed record for a "used" copy with a
//! compare-and-swap before it sends the code to Zoho, so two racing
//! callbacks cannot both exchange. A declined consent, a Zoho error or a
//! refused accounts server leave the state unused (nothing was exchanged).
//! Used and expired records are kept a day after their expiry, so a late or
//! reloaded link gets the right page, and swept when the next link is made.
//!
//! The allowlist: the `accounts-server` in the callback comes from the
//! browser and could be forged. The code (and with it the client secret) is
//! only sent to a known data center's accounts server
//! ([`DataCenter::from_accounts_url`]) or to exactly the connection's own
//! configured accounts URL while `zoho.allow_custom_accounts_url` is on.

mod callback;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use url::Url;

use super::{ConnectionError, ConnectionManager};
use crate::auth::Principal;
use crate::crypto::token::TokenKind;
use crate::store::records::{open_value, SealedRecord};
use crate::store::{Op, Scan, StoreError, Tree};
use crate::vault::Keyring;
use crate::zoho::{DataCenter, ZohoError};

pub use callback::Connected;

/// Random bytes in a `state` (256 bits).
pub const STATE_BYTES: usize = 32;

/// How long used and expired states are remembered after their expiry.
const KEEP_AFTER_EXPIRY: time::Duration = time::Duration::hours(24);

/// Most state records looked at by one sweep.
const SWEEP_LIMIT: usize = 10_000;

/// One authorization link, stored sealed under the SHA-256 of its state.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRecord {
    /// The connection it authorizes.
    pub connection: String,
    /// The connection's client id when the link was made.
    pub client_id: String,
    /// The connection's creation time when the link was made.
    #[serde(with = "time::serde::rfc3339")]
    pub connection_created_at: OffsetDateTime,
    /// The redirect URI the link named; the code exchange must repeat it.
    pub redirect_uri: String,
    /// Token id of the admin who asked for the link.
    pub actor_id: String,
    /// That token's name.
    pub actor_name: String,
    /// When the link was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When a callback used it (it works once).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub used_at: Option<OffsetDateTime>,
}

impl SealedRecord for StateRecord {
    const TREE: Tree = Tree::OAuthStates;
    const SCHEMA: u8 = 1;
}

impl StateRecord {
    /// The admin who asked for the link, as the actor of the audit event.
    fn principal(&self) -> Principal {
        Principal {
            token_id: self.actor_id.clone(),
            name: self.actor_name.clone(),
            kind: TokenKind::Admin,
            connections: Vec::new(),
        }
    }
}

/// The answer of `POST /v1/connections/{name}/authorize`. The URL carries
/// the state, a credential: `Debug` leaves it out.
pub struct Authorization {
    /// Zoho's consent page, with every parameter.
    pub url: Url,
    /// When the link stops working.
    pub state_expires_at: OffsetDateTime,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("url", &"[redacted: carries the state]")
            .field("state_expires_at", &self.state_expires_at)
            .finish()
    }
}

/// The store key of a state: its SHA-256.
fn state_key(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

/// A new random state.
fn make_state() -> String {
    let mut bytes = zeroize::Zeroizing::new([0u8; STATE_BYTES]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

/// `{accounts_url}/oauth/v2/auth?response_type=code&client_id=..&scope=..
/// &redirect_uri=..&access_type=offline&prompt=consent&state=..`.
/// `access_type=offline` asks for a refresh token; `prompt=consent` makes
/// Zoho mint a new one even when the user authorized the client before.
pub fn authorize_url(
    accounts_url: &str,
    client_id: &str,
    scopes: &[String],
    redirect_uri: &str,
    state: &str,
) -> Result<Url, ConnectionError> {
    let invalid = || ConnectionError::Invalid("stored accounts URL is invalid".into());
    let mut url = Url::parse(accounts_url).map_err(|_| invalid())?;
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| invalid())?
        .pop_if_empty()
        .extend(["oauth", "v2", "auth"]);
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("scope", &scopes.join(","))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("state", state);
    Ok(url)
}

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

impl ConnectionManager {
    /// Makes an authorization link for `name` (admin `by`): a new state,
    /// stored sealed, and Zoho's consent URL at the connection's accounts
    /// server. Works in every health state; the connection needs a
    /// redirect URI (server-based client) and scopes.
    pub async fn start_authorization(
        &self,
        keyring: &Keyring,
        name: &str,
        by: &Principal,
    ) -> Result<Authorization, ConnectionError> {
        let dk = keyring.data_key();
        let record = self.record(keyring, name).await?;
        let redirect_uri = record
            .redirect_uri
            .clone()
            .ok_or_else(|| ConnectionError::NoRedirectUri(name.to_string()))?;
        if record.scopes.is_empty() {
            return Err(ConnectionError::Invalid(format!(
                "connection `{name}` has no scopes to ask Zoho for; delete it and create it again with `scope`"
            )));
        }
        if let Err(e) = self.sweep_states(keyring).await {
            tracing::warn!(error = %e, "could not sweep old authorization states");
        }
        let state = make_state();
        let now = OffsetDateTime::now_utc();
        let ttl = time::Duration::try_from(self.state_ttl).unwrap_or(time::Duration::minutes(10));
        let expires_at = now + ttl;
        let url = authorize_url(
            &record.accounts_url,
            &record.client_id,
            &record.scopes,
            &redirect_uri,
            &state,
        )?;
        let stored = StateRecord {
            connection: name.to_string(),
            client_id: record.client_id,
            connection_created_at: record.created_at,
            redirect_uri,
            actor_id: by.token_id.clone(),
            actor_name: by.name.clone(),
            created_at: now,
            expires_at,
            used_at: None,
        };
        self.store
            .put_sealed(dk, &state_key(&state), &stored)
            .await?;
        Ok(Authorization {
            url,
            state_expires_at: expires_at,
        })
    }

    /// Forgets states that expired more than a day ago (and unreadable
    /// ones, which nothing can use).
    async fn sweep_states(&self, keyring: &Keyring) -> Result<(), StoreError> {
        let entries = self
            .store
            .scan(Scan::prefix(Tree::OAuthStates, &[], SWEEP_LIMIT))
            .await?;
        let cutoff = OffsetDateTime::now_utc() - KEEP_AFTER_EXPIRY;
        let ops: Vec<Op> = entries
            .into_iter()
            .filter(|(key, value)| {
                open_value::<StateRecord>(keyring.data_key(), key, value)
                    .map_or(true, |r| r.expires_at < cutoff)
            })
            .map(|(key, _)| Op::Delete {
                tree: Tree::OAuthStates,
                key,
            })
            .collect();
        self.store.apply(ops).await
    }
}

/// A person-readable name of where a connection lives: `EU`, `US`, ... or
/// the host of a custom accounts server.
pub fn zoho_place(data_center: Option<DataCenter>, accounts_url: &str) -> String {
    match data_center {
        Some(dc) => match dc {
            DataCenter::Com => "US",
            DataCenter::Eu => "EU",
            DataCenter::In => "India",
            DataCenter::ComAu => "Australia",
            DataCenter::Jp => "Japan",
            DataCenter::Ca => "Canada",
            DataCenter::Sa => "Saudi Arabia",
            DataCenter::Uk => "UK",
            DataCenter::ComCn => "China",
        }
        .to_string(),
        None => {
            let host = Url::parse(accounts_url)
                .ok()
                .and_then(|u| {
                    u.host_str().map(|h| {
                        format!("{h}{}", u.port().map_or(String::new(), |p| format!(":{p}")))
                    })
                })
                .unwrap_or_default();
            format!("custom accounts server {}", clip(&host, 100))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn states_are_256_random_bits_in_url_safe_text() {
        let a = make_state();
        let b = make_state();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(state_key(&a).len(), 32);
        assert_ne!(state_key(&a), a.as_bytes());
    }

    #[test]
    fn the_authorize_url_carries_every_parameter() {
        let scopes = vec!["A.b.READ".to_string(), "A.b.CREATE".to_string()];
        let url = authorize_url(
            "https://accounts.zoho.eu",
            "1000.ID",
            &scopes,
            "https://vault.example.com/v1/oauth/callback",
            "st4te",
        )
        .expect("url");
        assert_eq!(url.path(), "/oauth/v2/auth");
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "1000.ID");
        assert_eq!(q["scope"], "A.b.READ,A.b.CREATE");
        assert_eq!(
            q["redirect_uri"],
            "https://vault.example.com/v1/oauth/callback"
        );
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["state"], "st4te");
        let gw = authorize_url("http://127.0.0.1:9/zoho/", "i", &scopes, "http://x/cb", "s")
            .expect("url");
        assert_eq!(gw.path(), "/zoho/oauth/v2/auth");
    }

    #[test]
    fn callback_parsing_tolerates_zoho_quirks() {
        let q = "code=1000.abc.def&location=eu&accounts-server=https%3A%2F%2Faccounts.zoho.eu&state=xyz&utm=1&";
        let p = CallbackParams::parse(q).expect("parse");
        assert_eq!(p.state.as_deref(), Some("xyz"));
        assert_eq!(
            p.code.as_ref().map(|c| c.expose_secret()),
            Some("1000.abc.def")
        );
        assert_eq!(p.location.as_deref(), Some("eu"));
        assert_eq!(
            p.accounts_server.as_deref(),
            Some("https://accounts.zoho.eu")
        );
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("xyz") && !dbg.contains("1000.abc"), "{dbg}");
        let denied = CallbackParams::parse("error=access_denied&state=xyz&&").expect("parse");
        assert_eq!(denied.error.as_deref(), Some("access_denied"));
        assert!(denied.code.is_none());
        assert!(matches!(
            CallbackParams::parse("state=a&state=b"),
            Err(CallbackError::Malformed(_))
        ));
        assert!(CallbackParams::parse("state=&state=b").is_ok());
    }

    #[test]
    fn places_read_like_words() {
        assert_eq!(
            zoho_place(Some(DataCenter::Eu), "https://accounts.zoho.eu"),
            "EU"
        );
        assert_eq!(
            zoho_place(None, "http://127.0.0.1:4100"),
            "custom accounts server 127.0.0.1:4100"
        );
        assert_eq!(clip("<script>x", 5), "scrip");
    }
}
