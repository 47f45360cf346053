//! The library facade the HTTP routes and the CLI call into: one struct
//! that owns the vault, the token registry and (as they land) the broker
//! and audit trail, and answers in domain terms.

mod admin_tokens;
mod backup;

pub use admin_tokens::AdminTokenError;
pub use backup::BackupStream;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::audit::log::SegmentLog;
use crate::audit::{
    AuditError, AuditEvent, AuditLog, CreateMethod, EmbeddedAuditStore, RequestContext, TokenSource,
};

use crate::auth::{AuthError, Principal};
use crate::broker::{Broker, Issued};
use crate::config::Settings;
use crate::connections::model::{ConnectionView, HealthState, Source};
use crate::connections::redirect::{Authorization, CallbackError, CallbackParams, Connected};
use crate::connections::upload::{validate_name, UploadRequest};
use crate::connections::{ConnectionError, ConnectionManager};
use crate::crypto::token::{PlainToken, TokenKind};
use crate::metrics::Metrics;
use crate::store::sled::SledStore;
use crate::store::AsyncStore;
use crate::tokens::{make_token, NewToken, TokenRecord, TokenRegistry};
use crate::vault::{Unsealed, Vault, VaultError};
use crate::zoho::{CallObserver, ZohoClient, ZohoClientConfig, ZohoError};

/// Name of the admin token made by `init`.
pub const FIRST_ADMIN_NAME: &str = "initial admin";

/// `GET /v1/sys/health`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = VaultHealth)]
pub struct Health {
    /// A vault header exists.
    pub initialized: bool,
    /// The keys are not in memory.
    pub sealed: bool,
    /// The crate version.
    pub version: &'static str,
}

/// Everything the service does, independent of HTTP.
pub struct VaultService {
    settings: Settings,
    vault: Vault,
    tokens: TokenRegistry,
    broker: Broker,
    connections: ConnectionManager,
    audit: AuditLog,
    /// The audit log's files, for backups (blocking reads).
    audit_files: Arc<SegmentLog>,
    metrics: Arc<Metrics>,
}

impl VaultService {
    /// Opens the store in the configured data directory (sealed).
    pub fn open(settings: Settings) -> Result<Arc<Self>, OpenError> {
        let store = open_store(&settings.data_dir, settings.store.cache_mib)?;
        Ok(Arc::new(Self::with_store(settings, store)?))
    }

