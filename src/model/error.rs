//! Failures of connection management and token issue, and the fix each
//! one carries (see [`Fix`]; the edges put it in words).

use crate::store::{StoreError, Tree};
use crate::zoho::{ErrorClass, ZohoError};

use super::fix::Fix;

/// Which call to Zoho failed, so the admin gets the right explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZohoOp {
    /// Code exchange at upload.
    Exchange,
    /// Refresh-token import at upload.
    Import,
    /// Refresh for token issue.
    Refresh,
    /// Revocation at delete.
    Revoke,
}

/// Failures of connection management and token issue.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The request itself is wrong (400).
    #[error("{0}")]
    Invalid(String),
    /// No such connection.
    #[error("no connection named `{0}`")]
    NotFound(String),
    /// The name is taken.
    #[error("a connection named `{0}` already exists")]
    Exists(String),
    /// `accounts_url` given while custom URLs are disabled.
    #[error("custom accounts URLs are disabled on this vault")]
    CustomUrlDisabled,
    /// The self_client.json code expired before upload; no request was made.
    #[error("the code expired at {expired_at}; no request was sent to Zoho")]
    CodeExpired {
        /// The connection being created.
        connection: String,
        /// When the code expired (RFC 3339).
        expired_at: String,
    },
    /// Zoho refused or failed.
    #[error("{err}")]
    Zoho {
        /// The connection concerned.
        connection: String,
        /// What was attempted.
        op: ZohoOp,
        /// Zoho's answer.
        err: ZohoError,
    },
    /// The connection needs an admin (refresh token dead, client wrong).
    #[error("connection `{name}` needs re-authorization: {reason}")]
    NeedsReauth {
        /// Connection.
        name: String,
        /// Why.
        reason: String,
        /// What to do.
        fix: Fix,
        /// Stable code of the failure that caused it.
        code: String,
        /// Whether this call discovered it (first failure), for auditing
        /// the transition once.
        fresh: bool,
    },
    /// Zoho throttled the connection; no refresh before `retry_after` secs.
    #[error("Zoho is throttling connection `{name}`")]
    Throttled {
        /// Connection.
        name: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The vault's own mint budget is spent for now.
    #[error("the refresh budget of connection `{name}` is spent for now")]
    BudgetExhausted {
        /// Connection.
        name: String,
        /// Seconds until a mint fits.
        retry_after: u64,
    },
    /// The connection waits for the browser redirect flow: no refresh
    /// token yet.
    #[error("connection `{name}` is not authorized yet")]
    PendingAuthorization {
        /// Connection.
        name: String,
    },
    /// The browser flow needs a redirect URI and the connection has none
    /// (self clients have none).
    #[error("connection `{0}` has no redirect URI, so it cannot be authorized in a browser")]
    NoRedirectUri(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConnectionError {
    /// What the admin or caller can do about it, when something can be
    /// done. The edges render it (the API as a route, the CLI as a
    /// command), with the connection's real name.
    pub fn fix(&self) -> Option<Fix> {
        let name = |n: &str| n.to_string();
        match self {
            ConnectionError::Invalid(_) | ConnectionError::NotFound(_) => None,
            ConnectionError::Exists(n) => Some(Fix::DeleteFirst {
                connection: name(n),
            }),
            ConnectionError::CustomUrlDisabled => Some(Fix::UseDataCenter),
            ConnectionError::CodeExpired { connection, .. } => Some(Fix::NewCode {
                connection: name(connection),
            }),
            ConnectionError::Zoho {
                connection,
                op,
                err,
            } => zoho_fix(connection, *op, err),
            ConnectionError::NeedsReauth { fix, .. } => Some(fix.clone()),
            ConnectionError::Throttled { retry_after, .. } => Some(Fix::WaitAndRetry {
                after_secs: Some(*retry_after),
            }),
            ConnectionError::BudgetExhausted {
                name: n,
                retry_after,
            } => Some(Fix::AskWithoutMinValid {
                connection: name(n),
                after_secs: *retry_after,
            }),
            ConnectionError::PendingAuthorization { name: n } => Some(Fix::AuthorizeInBrowser {
                connection: name(n),
            }),
            ConnectionError::NoRedirectUri(n) => Some(Fix::UseRedirectClient {
                connection: name(n),
            }),
            ConnectionError::Store(_) => None,
        }
    }
}

/// The fix for Zoho's answer to `op` on `connection`.
fn zoho_fix(connection: &str, op: ZohoOp, err: &ZohoError) -> Option<Fix> {
    let connection = connection.to_string();
    let upload = matches!(op, ZohoOp::Exchange | ZohoOp::Import);
    Some(match err {
        ZohoError::InvalidCode if upload => Fix::NewCode { connection },
        ZohoError::InvalidCode => Fix::Reauthorize { connection },
        ZohoError::InvalidClient => Fix::CheckDataCenter { connection },
        ZohoError::InvalidClientSecret => Fix::CopyClientSecret { connection },
        ZohoError::InvalidRedirectUri => Fix::CheckRedirectUri { connection },
        ZohoError::Throttled { .. } | ZohoError::AccessDenied => Fix::WaitAndRetry {
            after_secs: Some(600),
        },
        ZohoError::Rejected { .. } if upload => Fix::CheckUpload { connection },
        ZohoError::Timeout => Fix::WaitAndRetry { after_secs: None },
        _ if err.class() == ErrorClass::Transient => Fix::WaitAndRetry { after_secs: None },
        _ => return None,
    })
}

/// A stored accounts URL that does not parse is damage to the store, not a
/// bad request: an internal error.
pub fn corrupt_url(name: &str) -> ConnectionError {
    ConnectionError::Store(StoreError::Corrupt {
        tree: Tree::Connections.name(),
        key: name.to_string(),
        reason: "the stored accounts URL is invalid".into(),
    })
}
