//! `ZohoError`: everything that can go wrong talking to a Zoho accounts
//! server, and how the vault should react to it ([`ErrorClass`]).
//!
//! Messages are short and never carry a secret: no tokens, no client secret,
//! no request body, no URL with a query string. Text copied from Zoho's answer
//! (`error`, `error_description`) is sanitised and length-capped first.

/// What the caller should do about a [`ZohoError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Upstream trouble that passes: network, timeout, any HTTP error status
    /// without a recognised Zoho error, and every answer the vault cannot
    /// use (an HTML page, `{}`, an undocumented `error`, a token with no
    /// usable lifetime). Retry later; a still-valid cached token may keep
    /// being served. Connection: `degraded`.
    Transient,
    /// Zoho's rate limit: back off for at least 10 minutes. Connection: `throttled`.
    Throttled,
    /// The code or refresh token is dead: the admin must upload a new code or
    /// re-authorize. Connection: `needs_reauth`.
    NeedsReauth,
    /// Zoho says the client is wrong (`invalid_client`,
    /// `invalid_client_secret`, `invalid_redirect_uri`), or the vault's own
    /// accounts URL or HTTP client is unusable: the admin must fix the
    /// configuration.
    Config,
}

/// An error from the Zoho accounts-server client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZohoError {
    /// `invalid_code` (or OAuth `invalid_grant`). On a code exchange the code
    /// expired or was already used; on a refresh the refresh token was
    /// revoked or evicted. The caller knows which operation it ran.
    #[error("Zoho rejected the grant: the code is expired or used, or the refresh token is revoked (invalid_code)")]
    InvalidCode,
    /// `invalid_client`: wrong client id or secret, or the wrong data center.
    #[error("Zoho does not know this client in this data center (invalid_client)")]
    InvalidClient,
    /// `invalid_client_secret`: right client id, wrong secret.
    #[error("Zoho rejected the client secret (invalid_client_secret)")]
    InvalidClientSecret,
    /// `invalid_redirect_uri`: the redirect URI differs from the registered one.
    #[error("Zoho rejected the redirect URI (invalid_redirect_uri)")]
    InvalidRedirectUri,
    /// Zoho's throttle (`"status":"failure"`, an `error_description`, or the
    /// possibly localized `Access Denied`), or HTTP 429.
    #[error("Zoho is throttling this client: {description}")]
    Throttled {
        /// Zoho's `error_description` (or error text), sanitised and capped.
        description: String,
    },
    /// `access_denied`: the grant-code limit (10 codes per 10 minutes per client).
    #[error("Zoho denied access (access_denied): too many grant codes for this client")]
    AccessDenied,
    /// Any other `error` value, sanitised and capped at 64 characters.
    #[error("Zoho rejected the request: {error}")]
    Rejected {
        /// Zoho's `error` value, sanitised.
        error: String,
    },
    /// An HTTP status the client cannot use (5xx, a redirect, an unexpected
    /// 4xx) without a usable error body.
    #[error("Zoho accounts server answered HTTP {status}")]
    UpstreamStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// No answer within the configured timeout.
    #[error("Zoho accounts server did not answer in time")]
    Timeout,
    /// Connecting or talking to the accounts server failed.
    #[error("network error talking to Zoho: {0}")]
    Network(String),
    /// An answer that is neither a token nor a Zoho error.
    #[error("unusable answer from Zoho: {0}")]
    InvalidResponse(String),
    /// Revocation answered HTTP 400: the token is unknown or already revoked.
    #[error("Zoho refused to revoke the token (unknown or already revoked)")]
    RevokeRejected,
    /// The accounts URL cannot serve as a base (not http(s), or has user info).
    #[error("the accounts URL is not a usable http(s) base URL")]
    InvalidAccountsUrl,
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    Setup(String),
}

impl ZohoError {
    /// What the caller should do about this error.
    ///
    /// Only answers that say the credentials are dead may need the admin;
    /// whatever the vault does not recognise is a passing fault, because
    /// treating a proxy's error page as a dead credential turns a hiccup
    /// into an outage that only an admin can end.
    ///
    /// | variant | class |
    /// | --- | --- |
    /// | `InvalidCode`, `RevokeRejected` | `NeedsReauth` |
    /// | `InvalidClient`, `InvalidClientSecret`, `InvalidRedirectUri`, `InvalidAccountsUrl`, `Setup` | `Config` |
    /// | `Throttled`, `AccessDenied` | `Throttled` |
    /// | `Timeout`, `Network`, `UpstreamStatus` (any status), `InvalidResponse`, `Rejected` | `Transient` |
    pub fn class(&self) -> ErrorClass {
        match self {
            ZohoError::InvalidCode | ZohoError::RevokeRejected => ErrorClass::NeedsReauth,
            ZohoError::InvalidClient
            | ZohoError::InvalidClientSecret
            | ZohoError::InvalidRedirectUri
            | ZohoError::InvalidAccountsUrl
            | ZohoError::Setup(_) => ErrorClass::Config,
            ZohoError::Throttled { .. } | ZohoError::AccessDenied => ErrorClass::Throttled,
            ZohoError::Timeout
            | ZohoError::Network(_)
            | ZohoError::UpstreamStatus { .. }
            | ZohoError::InvalidResponse(_)
            | ZohoError::Rejected { .. } => ErrorClass::Transient,
        }
    }

