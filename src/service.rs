//! The library facade the HTTP routes and the CLI call into: one struct
//! that owns the vault, the token registry and (as they land) the broker
//! and audit trail, and answers in domain terms.

use std::path::Path;
use std::sync::Arc;

use secrecy::SecretString;

use crate::auth::{AuthError, Principal};
use crate::broker::{Broker, Issued};
use crate::config::Settings;
use crate::connections::model::ConnectionView;
use crate::connections::upload::{validate_name, UploadRequest};
use crate::connections::{ConnectionError, ConnectionManager};
use crate::crypto::token::{PlainToken, TokenKind};
use crate::store::sled::SledStore;
use crate::store::AsyncStore;
use crate::tokens::{make_token, NewToken, TokenRecord, TokenRegistry};
use crate::vault::{Unsealed, Vault, VaultError};
use crate::zoho::{ZohoClient, ZohoClientConfig, ZohoError};

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
    broker: Broker,
    connections: ConnectionManager,
}

impl VaultService {
    /// Opens the store in the configured data directory (sealed).
    pub fn open(settings: Settings) -> Result<Arc<Self>, OpenError> {
        let store = open_store(&settings.data_dir)?;
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
        let vault = Vault::new(store.clone(), settings.unseal.clone());
        let broker = Broker::new(store.clone(), zoho.clone(), settings.broker.clone());
        let connections = ConnectionManager::new(&settings, store.clone(), zoho, broker.clone());
        Ok(Self {
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

    /// Unseals with the passphrase.
    pub async fn unseal(&self, passphrase: SecretString) -> Result<Unsealed, VaultError> {
        self.vault.unseal(passphrase).await
    }

    /// Seals; admin only (checked by the caller's extractor).
    pub fn seal(&self, _by: &Principal) -> bool {
        self.broker.forget_all();
        self.vault.seal()
    }

    /// Uploads a connection (admin).
    pub async fn create_connection(
        &self,
        name: &str,
        req: UploadRequest,
    ) -> Result<ConnectionView, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self.connections.create(&keyring, name, req).await?)
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
    pub async fn delete_connection(&self, name: &str, revoke: bool) -> Result<bool, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self.connections.delete(&keyring, name, revoke).await?)
    }

    /// Issues the connection's shared access token to `caller`.
    pub async fn issue_token(
        &self,
        caller: &Principal,
        name: &str,
        min_valid_secs: Option<u64>,
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
        Ok(self.broker.issue(&keyring, name, min_valid).await?)
    }

    /// Creates a service token (admin); the plain token is returned once.
    pub async fn create_service_token(
        &self,
        name: String,
        connections: Vec<String>,
        ttl_secs: Option<u64>,
    ) -> Result<(PlainToken, TokenRecord), ServiceError> {
        let keyring = self.vault.keyring()?;
        let new = NewToken::service(name, connections, ttl_secs).map_err(ServiceError::Invalid)?;
        Ok(self.tokens.create(keyring.data_key(), new).await?)
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
        id: &str,
    ) -> Result<Option<TokenRecord>, ServiceError> {
        let keyring = self.vault.keyring()?;
        match self.tokens.get_by_id(keyring.data_key(), id).await? {
            Some(r) if r.kind == TokenKind::Service => {
                Ok(self.tokens.revoke(keyring.data_key(), id).await?)
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
