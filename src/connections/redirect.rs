//! The browser redirect flow for server-based Zoho clients (Zoho's
//! authorization-code flow for web apps, see `docs/browser-flow.md`): the
//! authorization link with its single-use `state`,
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
mod params;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
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
use crate::zoho::DataCenter;

pub use callback::Connected;
pub(crate) use params::clip;
pub use params::{CallbackError, CallbackParams};

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
            access: Default::default(),
            proxy_paths: Vec::new(),
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
    let invalid = || crate::model::error::corrupt_url("accounts_url");
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
mod tests;