    /// Builds the service over an opened store.
    pub fn with_store(settings: Settings, store: AsyncStore) -> Result<Self, OpenError> {
        let z = &settings.zoho;
        let zoho = ZohoClient::new(ZohoClientConfig {
            timeout: std::time::Duration::from_secs(z.timeout_secs),
            connect_timeout: std::time::Duration::from_secs(z.connect_timeout_secs),
            max_attempts: z.max_attempts,
            expiry_margin: std::time::Duration::from_secs(z.expiry_margin_secs),
            ..ZohoClientConfig::default()
        })?;
        let metrics = Arc::new(Metrics::new().map_err(|e| OpenError::Metrics(e.to_string()))?);
        let upstream = metrics.upstream_seconds.clone();
        let zoho = zoho.with_observer(CallObserver(Arc::new(move |op, took| {
            upstream
                .with_label_values(&[op])
                .observe(took.as_secs_f64());
        })));
        let vault = Vault::new(store.clone(), settings.unseal.clone());
        let broker = Broker::new(
            store.clone(),
            zoho.clone(),
            settings.broker.clone(),
            Arc::clone(&metrics),
        );
        let connections = ConnectionManager::new(&settings, store.clone(), zoho, broker.clone());
        let trail = EmbeddedAuditStore::open(&settings.data_dir, store.clone())?;
        let audit_files = Arc::clone(trail.log());
        let audit = AuditLog::new(
            Arc::new(trail),
            Duration::from_millis(settings.audit.write_timeout_ms),
        );
        audit.observe_flushes(metrics.audit_flush_seconds.clone());
        Ok(Self {
            metrics,
            audit,
            audit_files,
            tokens: TokenRegistry::new(store),
            vault,
            broker,
            connections,
            settings,
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The key lifecycle.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The audit trail. Actions append their event here and await it before
    /// answering; e.g. token issue must `append(AuditEvent::token_issued(..))`
    /// and answer 503 without the token when that fails (invariant 7).
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The audit log's files (backups read them directly).
    pub fn audit_files(&self) -> &Arc<SegmentLog> {
        &self.audit_files
    }

    /// Installs the keyring's audit key in the log, chaining every event
    /// recorded while sealed. A failure is logged: the events stay pending
    /// and are chained with the next append, which fails closed meanwhile.
    async fn activate_audit(&self) {
        if let Ok(keyring) = self.vault.keyring() {
            if let Err(e) = self.audit.activate(keyring).await {
                tracing::error!(error = %e, "cannot chain the pending audit events yet");
            }
        }
    }

    /// Initialises the vault and returns the first admin token, to be shown
    /// once. The vault is left unsealed.
    pub async fn initialize(&self, passphrase: SecretString) -> Result<PlainToken, VaultError> {
        let mut first = None;
        self.vault
            .initialize(passphrase, self.settings.kdf, |keyring| {
                let (plain, _record, ops) = make_token(
                    keyring.data_key(),
                    NewToken {
                        kind: TokenKind::Admin,
                        name: FIRST_ADMIN_NAME.into(),
                        connections: Vec::new(),
                        ttl: None,
                    },
                )?;
                first = Some(plain);
                Ok(ops)
            })
            .await?;
        self.activate_audit().await;
        first.ok_or(VaultError::CorruptHeader)
    }

    /// Health summary; works sealed.
    pub async fn health(&self) -> Result<Health, VaultError> {
        Ok(Health {
            initialized: self.vault.is_initialized().await?,
            sealed: self.vault.is_sealed(),
            version: env!("CARGO_PKG_VERSION"),
        })
    }

    /// Unseals with the passphrase, from the host (no request context).
    pub async fn unseal(&self, passphrase: SecretString) -> Result<Unsealed, UnsealError> {
        self.unseal_from(passphrase, &RequestContext::local()).await
    }

    /// Unseals with the passphrase and audits the attempt. A success is
    /// acknowledged only once its event is durable (else the vault is
    /// sealed again and [`UnsealError::Audit`] returned); a failure's event
    /// goes to the pending tree and is chained at the next unseal.
    pub async fn unseal_from(
        &self,
        passphrase: SecretString,
        ctx: &RequestContext,
    ) -> Result<Unsealed, UnsealError> {
        match self.vault.unseal(passphrase).await {
            Ok(Unsealed::Now) => {
                self.activate_audit().await;
                if let Err(e) = self.audit.append(AuditEvent::unseal(None, ctx)).await {
                    self.audit.deactivate().await;
                    self.broker.forget_all();
                    self.vault.seal();
                    return Err(e.into());
                }
                Ok(Unsealed::Now)
            }
            Ok(Unsealed::Already) => Ok(Unsealed::Already),
            Err(VaultError::WrongPassphrase) => {
                let event = AuditEvent::unseal(Some("wrong_passphrase"), ctx);
                if let Err(e) = self.audit.append(event).await {
                    tracing::error!(error = %e, "cannot record a failed unseal in the audit trail");
                }
                Err(VaultError::WrongPassphrase.into())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Seals; admin only (checked by the caller's extractor). The seal
    /// event is awaited first, but sealing never waits on the audit trail
    /// failing: a failure is logged and the vault is sealed anyway.
    pub async fn seal(&self, by: &Principal, ctx: &RequestContext) -> bool {
        if let Err(e) = self.audit.append(AuditEvent::seal(by, ctx)).await {
            tracing::error!(error = %e, "cannot record the seal in the audit trail; sealing anyway");
        }
        self.audit.deactivate().await;
        self.broker.forget_all();
        self.tokens.forget_all_verified();
        self.vault.seal()
    }

    /// Records an admin action that already happened. Its effect cannot be
    /// undone (a code spent at Zoho, a token revoked), so a failure to record
    /// it is logged loudly instead of being reported as a failed action.
    async fn record_done(&self, event: AuditEvent) {
        if let Err(e) = self.audit.append(event).await {
            tracing::error!(error = %e, "an admin action succeeded but its audit event could not be written");
        }
    }

    /// Uploads a connection (admin).
    pub async fn create_connection(
        &self,
        by: &Principal,
        name: &str,
        req: UploadRequest,
        ctx: &RequestContext,
    ) -> Result<ConnectionView, ServiceError> {
        let keyring = self.vault.keyring()?;
        let view = self.connections.create(&keyring, name, req).await?;
        if view.health.state == HealthState::PendingAuthorization {
            // Nothing is connected yet: `connection_created` (method
            // `redirect`) is recorded when the browser flow finishes.
            return Ok(view);
        }
        let method = match view.source {
            Source::SelfClient => CreateMethod::Exchange,
            Source::RefreshToken => CreateMethod::Import,
            Source::Redirect => CreateMethod::Redirect,
        };
        let dc = view.data_center.map_or("custom", |dc| dc.code());
        self.record_done(AuditEvent::connection_created(by, name, method, dc, ctx))
            .await;
        Ok(view)
    }

    /// Starts the browser redirect flow for a connection (admin): answers
    /// Zoho's consent URL with a fresh single-use state.
    pub async fn authorize_connection(
        &self,
        by: &Principal,
        name: &str,
    ) -> Result<Authorization, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self
            .connections
            .start_authorization(&keyring, name, by)
            .await?)
    }

    /// Finishes the browser redirect flow from Zoho's callback (no bearer:
    /// the state is the credential). On success the connection is active
    /// and `connection_created` (method `redirect`, actor: the admin who
    /// asked for the link) is recorded after the fact, like other admin
    /// actions whose effect cannot be undone.
    pub async fn finish_authorization(
        &self,
        params: CallbackParams,
        ctx: &RequestContext,
    ) -> Result<Connected, CallbackError> {
        let keyring = self.vault.keyring().map_err(|_| CallbackError::Sealed)?;
        let connected = self
            .connections
            .finish_authorization(&keyring, params)
            .await?;
        let dc = connected.data_center.map_or("custom", |dc| dc.code());
        let event = AuditEvent::connection_created(
            &connected.by,
            &connected.name,
            CreateMethod::Redirect,
            dc,
            ctx,
        );
        self.record_done(event).await;
        Ok(connected)
    }

    /// One connection's metadata (admin).
    pub async fn connection(&self, name: &str) -> Result<ConnectionView, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self.connections.get(&keyring, name).await?)
    }

    /// Every connection's metadata (admin).
    pub async fn connections(&self) -> Result<Vec<ConnectionView>, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self.connections.list(&keyring).await?)
    }

    /// Revokes upstream (unless told not to) and forgets a connection.
    pub async fn delete_connection(
        &self,
        by: &Principal,
        name: &str,
        revoke: bool,
        ctx: &RequestContext,
    ) -> Result<bool, ServiceError> {
        let keyring = self.vault.keyring()?;
        let revoked = self.connections.delete(&keyring, name, revoke).await?;
        self.record_done(AuditEvent::connection_deleted(by, name, revoked, ctx))
            .await;
        Ok(revoked)
    }

    /// Issues the connection's shared access token to `caller`. Fails
    /// closed: the token is returned only once its `token_issued` event
    /// (carrying the token's fingerprint, never the token) is durable.
    pub async fn issue_token(
        &self,
        caller: &Principal,
        name: &str,
        min_valid_secs: Option<u64>,
        ctx: &RequestContext,
    ) -> Result<Issued, ServiceError> {
        let keyring = self.vault.keyring()?;
        validate_name(name).map_err(|_| ConnectionError::NotFound(name.to_string()))?;
        if !caller.may_use(name) {
            return Err(AuthError::Forbidden(format!(
                "this token is not granted connection `{name}`"
            ))
            .into());
        }
        let min_valid = self.broker.demand(min_valid_secs)?;
        let issued = match self.broker.issue(&keyring, name, min_valid).await {
            Ok(issued) => issued,
            Err(e) => {
                if let ConnectionError::NeedsReauth {
                    fresh: true, code, ..
                } = &e
                {
                    let event = AuditEvent::connection_needs_reauth(Some(caller), name, code, ctx);
                    self.record_done(event).await;
                }
                return Err(e.into());
            }
        };
        let source = if issued.refreshed {
            let event = AuditEvent::connection_refreshed(
                Some(caller),
                name,
                issued.expires_at,
                issued.rotated,
                ctx,
            );
            self.audit.append(event).await?;
            TokenSource::Refreshed
        } else {
            TokenSource::Cached
        };
        let fingerprint = keyring.fingerprint(issued.access_token.expose_secret());
        let event =
            AuditEvent::token_issued(caller, name, source, issued.expires_at, &fingerprint, ctx);
        self.audit.append(event).await?;
        let label = if issued.refreshed {
            "refreshed"
        } else {
            "cached"
        };
        self.metrics.token_issues.with_label_values(&[label]).inc();
        Ok(issued)
    }

    /// Refreshes the tokens of connections in use that expire within
    /// `ahead`; returns how many were refreshed. Failures are logged and
    /// audited like a caller's, with no actor.
    pub async fn refresh_ahead_tick(&self, ahead: Duration, active: Duration) -> usize {
        let Ok(keyring) = self.vault.keyring() else {
            return 0;
        };
        let mut refreshed = 0;
        for name in self.broker.due_ahead(ahead, active) {
            let result = self
                .broker
                .refresh_ahead(&keyring, &name, ahead, false)
                .await;
            refreshed += usize::from(self.record_background(&name, result).await);
        }
        refreshed
    }

    /// Refreshes connections whose last successful refresh is older than
    /// `idle`, to find dead refresh tokens early; returns how many.
    pub async fn keepalive_tick(&self, idle: Duration) -> usize {
        let Ok(keyring) = self.vault.keyring() else {
            return 0;
        };
        let names = match self.connections.idle_since(&keyring, idle).await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(error = %e, "keep-alive cannot list connections");
                return 0;
            }
        };
        let mut refreshed = 0;
        for name in names {
            let result = self
                .broker
                .refresh_ahead(&keyring, &name, Duration::ZERO, true)
                .await;
            refreshed += usize::from(self.record_background(&name, result).await);
        }
        refreshed
    }

    /// Audits a background refresh; true if it refreshed.
    async fn record_background(&self, name: &str, result: Result<Issued, ConnectionError>) -> bool {
        let ctx = RequestContext::local();
        match result {
            Ok(issued) if issued.refreshed => {
                let event = AuditEvent::connection_refreshed(
                    None,
                    name,
                    issued.expires_at,
                    issued.rotated,
                    &ctx,
                );
                self.record_done(event).await;
                true
            }
            Ok(_) => false,
            Err(ConnectionError::NeedsReauth {
                fresh: true, code, ..
            }) => {
                tracing::warn!(
                    connection = name,
                    "background refresh: the connection needs re-authorization"
                );
                self.record_done(AuditEvent::connection_needs_reauth(None, name, &code, &ctx))
                    .await;
                false
            }
            Err(e) => {
                tracing::debug!(connection = name, error = %e, "background refresh skipped or failed");
                false
            }
        }
    }

    /// The Prometheus text of every metric, with the sealed state and the
    /// connection health counts read now.
    pub async fn render_metrics(&self) -> String {
        self.metrics.sealed.set(i64::from(self.vault.is_sealed()));
        if let Ok(keyring) = self.vault.keyring() {
            match self.connections.health_counts(&keyring).await {
                Ok(counts) => {
                    self.metrics.connections.reset();
                    for (state, n) in counts {
                        self.metrics.connections.with_label_values(&[state]).set(n);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot count connections for metrics"),
            }
        }
        self.metrics.render()
    }

    /// Creates a service token (admin); the plain token is returned once,
    /// and only after its creation is audited (else it is removed again).
    pub async fn create_service_token(
        &self,
        by: &Principal,
        name: String,
        connections: Vec<String>,
        ttl_secs: Option<u64>,
        ctx: &RequestContext,
    ) -> Result<(PlainToken, TokenRecord), ServiceError> {
        let keyring = self.vault.keyring()?;
        let new = NewToken::service(name, connections, ttl_secs).map_err(ServiceError::Invalid)?;
        let (plain, record) = self.tokens.create(keyring.data_key(), new).await?;
        let event = AuditEvent::service_token_created(
            by,
            &record.id,
            &record.name,
            &record.connections,
            record.expires_at,
            ctx,
        );
        if let Err(e) = self.audit.append(event).await {
            self.tokens.revoke(keyring.data_key(), &record.id).await?;
            return Err(e.into());
        }
        Ok((plain, record))
    }

    /// Every service token's metadata (admin).
    pub async fn service_tokens(&self) -> Result<Vec<TokenRecord>, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self
            .tokens
            .list(keyring.data_key(), Some(TokenKind::Service))
            .await?)
    }

    /// Revokes a service token by id; `None` when there is no such token.
    pub async fn revoke_service_token(
        &self,
        by: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<Option<TokenRecord>, ServiceError> {
        let keyring = self.vault.keyring()?;
        match self.tokens.get_by_id(keyring.data_key(), id).await? {
            Some(r) if r.kind == TokenKind::Service => {
                let revoked = self.tokens.revoke(keyring.data_key(), id).await?;
                self.record_done(AuditEvent::service_token_revoked(by, id, ctx))
                    .await;
                Ok(revoked)
            }
            _ => Ok(None),
        }
    }

    /// Resolves a bearer token. Sealed vaults cannot check tokens.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, ServiceAuthError> {
        let keyring = self.vault.keyring()?;
        Ok(self.tokens.authenticate(keyring.data_key(), bearer).await?)
    }
}

