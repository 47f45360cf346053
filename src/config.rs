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

/// Path of the shipped defaults file, relative to the working directory.
pub const DEFAULT_FILE: &str = "config/default.toml";
/// Prefix of every environment variable the vault reads.
pub const ENV_PREFIX: &str = "ZOHO_VAULT_";
/// `ZOHO_VAULT_*` variables that are not settings (the last three steer
/// the test suite's PostgreSQL and may be set around a running vault).
pub const NON_SETTING_VARS: [&str; 8] = [
    "PASSPHRASE",
    "NEW_PASSPHRASE",
    "ADDR",
    "TOKEN",
    "CONFIG",
    "TEST_DATABASE_URL",
    "REQUIRE_POSTGRES",
    "PG_TEST_LOG",
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
        }
    }
}

/// The embedded store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Which storage backend holds the vault (`store.backend`,
    /// `ZOHO_VAULT_STORE__BACKEND`). Only `sled` (the embedded store in the
    /// data directory) is accepted today; any other value stops the start
    /// with an error that names the accepted values.
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
    /// Most connections each replica opens (`store.postgres.pool_size`,
    /// `ZOHO_VAULT_STORE__POSTGRES__POOL_SIZE`).
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
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `pretty` for terminals or `json` for log collectors (`log.format`,
    /// `ZOHO_VAULT_LOG__FORMAT`).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `zoho_vault=debug,info`
    /// (`log.level`, `ZOHO_VAULT_LOG__LEVEL`). `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Zoho upstream behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZohoSettings {
    /// Let an upload name its own `accounts_url` instead of a data center
    /// (`zoho.allow_custom_accounts_url`,
    /// `ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL`). For tests, demos and
    /// private gateways only: the client secret is sent to that URL.
    pub allow_custom_accounts_url: bool,
    /// Whole-request timeout for calls to Zoho, in seconds.
    pub timeout_secs: u64,
    /// Connect timeout for calls to Zoho, in seconds.
    pub connect_timeout_secs: u64,
    /// Attempts per call when the network or Zoho fails transiently.
    pub max_attempts: u32,
    /// Seconds subtracted from Zoho's `expires_in`, counted from the moment
    /// the request was sent.
    pub expiry_margin_secs: u64,
}

impl Default for ZohoSettings {
    fn default() -> Self {
        Self {
            allow_custom_accounts_url: false,
            timeout_secs: 10,
            connect_timeout_secs: 3,
            max_attempts: 3,
            expiry_margin_secs: 60,
        }
    }
}

/// HTTP server knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Largest accepted request body in bytes (`http.body_limit_bytes`).
    pub body_limit_bytes: usize,
    /// Worker threads; 0 means one per core (`http.workers`).
    pub workers: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 64 * 1024,
            workers: 0,
        }
    }
}

/// Slow-down of failed unseal attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnsealSettings {
    /// Delay after the first failed attempt, doubled after each further one
    /// (`unseal.base_delay_ms`).
    pub base_delay_ms: u64,
    /// Cap of the delay (`unseal.max_delay_ms`).
    pub max_delay_ms: u64,
}

impl Default for UnsealSettings {
    fn default() -> Self {
        Self {
            base_delay_ms: 250,
            max_delay_ms: 30_000,
        }
    }
}

/// Token issue and refresh budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// Access tokens the vault mints per connection per window
    /// (`broker.mint_budget`); Zoho blocks the 11th in 10 minutes, so the
    /// default 8 leaves room for an operator's own scripts.
    pub mint_budget: u32,
    /// The budget's rolling window in seconds (`broker.mint_window_secs`).
    pub mint_window_secs: u64,
    /// How long a throttled connection waits before asking Zoho again
    /// (`broker.throttle_backoff_secs`); Zoho blocks for the rest of its window.
    pub throttle_backoff_secs: u64,
    /// Validity a caller gets when it names no `min_valid_secs`
    /// (`broker.default_min_valid_secs`).
    pub default_min_valid_secs: u64,
    /// Largest `min_valid_secs` a caller may ask for
    /// (`broker.max_min_valid_secs`); Zoho's tokens live 3600 s.
    pub max_min_valid_secs: u64,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            mint_budget: 8,
            mint_window_secs: 600,
            throttle_backoff_secs: 600,
            default_min_valid_secs: 30,
            max_min_valid_secs: 3000,
        }
    }
}

