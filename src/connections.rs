//! Zoho connections: upload (code exchange, refresh-token import, or a
//! pending browser-flow client), list, show and delete. The browser redirect
//! flow lives in [`redirect`], token issue in [`crate::broker`].

mod read;
pub mod redirect;
mod replace;
pub mod upload;

pub use crate::model::error::{ConnectionError, ZohoOp};

use std::sync::Arc;

use secrecy::SecretString;
use time::OffsetDateTime;
use url::Url;

use crate::config::Settings;
use crate::coord::{Coordinator, Invalidation};
use crate::model::connection::{ConnectionRecord, ConnectionView, Health, Source};
use crate::model::grant::{apply_grant, seal_grant};
use crate::model::{ConnectionName, Fix};
use crate::store::records::SealedSecret;
use crate::store::{AsyncStore, Op, StoreError, Tree};
use crate::vault::Keyring;
use crate::webhooks::event::{Event, EventType};
use crate::webhooks::outbox;
use crate::zoho::{ClientCredentials, DataCenter, ZohoClient, ZohoError};
use upload::{Grant, UploadRequest};

/// What an upload did: created a connection, or replaced the credentials
/// of one that needed re-authorisation.
pub struct Uploaded {
    /// The connection's metadata after the upload.
    pub view: ConnectionView,
    /// Whether an existing `needs_reauth` connection was replaced in place.
    pub replaced: bool,
}

/// Connection administration.
#[derive(Clone)]
pub struct ConnectionManager {
    store: AsyncStore,
    zoho: ZohoClient,
    coord: Arc<dyn Coordinator>,
    allow_custom_url: bool,
    budget_limit: u32,
    budget_window: u64,
    state_ttl: std::time::Duration,
}

impl ConnectionManager {
    /// A manager over the store, talking to Zoho through `zoho`.
    pub fn new(
        settings: &Settings,
        store: AsyncStore,
        zoho: ZohoClient,
        coord: Arc<dyn Coordinator>,
    ) -> Self {
        Self {
            store,
            zoho,
            coord,
            allow_custom_url: settings.zoho.allow_custom_accounts_url,
            budget_limit: settings.broker.mint_budget,
            budget_window: settings.broker.mint_window_secs,
            state_ttl: std::time::Duration::from_secs(settings.oauth.state_ttl_secs.max(1)),
        }
    }

    /// Where the client lives, from an upload's `data_center` or
    /// `accounts_url` (at most one is given; neither means `com`).
    fn accounts_url(
        &self,
        data_center: Option<&str>,
        accounts_url: Option<&str>,
    ) -> Result<(Option<DataCenter>, Url), ConnectionError> {
        if let Some(raw) = accounts_url {
            if !self.allow_custom_url {
                return Err(ConnectionError::CustomUrlDisabled);
            }
            let url = Url::parse(raw).map_err(|_| {
                ConnectionError::Invalid("`accounts_url` is not a valid URL".into())
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ConnectionError::Invalid(
                    "`accounts_url` must be an http(s) URL".into(),
                ));
            }
            return Ok((DataCenter::from_accounts_url(&url), url));
        }
        let dc = match data_center {
            Some(code) => code
                .parse::<DataCenter>()
                .map_err(|e| ConnectionError::Invalid(e.to_string()))?,
            None => DataCenter::default(),
        };
        Ok((Some(dc), dc.accounts_url()))
    }

