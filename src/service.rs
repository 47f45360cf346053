//! The library facade the HTTP routes and the CLI call into: one struct
//! that owns the vault, the token registry and (as they land) the broker
//! and audit trail, and answers in domain terms.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::audit::{AuditError, AuditEvent, AuditLog, RequestContext};

use crate::auth::{AuthError, Principal};
use crate::config::Settings;
use crate::crypto::token::{PlainToken, TokenKind};
use crate::store::sled::SledStore;
use crate::store::AsyncStore;
use crate::tokens::{make_token, NewToken, TokenRegistry};
use crate::vault::{Unsealed, Vault, VaultError};

/// Name of the admin token made by `init`.
pub const FIRST_ADMIN_NAME: &str = "initial admin";

/// `GET /v1/sys/health`.
#[derive(Debug, Clone, serde::Serialize)]
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
    audit: AuditLog,
}

impl VaultService {
    /// Opens the store in the configured data directory (sealed).
    pub fn open(settings: Settings) -> Result<Arc<Self>, VaultError> {
        let store = open_store(&settings.data_dir)?;
        Ok(Arc::new(Self::with_store(settings, store)))
    }

    /// Builds the service over an opened store.
    pub fn with_store(settings: Settings, store: AsyncStore) -> Self {
        let vault = Vault::new(store.clone(), settings.unseal.clone());
        let audit = AuditLog::new(
            store.clone(),
            Duration::from_millis(settings.audit.write_timeout_ms),
        );
        Self {
            audit,
            tokens: TokenRegistry::new(store),
            vault,
            settings,
        }
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
        self.vault.seal()
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
pub fn open_store(data_dir: &Path) -> Result<AsyncStore, VaultError> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        VaultError::Store(crate::store::StoreError::Backend(format!(
            "cannot create data directory {}: {e}",
            data_dir.display()
        )))
    })?;
    Ok(AsyncStore::new(Arc::new(SledStore::open(data_dir)?)))
}
