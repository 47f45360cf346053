//! The callback half of the browser flow: state checks, the accounts-server
//! allowlist, the single-use swap, the code exchange and storing the result.
//! See the parent module for the rules.

use secrecy::ExposeSecret;
use time::OffsetDateTime;
use url::Url;

use super::{clip, state_key, CallbackError, CallbackParams, StateRecord};
use crate::auth::Principal;
use crate::connections::ConnectionManager;
use crate::model::connection::{ConnectionRecord, HealthState, Source};
use crate::model::grant::{apply_grant, seal_grant};
use crate::store::records::{open_value, seal_op};
use crate::store::{Op, StoreError, Tree};
use crate::vault::Keyring;
use crate::webhooks::event::{Event, EventType};
use crate::zoho::{ClientCredentials, DataCenter, ErrorClass, Grant, ZohoError};

/// A finished browser flow.
#[derive(Debug)]
pub struct Connected {
    /// Connection.
    pub name: String,
    /// Its data center now (`None`: a custom accounts server).
    pub data_center: Option<DataCenter>,
    /// Its accounts server now.
    pub accounts_url: String,
    /// Whether a refresh token was replaced (re-authorization).
    pub replaced: bool,
    /// The admin who asked for the link.
    pub by: Principal,
}

/// What the allowlist decided: where to exchange, and the data center.
struct Target {
    accounts_url: Url,
    data_center: Option<DataCenter>,
}

impl ConnectionManager {
    /// Finishes the browser flow for the callback's `params`.
    pub async fn finish_authorization(
        &self,
        keyring: &Keyring,
        params: CallbackParams,
    ) -> Result<Connected, CallbackError> {
        let dk = keyring.data_key();
        let state = params
            .state
            .as_deref()
            .ok_or(CallbackError::Malformed("no state"))?;
        let key = state_key(state);
        let sealed = self
            .store
            .get(Tree::OAuthStates, key.clone())
            .await?
            .ok_or(CallbackError::UnknownState)?;
        let link: StateRecord = open_value(dk, &key, &sealed)?;
        let name = link.connection.clone();
        if link.used_at.is_some() {
            return Err(CallbackError::Used { name });
        }
        let now = OffsetDateTime::now_utc();
        if now >= link.expires_at {
            return Err(CallbackError::Expired { name });
        }
        if let Some(error) = &params.error {
            if error == "access_denied" {
                return Err(CallbackError::Declined {
                    name,
                    expires_at: link.expires_at,
                });
            }
            return Err(CallbackError::ZohoReported {
                name,
                error: clip(error, 64),
            });
        }
        let code = params
            .code
            .clone()
            .ok_or_else(|| CallbackError::MissingCode { name: name.clone() })?;

        // Serialises with create, delete and refreshes of this name only
        // (never across connections): the connection cannot vanish or be
        // replaced between the checks below and the write, and no refresh of
        // an old token can write meanwhile.
        let _lease = self
            .coord
            .acquire_exclusive(&name)
            .await
            .map_err(|e| crate::store::StoreError::Backend(e.to_string()))?;
        let record = self.bound_record(keyring, &link).await?;
        let target = allowlisted(self.allow_custom_url, &record, &params)?;

        // Single use: only the caller whose swap wins sends the code.
        let mut used = link;
        used.used_at = Some(now);
        let Op::Put { value, .. } = seal_op(dk, &key, &used)? else {
            return Err(StoreError::Backend("sealing a state did not yield a write".into()).into());
        };
        if self
            .store
            .compare_and_swap(Tree::OAuthStates, key, Some(sealed), Some(value))
            .await?
            .is_err()
        {
            return Err(CallbackError::Used { name });
        }

        let creds = ClientCredentials {
            client_id: record.client_id.clone(),
            client_secret: record.client_secret.secret().clone(),
        };
        let sent_at = OffsetDateTime::now_utc();
        let granted = self
            .zoho
            .exchange_code(
                &target.accounts_url,
                &creds,
                &code,
                Some(&used.redirect_uri),
            )
            .await
            .map_err(|err| match err.class() {
                ErrorClass::Transient => CallbackError::Upstream {
                    name: name.clone(),
                    err,
                },
                _ => CallbackError::Refused {
                    name: name.clone(),
                    err,
                },
            })?;
        let Some(refresh_token) = granted.refresh_token.clone() else {
            return Err(CallbackError::Refused {
                name,
                err: ZohoError::InvalidResponse(
                    "Zoho answered without a refresh token (was access_type=offline dropped?)"
                        .into(),
                ),
            });
        };

        let stored = self
            .store_grant(keyring, &used, &target, granted, refresh_token, sent_at)
            .await;
        self.changed(&name);
        let stored = stored?;
        if let Some((old_token, old_url)) = stored {
            self.revoke_in_background(&name, old_token, old_url);
        }
        Ok(Connected {
            name,
            data_center: target.data_center,
            accounts_url: target
                .accounts_url
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            replaced: record.refresh_token.is_some(),
            by: used.principal(),
        })
    }

    /// The connection the link was made for, if it is still that one.
    async fn bound_record(
        &self,
        keyring: &Keyring,
        link: &StateRecord,
    ) -> Result<ConnectionRecord, CallbackError> {
        let changed = || CallbackError::ConnectionChanged {
            name: link.connection.clone(),
        };
        let record: ConnectionRecord = self
            .store
            .get_sealed(keyring.data_key(), link.connection.as_bytes())
            .await?
            .ok_or_else(changed)?;
        if record.client_id != link.client_id
            || record.created_at != link.connection_created_at
            || record.redirect_uri.as_deref() != Some(link.redirect_uri.as_str())
        {
            return Err(changed());
        }
        Ok(record)
    }