    /// Creates a connection: validates, exchanges the code (or validates the
    /// imported refresh token with a refresh) at once, and stores the
    /// secrets sealed. Nothing is stored when Zoho refuses.
    pub async fn create(
        &self,
        keyring: &Keyring,
        name: &ConnectionName,
        req: UploadRequest,
    ) -> Result<Uploaded, ConnectionError> {
        let grant = req.grant().map_err(ConnectionError::Invalid)?;
        // Checked before the lease, so a bad body waits for nothing.
        self.accounts_url(req.data_center.as_deref(), req.accounts_url.as_deref())?;
        // Fences off any refresh still running for a connection of the
        // same name that was deleted.
        let _lease = self
            .coord
            .acquire_exclusive(name)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        // Only a connection whose refresh token is dead may be uploaded
        // over: a live one is never overwritten by accident.
        let replacing = self.replaceable(keyring, name).await?;
        if replacing.is_some() && matches!(grant, Grant::Browser(_)) {
            return Err(ConnectionError::Exists(name.to_string()));
        }
        // self_client.json names no data center: a replacement that gives
        // none keeps the dead connection's, so re-uploading the file alone
        // (as the fix says) asks the server the client lives on.
        let (data_center, accounts_url) = match &replacing {
            Some((_, dead)) if req.data_center.is_none() && req.accounts_url.is_none() => {
                match dead.data_center {
                    Some(dc) => self.accounts_url(Some(dc.code()), None)?,
                    None => self.accounts_url(None, Some(&dead.accounts_url))?,
                }
            }
            _ => self.accounts_url(req.data_center.as_deref(), req.accounts_url.as_deref())?,
        };
        let creds = ClientCredentials {
            client_id: req.client_id.trim().to_string(),
            client_secret: req.client_secret.clone(),
        };
        let now = OffsetDateTime::now_utc();
        let (source, outcome) = match grant {
            Grant::Browser(redirect_uri) => {
                let record = ConnectionRecord {
                    name: name.to_string(),
                    client_id: creds.client_id,
                    client_secret: SealedSecret::new(creds.client_secret),
                    refresh_token: None,
                    redirect_uri: Some(redirect_uri.to_string()),
                    scopes: req.scope.0.clone(),
                    data_center: if req.accounts_url.is_some() {
                        None
                    } else {
                        data_center
                    },
                    accounts_url: accounts_url.as_str().trim_end_matches('/').to_string(),
                    api_domain: data_center
                        .map(|dc| dc.api_domain().to_string())
                        .unwrap_or_else(|| accounts_url.origin().ascii_serialization()),
                    source: Source::Redirect,
                    created_at: now,
                    updated_at: now,
                    health: Health::pending(Fix::AuthorizeInBrowser {
                        connection: name.to_string(),
                    }),
                    mints: Vec::new(),
                };
                self.store
                    .put_sealed(keyring.data_key(), name.as_bytes(), &record)
                    .await?;
                self.changed(name);
                return Ok(Uploaded {
                    view: self.view(record, None),
                    replaced: false,
                });
            }
            Grant::Code(code) => {
                if let Some(expires) = req.code_expires_at() {
                    if expires <= now {
                        return Err(ConnectionError::CodeExpired {
                            connection: name.to_string(),
                            expired_at: rfc3339(expires),
                        });
                    }
                }
                let result = self
                    .zoho
                    .exchange_code(&accounts_url, &creds, code, None)
                    .await;
                (
                    Source::SelfClient,
                    result.map_err(|err| ConnectionError::Zoho {
                        connection: name.to_string(),
                        op: ZohoOp::Exchange,
                        err,
                    }),
                )
            }
            Grant::RefreshToken(rt) => {
                let result = self
                    .zoho
                    .refresh(&accounts_url, &creds, rt)
                    .await
                    .map(|mut g| {
                        g.refresh_token.get_or_insert_with(|| rt.clone());
                        g
                    });
                (
                    Source::RefreshToken,
                    result.map_err(|err| ConnectionError::Zoho {
                        connection: name.to_string(),
                        op: ZohoOp::Import,
                        err,
                    }),
                )
            }
        };
        let granted = outcome?;
        let refresh_token: SecretString =
            granted
                .refresh_token
                .clone()
                .ok_or_else(|| ConnectionError::Zoho {
                    connection: name.to_string(),
                    op: ZohoOp::Exchange,
                    err: ZohoError::InvalidResponse("Zoho answered without a refresh token".into()),
                })?;
        let scopes = if req.scope.0.is_empty() {
            granted.scope.clone().unwrap_or_default()
        } else {
            req.scope.0.clone()
        };
        let mut record = ConnectionRecord {
            name: name.to_string(),
            client_id: creds.client_id,
            client_secret: SealedSecret::new(creds.client_secret),
            refresh_token: Some(SealedSecret::new(refresh_token)),
            redirect_uri: req.redirect_uri().map(str::to_string),
            scopes,
            data_center: if req.accounts_url.is_some() {
                None
            } else {
                data_center
            },
            accounts_url: accounts_url.as_str().trim_end_matches('/').to_string(),
            api_domain: data_center
                .map(|dc| dc.api_domain().to_string())
                .unwrap_or_else(|| accounts_url.origin().ascii_serialization()),
            source,
            created_at: now,
            updated_at: now,
            health: Health::active(now),
            mints: vec![now.unix_timestamp()],
        };
        if let Some((sealed, old)) = replacing {
            // Same name, same history: grants are keyed by the name, so
            // every service token keeps working.
            record.created_at = old.created_at;
            record.mints = old.mints;
            record.mints.push(now.unix_timestamp());
            let cached = apply_grant(&mut record, &granted, now, now);
            self.replace(keyring, sealed, &record, &cached, old.health.state)
                .await?;
            return Ok(Uploaded {
                view: self.view(record, Some(cached)),
                replaced: true,
            });
        }
        let cached = apply_grant(&mut record, &granted, now, now);
        let mut ops: Vec<Op> = seal_grant(keyring.data_key(), &record, &cached)?.into();
        ops.push(outbox::enqueue(&Event::connection(
            EventType::ConnectionCreated,
            now,
            &record.name,
            Some(record.health.state),
            None,
            None,
            None,
        ))?);
        self.store.apply(ops).await?;
        self.changed(name);
        Ok(Uploaded {
            view: self.view(record, Some(cached)),
            replaced: false,
        })
    }