    /// True for network errors, timeouts and 5xx: the only errors the client
    /// retries within one call. Other transient answers wait for the next
    /// refresh: a Zoho `error` answer is never repeated at once (a used code
    /// stays used; a throttle must not be hammered), and an answer that
    /// carried a token may already have spent one of Zoho's mints.
    pub fn is_retryable(&self) -> bool {
        match self {
            ZohoError::Timeout | ZohoError::Network(_) => true,
            ZohoError::UpstreamStatus { status } => *status >= 500,
            _ => false,
        }
    }

    /// Builds a [`ZohoError::Network`] or [`ZohoError::Timeout`] from a
    /// reqwest error, dropping the URL and keeping the cause chain.
    pub(crate) fn from_reqwest(err: reqwest::Error) -> ZohoError {
        if err.is_timeout() {
            return ZohoError::Timeout;
        }
        let err = err.without_url();
        let mut msg = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !msg.contains(&text) {
                msg.push_str(": ");
                msg.push_str(&text);
            }
            source = cause.source();
        }
        // A timeout deep in the chain (e.g. connect timeout) is still a timeout.
        if msg.contains("timed out") {
            return ZohoError::Timeout;
        }
        ZohoError::Network(sanitize(&msg, 200))
    }
}

/// Keeps letters, digits, spaces and `_ - . : , ' ( )`, replaces other
/// characters with `?` and caps the result at `max` characters, so text from
/// Zoho or a socket error is safe to log and show.
pub(crate) fn sanitize(text: &str, max: usize) -> String {
    let mut out: String = text
        .trim()
        .chars()
        .take(max)
        .map(|c| {
            if c.is_alphanumeric() || " _-.:,'()".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.trim().chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        use ErrorClass::*;
        let cases = [
            (ZohoError::Timeout, Transient),
            (ZohoError::Network("x".into()), Transient),
            (ZohoError::UpstreamStatus { status: 503 }, Transient),
            (ZohoError::UpstreamStatus { status: 302 }, Transient),
            (ZohoError::UpstreamStatus { status: 403 }, Transient),
            (ZohoError::UpstreamStatus { status: 404 }, Transient),
            (
                ZohoError::Throttled {
                    description: "x".into(),
                },
                Throttled,
            ),
            (ZohoError::AccessDenied, Throttled),
            (ZohoError::InvalidCode, NeedsReauth),
            (ZohoError::RevokeRejected, NeedsReauth),
            (ZohoError::InvalidClient, Config),
            (ZohoError::InvalidClientSecret, Config),
            (ZohoError::InvalidRedirectUri, Config),
            (ZohoError::Rejected { error: "x".into() }, Transient),
            (ZohoError::InvalidResponse("x".into()), Transient),
            (ZohoError::InvalidAccountsUrl, Config),
            (ZohoError::Setup("x".into()), Config),
        ];
        for (err, class) in cases {
            assert_eq!(err.class(), class, "{err:?}");
        }
    }

    #[test]
    fn only_network_errors_timeouts_and_5xx_are_retried_at_once() {
        let retried = [
            ZohoError::Timeout,
            ZohoError::Network("x".into()),
            ZohoError::UpstreamStatus { status: 500 },
            ZohoError::UpstreamStatus { status: 503 },
        ];
        for err in retried {
            assert!(err.is_retryable(), "{err:?}");
        }
        let not_retried = [
            ZohoError::UpstreamStatus { status: 403 },
            ZohoError::UpstreamStatus { status: 302 },
            ZohoError::InvalidResponse("x".into()),
            ZohoError::Rejected { error: "x".into() },
            ZohoError::InvalidCode,
            ZohoError::AccessDenied,
        ];
        for err in not_retried {
            assert!(!err.is_retryable(), "{err:?}");
        }
    }

    #[test]
    fn sanitize_strips_and_caps() {
        assert_eq!(sanitize("bad\n<script>", 64), "bad??script?");
        assert_eq!(sanitize("拒绝访问", 64), "拒绝访问");
        assert_eq!(
            sanitize(&"a".repeat(70), 64),
            format!("{}…", "a".repeat(64))
        );
    }
}
