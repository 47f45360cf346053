//! The per-area sections of [`Settings`](super::Settings): one struct per
//! table in the TOML file, each with its defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// Reverse proxies whose `X-Forwarded-For` names the client
    /// (`http.trusted_proxies`, `ZOHO_VAULT_HTTP__TRUSTED_PROXIES` as
    /// `10.0.0.0/8,192.0.2.7` or `[10.0.0.0/8, 192.0.2.7]`); empty (the
    /// default) trusts nobody's header. See docs/configuration.md.
    pub trusted_proxies: super::TrustedProxies,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 64 * 1024,
            workers: 0,
            trusted_proxies: super::TrustedProxies::default(),
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
    /// Attempts from other sources that may wait while one key derivation
    /// runs (`unseal.queue`); further ones are refused at once with 429.
    pub queue: u32,
}

impl Default for UnsealSettings {
    fn default() -> Self {
        Self {
            base_delay_ms: 250,
            max_delay_ms: 30_000,
            queue: 1,
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
    /// Anonymous denials (401/403 without a valid token) written one by
    /// one per source address and window; the rest of the window is
    /// counted into one `auth_denied_summary` event
    /// (`audit.denials_written_per_window`,
    /// `ZOHO_VAULT_AUDIT__DENIALS_WRITTEN_PER_WINDOW`); 0 writes every one.
    pub denials_written_per_window: u32,
    /// The window, in seconds (`audit.denial_window_secs`,
    /// `ZOHO_VAULT_AUDIT__DENIAL_WINDOW_SECS`); at least 1.
    pub denial_window_secs: u64,
    /// Most addresses counted at once (`audit.denial_sources_max`,
    /// `ZOHO_VAULT_AUDIT__DENIAL_SOURCES_MAX`); beyond it new addresses
    /// share one window with source `*`, so memory stays bounded.
    pub denial_sources_max: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            write_timeout_ms: 2000,
            fault_injection: false,
            denials_written_per_window: 5,
            denial_window_secs: 60,
            denial_sources_max: 10_000,
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
    /// Sustained failed authentications per second per client address
    /// before `429 rate_limited` (`ratelimit.anonymous_per_addr_per_sec`,
    /// `ZOHO_VAULT_RATELIMIT__ANONYMOUS_PER_ADDR_PER_SEC`); 0 turns it off.
    /// Requests with a valid token never count against it.
    pub anonymous_per_addr_per_sec: u32,
    /// Failed authentications an address may send at once above that rate
    /// (`ratelimit.anonymous_burst`, `ZOHO_VAULT_RATELIMIT__ANONYMOUS_BURST`).
    pub anonymous_burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_token_per_sec: 20_000,
            burst: 40_000,
            anonymous_per_addr_per_sec: 5,
            anonymous_burst: 50,
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

/// Several replicas on one PostgreSQL database (the `postgres` backend).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// This replica's name, shown by `GET /v1/sys/health` and as the owner
    /// of the leases it holds (`cluster.node_name`,
    /// `ZOHO_VAULT_CLUSTER__NODE_NAME`). Unset: the host name and the
    /// process id, `host-1234`.
    pub node_name: Option<String>,
    /// How long a replica's lease (a refresh, a background job) lasts
    /// without renewal, in milliseconds (`cluster.lease_ms`,
    /// `ZOHO_VAULT_CLUSTER__LEASE_MS`): after a replica dies, another one
    /// takes over its work once this has passed. The holder renews every
    /// third of it.
    pub lease_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            node_name: None,
            lease_ms: 10_000,
        }
    }
}

impl ClusterSettings {
    /// The configured node name, else `<host name>-<pid>`.
    pub fn node(&self) -> String {
        match &self.node_name {
            Some(name) if !name.trim().is_empty() => name.trim().to_string(),
            _ => {
                let host = whoami::fallible::hostname().unwrap_or_else(|_| "localhost".into());
                format!("{host}-{}", std::process::id())
            }
        }
    }

    /// [`Self::lease_ms`] as a duration, at least 100 ms (a shorter lease
    /// would expire between its renewals under ordinary scheduling delay).
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.lease_ms.max(100))
    }
}