/// Audit trail knobs (see docs/audit.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// How long an action waits for its audit event to be durable before it
    /// is refused with 503 (`audit.write_timeout_ms`,
    /// `ZOHO_VAULT_AUDIT__WRITE_TIMEOUT_MS`).
    pub write_timeout_ms: u64,
    /// TEST KNOB, never in production: adds `POST /v1/sys/audit-faults`
    /// (admin) that makes the next n audit writes fail
    /// (`audit.fault_injection`, `ZOHO_VAULT_AUDIT__FAULT_INJECTION`).
    pub fault_injection: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            write_timeout_ms: 2000,
            fault_injection: false,
        }
    }
}

/// The browser redirect flow (see docs/browser-flow.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthSettings {
    /// How long an authorization link (its `state`) stays usable, in seconds
    /// (`oauth.state_ttl_secs`, `ZOHO_VAULT_OAUTH__STATE_TTL_SECS`). Zoho's
    /// own codes live 2 minutes; the link only needs to outlive a person
    /// finding the tab and signing in. At least 1.
    pub state_ttl_secs: u64,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            state_ttl_secs: 600,
        }
    }
}

/// Per-token request rate limit: a token bucket per bearer token, in memory
/// (see docs/security.md). Requests over the limit get `429 rate_limited`
/// with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Sustained requests per second per token
    /// (`ratelimit.per_token_per_sec`, `ZOHO_VAULT_RATELIMIT__PER_TOKEN_PER_SEC`);
    /// 0 turns the limit off. The default (20000) is far above what one
    /// backend needs (access tokens live an hour and are shared) and above
    /// what the vault serves on a 2-core machine (docs/security.md, "Rate-
    /// limit defaults"), so a benchmark never meets it; only a runaway or
    /// abused token on a large machine does.
    pub per_token_per_sec: u32,
    /// Requests a token may send in a burst above the sustained rate
    /// (`ratelimit.burst`, `ZOHO_VAULT_RATELIMIT__BURST`); at least 1.
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_token_per_sec: 20_000,
            burst: 40_000,
        }
    }
}

/// Background refresh ahead of expiry, and the keep-alive of idle connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshAheadSettings {
    /// Run the background task at all (`refresh_ahead.enabled`).
    pub enabled: bool,
    /// How often it looks, in seconds (`refresh_ahead.interval_secs`).
    pub interval_secs: u64,
    /// Refresh a connection in use when its token has less than this left
    /// (and is past half its life) (`refresh_ahead.ahead_secs`).
    pub ahead_secs: u64,
    /// A connection is "in use" if a caller asked within this many seconds
    /// (`refresh_ahead.active_secs`).
    pub active_secs: u64,
    /// Refresh a connection nobody used for this long anyway, to find a dead
    /// refresh token before a caller does; 0 turns it off
    /// (`refresh_ahead.keepalive_secs`).
    pub keepalive_secs: u64,
}

impl Default for RefreshAheadSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 15,
            ahead_secs: 300,
            active_secs: 3600,
            keepalive_secs: 86_400,
        }
    }
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Open when listening on a loopback address, admin token otherwise.
    Auto,
    /// Anyone who can reach the listener.
    Open,
    /// Admin token required.
    Admin,
    /// No metrics endpoint (404).
    Off,
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// `auto`, `open`, `admin` or `off` (`metrics.access`,
    /// `ZOHO_VAULT_METRICS__ACCESS`).
    pub access: MetricsAccess,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            access: MetricsAccess::Auto,
        }
    }
}