    /// Stores the new refresh token and access token (runs with the
    /// connection's refresh lock held). Answers the replaced refresh token
    /// and its accounts server, for revocation.
    async fn store_grant(
        &self,
        keyring: &Keyring,
        link: &StateRecord,
        target: &Target,
        granted: Grant,
        refresh_token: secrecy::SecretString,
        sent_at: OffsetDateTime,
    ) -> Result<Option<(secrecy::SecretString, String)>, CallbackError> {
        let dk = keyring.data_key();
        // Read again: a refresh that finished meanwhile may have changed it.
        let mut record = self.bound_record(keyring, link).await?;
        let old = record.refresh_token.take().and_then(|old| {
            let old = old.secret().clone();
            (old.expose_secret() != refresh_token.expose_secret())
                .then(|| (old, record.accounts_url.clone()))
        });
        let done = OffsetDateTime::now_utc();
        if let Some(dc) = target.data_center {
            record.data_center = Some(dc);
            record.accounts_url = dc.accounts_url_str().to_string();
            record.api_domain = dc.api_domain().to_string();
        }
        if record.scopes.is_empty() {
            record.scopes = granted.scope.clone().unwrap_or_default();
        }
        record.source = Source::Redirect;
        // Zoho's mint limit is per refresh token: the new one starts afresh
        // with this exchange.
        record.mints = vec![sent_at.unix_timestamp()];
        let mut granted = granted;
        granted.refresh_token = Some(refresh_token);
        let previous = record.health.state;
        let cached = apply_grant(&mut record, &granted, sent_at, done);
        // A pending connection is created by this; any other comes back.
        let kind = if previous == HealthState::PendingAuthorization {
            EventType::ConnectionCreated
        } else {
            EventType::ConnectionRecovered
        };
        let event = Event::connection(
            kind,
            done,
            &record.name,
            Some(record.health.state),
            Some(previous),
            None,
            None,
        );
        let mut ops: Vec<Op> = seal_grant(dk, &record, &cached)?.into();
        if kind == EventType::ConnectionCreated || previous != HealthState::Active {
            ops.push(crate::webhooks::outbox::enqueue(&event)?);
        }
        self.store.apply(ops).await?;
        Ok(old)
    }

    /// Revokes a replaced refresh token at its accounts server, without
    /// holding up the person waiting for the page; the outcome is logged.
    fn revoke_in_background(&self, name: &str, token: secrecy::SecretString, accounts_url: String) {
        let zoho = self.zoho.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let Ok(url) = Url::parse(&accounts_url) else {
                return;
            };
            match zoho.revoke(&url, &token).await {
                Ok(()) | Err(ZohoError::RevokeRejected) => {
                    tracing::info!(connection = %name, "revoked the replaced refresh token");
                }
                Err(e) => {
                    tracing::warn!(connection = %name, error = %e, "could not revoke the replaced refresh token; it stays valid at Zoho until revoked there");
                }
            }
        });
    }
}

/// The allowlist. `accounts-server` decides when present: a known data
/// center's accounts server, or exactly the connection's own custom
/// accounts URL while custom URLs are allowed. Without it, `location`
/// names a known data center; with neither, the connection's own
/// accounts server is used.
fn allowlisted(
    allow_custom_url: bool,
    record: &ConnectionRecord,
    params: &CallbackParams,
) -> Result<Target, CallbackError> {
    let refused = |given: &str| CallbackError::UnknownAccountsServer {
        name: record.name.clone(),
        given: clip(given, 100),
    };
    let own = || Url::parse(&record.accounts_url).map_err(|_| refused(&record.accounts_url));
    if let Some(given) = &params.accounts_server {
        let url = Url::parse(given.trim()).map_err(|_| refused(given))?;
        if let Some(dc) = DataCenter::from_accounts_url(&url) {
            if let Some(loc) = params.location.as_deref() {
                if DataCenter::from_location(loc) != Some(dc) {
                    tracing::warn!(connection = %record.name, location = %clip(loc, 16), data_center = dc.code(), "the callback's location and accounts-server disagree; using accounts-server");
                }
            }
            return Ok(Target {
                accounts_url: dc.accounts_url(),
                data_center: Some(dc),
            });
        }
        if allow_custom_url && same_custom_url(&url, &record.accounts_url) {
            return Ok(Target {
                accounts_url: own()?,
                data_center: record.data_center,
            });
        }
        tracing::warn!(connection = %record.name, given = %clip(given, 100), "refused a callback naming an accounts server off the allowlist; nothing was sent to it");
        return Err(refused(given));
    }
    if let Some(loc) = &params.location {
        let dc = DataCenter::from_location(loc).ok_or_else(|| refused(loc))?;
        return Ok(Target {
            accounts_url: dc.accounts_url(),
            data_center: Some(dc),
        });
    }
    if record.data_center.is_none() && !allow_custom_url {
        return Err(refused(&record.accounts_url));
    }
    Ok(Target {
        accounts_url: own()?,
        data_center: record.data_center,
    })
}

/// Whether `given` is exactly the configured custom accounts URL: same
/// scheme, host, port and path (a trailing `/` aside), and nothing else.
fn same_custom_url(given: &Url, configured: &str) -> bool {
    if !given.username().is_empty()
        || given.password().is_some()
        || given.query().is_some()
        || given.fragment().is_some()
    {
        return false;
    }
    let Ok(configured) = Url::parse(configured) else {
        return false;
    };
    given.as_str().trim_end_matches('/') == configured.as_str().trim_end_matches('/')
}

#[cfg(test)]
mod tests;
