//! Proxy mode: a service sends its Zoho API request to the vault, the vault
//! adds the connection's access token and passes Zoho's answer back, so the
//! token never leaves the vault.
//!
//! - [`target`]: the target path, parsed and checked (nothing that could
//!   leave the connection's API host gets through).
//! - [`headers`]: which headers cross the vault, each way.
//! - [`upstream`]: the HTTP client to Zoho's APIs and the API host check.
//! - [`body`]: request bodies (buffered for a retry, or streamed) and the
//!   counted, capped answer stream.
//! - [`dead`]: whether an answer says the access token is dead.
//! - [`limit`]: the per-connection concurrency cap.

pub mod body;
pub mod dead;
pub mod headers;
pub mod limit;
pub mod target;
pub mod upstream;

pub use body::{IncomingBody, ResponseBody};
pub use limit::Limiter;
pub use target::ProxyTarget;
pub use upstream::Upstream;

/// Why the proxy refused or failed a request (before or instead of Zoho's
/// own answer, which is always passed through).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The target path could leave the API host or is malformed (400).
    #[error("{0}")]
    BadPath(String),
    /// The token's `proxy_paths` do not cover the path (403).
    #[error("this token may not use the proxy for `{path}`: its `proxy_paths` allow only {}", allowed.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))]
    PathNotAllowed {
        /// The refused path (never its query string).
        path: String,
        /// The token's prefixes.
        allowed: Vec<String>,
    },
    /// The request body is over `proxy.max_body_bytes` (413).
    #[error("the request body is larger than the proxy allows ({limit} bytes)")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// Zoho's answer is over `proxy.max_body_bytes` (502).
    #[error("Zoho's answer is larger than the proxy allows ({limit} bytes)")]
    ResponseTooLarge {
        /// The cap.
        limit: u64,
    },
    /// Zoho did not answer within `proxy.timeout_ms` (504).
    #[error("Zoho did not answer within {ms} ms")]
    Timeout {
        /// The timeout.
        ms: u64,
    },
    /// The connection has `proxy.max_concurrent_per_connection` requests in
    /// flight and no place freed up in time (429).
    #[error("connection `{connection}` has too many proxied requests in flight")]
    Busy {
        /// The connection.
        connection: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The connection's stored API host is not a Zoho API host (502).
    #[error("the connection's api_domain `{0}` is not a known Zoho API host")]
    ApiDomain(String),
    /// Zoho could not be reached, or the exchange broke off (502).
    #[error("Zoho's API could not be reached: {0}")]
    Upstream(String),
}

impl ProxyError {
    /// The HTTP status the caller gets, for the audit trail and metrics.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadPath(_) => 400,
            Self::PathNotAllowed { .. } => 403,
            Self::TooLarge { .. } => 413,
            Self::Busy { .. } => 429,
            Self::ResponseTooLarge { .. } | Self::ApiDomain(_) | Self::Upstream(_) => 502,
            Self::Timeout { .. } => 504,
        }
    }
}

/// `read` for methods that change nothing (GET, HEAD, OPTIONS), else
/// `write`: the method label of the proxy's metrics.
pub fn method_class(method: &reqwest::Method) -> &'static str {
    if matches!(
        *method,
        reqwest::Method::GET | reqwest::Method::HEAD | reqwest::Method::OPTIONS
    ) {
        "read"
    } else {
        "write"
    }
}

/// `2xx` ... `5xx`: the status label of the proxy's metrics.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