/// TLS for the HTTP listener (rustls). Both files set: HTTPS; neither:
/// plain HTTP (with a loud warning on non-loopback addresses); one alone is
/// refused at start.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM file with the certificate chain, leaf first (`tls.cert_file`,
    /// `ZOHO_VAULT_TLS__CERT_FILE`).
    pub cert_file: Option<PathBuf>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1)
    /// (`tls.key_file`, `ZOHO_VAULT_TLS__KEY_FILE`).
    pub key_file: Option<PathBuf>,
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
        figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closures return figment::Error"
)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_match_the_design_brief() {
        let s = Settings::default();
        assert_eq!(s.listen, "127.0.0.1:8700");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert!(!s.zoho.allow_custom_accounts_url);
        assert!(s.kdf.memory_kib >= 65536 && s.kdf.passes >= 3);
        assert_eq!(s.audit.write_timeout_ms, 2000);
        assert_eq!(s.oauth.state_ttl_secs, 600);
        assert!(
            !s.audit.fault_injection,
            "the audit fault hook is a test knob"
        );
        assert_eq!(s.ratelimit.per_token_per_sec, 20_000);
        assert_eq!(s.ratelimit.burst, 40_000);
        assert_eq!(s.tls, TlsSettings::default());
    }

    #[test]
    fn postgres_settings_come_from_the_environment_and_debug_hides_the_password() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "ZOHO_VAULT_STORE__POSTGRES__URL",
                "postgres://vault:hunter2@db:5432/vault",
            );
            jail.set_env("ZOHO_VAULT_STORE__POSTGRES__POOL_SIZE", "4");
            let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
            let url = s.store.postgres.url.as_ref().expect("url set");
            assert_eq!(url.expose(), "postgres://vault:hunter2@db:5432/vault");
            assert_eq!(s.store.postgres.pool_size, 4);
            let shown = format!("{s:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("postgres://vault:***@db:5432/vault"));
            Ok(())
        });
    }

    #[test]
    fn ratelimit_and_tls_come_from_the_environment() {
        Jail::expect_with(|jail| {
            jail.set_env("ZOHO_VAULT_RATELIMIT__PER_TOKEN_PER_SEC", "5");
            jail.set_env("ZOHO_VAULT_RATELIMIT__BURST", "7");
            jail.set_env("ZOHO_VAULT_TLS__CERT_FILE", "/etc/vault/cert.pem");
            let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
            assert_eq!(s.ratelimit.per_token_per_sec, 5);
            assert_eq!(s.ratelimit.burst, 7);
            assert_eq!(s.tls.cert_file, Some(PathBuf::from("/etc/vault/cert.pem")));
            assert_eq!(s.tls.key_file, None);
            Ok(())
        });
    }

    #[test]
    fn layers_apply_in_order_file_then_env() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "defaults.toml",
                "listen = \"0.0.0.0:1\"\n[zoho]\ntimeout_secs = 5\n",
            )?;
            jail.create_file("extra.toml", "listen = \"127.0.0.1:2\"\n")?;
            jail.set_env("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true");
            jail.set_env("ZOHO_VAULT_KDF__MEMORY_KIB", "131072");
            jail.set_env("ZOHO_VAULT_PASSPHRASE", "not a setting");
            let s = Settings::load_from(Path::new("defaults.toml"), Some(Path::new("extra.toml")))
                .map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "127.0.0.1:2");
            assert_eq!(s.zoho.timeout_secs, 5);
            assert!(s.zoho.allow_custom_accounts_url);
            assert_eq!(s.kdf.memory_kib, 131072);
            assert_eq!(s.kdf.passes, 3);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_an_error_that_names_them() {
        Jail::expect_with(|jail| {
            jail.create_file("defaults.toml", "[zoho]\nallow_custom_accounts = true\n")?;
            let err = Settings::load_from(Path::new("defaults.toml"), None)
                .expect_err("unknown key must fail");
            assert!(err.to_string().contains("allow_custom_accounts"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("ZOHO_VAULT_LISTN", "x");
            let err = Settings::load_from(Path::new("none.toml"), None).expect_err("unknown env");
            assert!(err.to_string().to_lowercase().contains("listn"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_store_backend_defaults_to_sled_and_an_unknown_one_names_the_accepted_values() {
        Jail::expect_with(|_jail| {
            let s = Settings::load_from(Path::new("none.toml"), None).map_err(|e| e.to_string())?;
            assert_eq!(s.store.backend, StoreBackend::Sled);
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("ZOHO_VAULT_STORE__BACKEND", "cassandra");
            let err = Settings::load_from(Path::new("none.toml"), None).expect_err("unknown");
            let text = err.to_string();
            assert!(text.contains("cassandra"), "{text}");
            assert!(text.contains("sled"), "names the accepted values: {text}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_refused() {
        let err = Settings::load_from(
            Path::new("none.toml"),
            Some(Path::new("/nonexistent/x.toml")),
        )
        .expect_err("missing file");
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }
}
