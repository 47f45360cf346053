//! The library facade the HTTP routes and the CLI call into: one struct
//! that owns the vault, the token registry and (as they land) the broker
//! and audit trail, and answers in domain terms.

use std::path::Path;
use std::sync::Arc;

use secrecy::SecretString;

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
        Self {
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