/// Authentication can fail because the vault is sealed or because the token
/// is refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceAuthError {
    /// Sealed or broken vault.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Token refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Failures of the service's operations, one variant per layer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Sealed, or the key lifecycle failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Refused caller.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Connection or token-issue failure.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The request is malformed (400).
    #[error("{0}")]
    Invalid(String),
    /// The audit trail cannot be written: nothing was handed out.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// The service could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store could not be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The HTTP client for Zoho could not be built.
    #[error(transparent)]
    Zoho(#[from] ZohoError),
    /// The metrics registry could not be built.
    #[error("cannot register metrics: {0}")]
    Metrics(String),
    /// The audit log cannot be opened (e.g. a damaged record before its
    /// tail: the message names the segment and offset).
    #[error("cannot open the audit trail: {0}")]
    Audit(#[from] AuditError),
}

/// Unsealing can fail in the vault or, after the keys were loaded, because
/// the unseal event could not be made durable (the vault is sealed again).
#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    /// Wrong passphrase, not initialised, storage.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The audit trail is unavailable.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Opens the embedded store under `data_dir`, creating the directory.
pub fn open_store(data_dir: &Path, cache_mib: u64) -> Result<AsyncStore, VaultError> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        VaultError::Store(crate::store::StoreError::Backend(format!(
            "cannot create data directory {}: {e}",
            data_dir.display()
        )))
    })?;
    Ok(AsyncStore::new(Arc::new(SledStore::open_with_cache(
        data_dir,
        cache_mib.saturating_mul(1024 * 1024),
    )?)))
}