    /// Revokes the refresh token at Zoho (unless `revoke` is false), then
    /// forgets every secret of the connection. A transient failure to
    /// revoke keeps the connection, so nothing live is forgotten silently.
    pub async fn delete(
        &self,
        keyring: &Keyring,
        name: &ConnectionName,
        revoke: bool,
    ) -> Result<bool, ConnectionError> {
        // A refresh in flight is fenced off: whenever it finishes, it
        // writes nothing, so the deleted connection cannot come back.
        let _lease = self
            .coord
            .acquire_exclusive(name)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let record = self.record(keyring, name).await?;
        let mut revoked = false;
        // A pending connection has nothing to revoke.
        if let (true, Some(refresh_token)) = (revoke, &record.refresh_token) {
            let url = Url::parse(&record.accounts_url)
                .map_err(|_| crate::model::error::corrupt_url(name))?;
            match self.zoho.revoke(&url, refresh_token.secret()).await {
                Ok(()) => revoked = true,
                // Already dead at Zoho: nothing left to revoke.
                Err(ZohoError::RevokeRejected) => {}
                Err(err) => {
                    return Err(ConnectionError::Zoho {
                        connection: name.to_string(),
                        op: ZohoOp::Revoke,
                        err,
                    })
                }
            }
        }
        self.store
            .apply(vec![
                Op::Delete {
                    tree: Tree::Connections,
                    key: name.as_bytes().to_vec(),
                },
                Op::Delete {
                    tree: Tree::AccessTokens,
                    key: name.as_bytes().to_vec(),
                },
                outbox::enqueue(&Event::connection(
                    EventType::ConnectionDeleted,
                    crate::clock::now(),
                    name.as_str(),
                    None,
                    Some(record.health.state),
                    None,
                    None,
                ))?,
            ])
            .await?;
        self.changed(name);
        Ok(revoked)
    }

    /// Tells every cache that the connection changed.
    fn changed(&self, name: &str) {
        self.coord
            .publish(Invalidation::ConnectionChanged(name.to_string()));
    }
}

/// RFC 3339 text of a timestamp.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
