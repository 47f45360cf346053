//! Layered settings.
//!
//! Later layers override earlier ones:
//! 1. built-in defaults ([`Settings::default`]);
//! 2. `config/default.toml`, relative to the working directory, if present;
//! 3. the file named with `--config FILE` (must exist);
//! 4. `ZOHO_VAULT_*` environment variables, `__` separating nested keys
//!    (`ZOHO_VAULT_KDF__MEMORY_KIB=131072`).
//!
//! Unknown keys in any layer are an error that names the key and its source.
//! The client and secret variables (`ZOHO_VAULT_PASSPHRASE`,
//! `ZOHO_VAULT_NEW_PASSPHRASE`, `ZOHO_VAULT_ADDR`, `ZOHO_VAULT_TOKEN`) are
//! not settings and are skipped here.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::crypto::kdf::KdfParams;

mod describe;
mod outbound;
mod proxies;
mod sections;
mod ui;
pub use outbound::{Age, ProxySettings, WebhookSettings};
pub use proxies::TrustedProxies;
pub use sections::*;
pub use ui::{SessionTtl, UiSettings};

/// Path of the shipped defaults file, relative to the working directory.
pub const DEFAULT_FILE: &str = "config/default.toml";
/// Prefix of every environment variable the vault reads.
pub const ENV_PREFIX: &str = "ZOHO_VAULT_";
/// `ZOHO_VAULT_*` variables that are not settings: the CLI's own, the
/// example clients' (`CONNECTION`), and those that steer the test suite and
/// the benchmark (they may be set around a running vault).
pub const NON_SETTING_VARS: [&str; 14] = [
    "PASSPHRASE",
    "NEW_PASSPHRASE",
    "ADDR",
    "TOKEN",
    "CONFIG",
    "CACERT",
    "CONNECTION",
    "BIN",
    "TEST_DATABASE_URL",
    "REQUIRE_POSTGRES",
    "PG_TEST_LOG",
    "PG_SERVER_OPTIONS",
    "REQUIRE_ROOT_TESTS",
    "REQUIRE_CLIENT_TESTS",
];

/// Every setting of the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address to listen on (`listen`, `ZOHO_VAULT_LISTEN`). Port 0 picks a
    /// free port, printed at start.
    pub listen: String,
    /// Directory holding the store (`data_dir`, `ZOHO_VAULT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Logging.
    pub log: LogSettings,
    /// The embedded store.
    pub store: StoreSettings,
    /// Argon2id parameters used by `init` and `rekey` (`kdf.*`,
    /// `ZOHO_VAULT_KDF__MEMORY_KIB`, `__PASSES`, `__LANES`). An existing
    /// vault keeps the parameters stored in its header.
    pub kdf: KdfParams,
    /// Talking to Zoho.
    pub zoho: ZohoSettings,
    /// HTTP server.
    pub http: HttpSettings,
    /// Unseal brute-force protection.
    pub unseal: UnsealSettings,
    /// Token issue and the refresh budget.
    pub broker: BrokerSettings,
    /// Audit trail.
    pub audit: AuditSettings,
    /// The Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// Background refresh ahead of expiry, and the keep-alive.
    pub refresh_ahead: RefreshAheadSettings,
    /// The browser redirect flow.
    pub oauth: OAuthSettings,
    /// Per-token request rate limit.
    pub ratelimit: RateLimitSettings,
    /// Optional TLS for the listener.
    pub tls: TlsSettings,
    /// Several replicas on one PostgreSQL database (`cluster.*`).
    pub cluster: ClusterSettings,
    /// The proxy to Zoho's APIs (`proxy.*`).
    pub proxy: ProxySettings,
    /// Outgoing webhooks.
    pub webhooks: WebhookSettings,
    /// The admin console (`ui.*`).
    pub ui: UiSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8700".into(),
            data_dir: PathBuf::from("./data"),
            log: LogSettings::default(),
            store: StoreSettings::default(),
            kdf: KdfParams::default(),
            zoho: ZohoSettings::default(),
            http: HttpSettings::default(),
            unseal: UnsealSettings::default(),
            broker: BrokerSettings::default(),
            audit: AuditSettings::default(),
            metrics: MetricsSettings::default(),
            refresh_ahead: RefreshAheadSettings::default(),
            oauth: OAuthSettings::default(),
            ratelimit: RateLimitSettings::default(),
            tls: TlsSettings::default(),
            cluster: ClusterSettings::default(),
            proxy: ProxySettings::default(),
            webhooks: WebhookSettings::default(),
            ui: UiSettings::default(),
        }
    }
}

/// The embedded store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Which storage backend holds the vault (`store.backend`,
    /// `ZOHO_VAULT_STORE__BACKEND`): `sled` (the embedded store in the
    /// data directory) or `postgres` (`store.postgres.url`, shared by
    /// replicas); any other value stops the start with an error that names
    /// the accepted values.
    pub backend: StoreBackend,
    /// Page cache in MiB (`store.cache_mib`, `ZOHO_VAULT_STORE__CACHE_MIB`).
    /// The working set is small; a larger cache mostly speeds up audit
    /// queries over old events.
    pub cache_mib: u64,
    /// The PostgreSQL backend (`store.postgres.*`).
    pub postgres: PostgresSettings,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Sled,
            cache_mib: 32,
            postgres: PostgresSettings::default(),
        }
    }
}

/// The PostgreSQL backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresSettings {
    /// `postgres://user:password@host:5432/db?sslmode=require`
    /// (`store.postgres.url`, `ZOHO_VAULT_STORE__POSTGRES__URL`). Never
    /// logged with its password.
    pub url: Option<DatabaseUrl>,
    /// Most pooled connections each replica opens (`store.postgres.pool_size`,
    /// `ZOHO_VAULT_STORE__POSTGRES__POOL_SIZE`); the listening connection
    /// and the two audit commit connections come on top.
    pub pool_size: u32,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: 10,
        }
    }
}

/// A database URL, which may carry a password: `Debug` shows it redacted.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL with its password, for the one place that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::postgres::redact_url(&self.0))
    }
}

/// The storage backends this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// The embedded sled store under `data_dir`.
    Sled,
    /// A PostgreSQL database shared by every replica (`store.postgres.url`).
    Postgres,
}

/// Settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named with `--config` does not exist.
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    /// A layer holds an unknown key or a bad value; the message names both.
    #[error("invalid settings: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads every layer, the defaults file from the working directory.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(Path::new(DEFAULT_FILE), config_file)
    }

    /// Loads every layer with an explicit defaults file (for tests).
    pub fn load_from(
        defaults_file: &Path,
        config_file: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(defaults_file));
        if let Some(file) = config_file {
            if !file.is_file() {
                return Err(ConfigError::MissingFile(file.to_path_buf()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let env = Env::prefixed(ENV_PREFIX)
            .filter(|key| {
                !NON_SETTING_VARS
                    .iter()
                    .any(|skip| key.as_str().eq_ignore_ascii_case(skip))
            })
            .split("__");
        let settings: Self = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Invalid(describe::describe(e)))?;
        settings.webhooks.check().map_err(ConfigError::Invalid)?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests;
