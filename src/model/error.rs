//! Failures of connection management and token issue, and the fixes shown
//! to the admin.

use crate::store::{StoreError, Tree};
use crate::zoho::ZohoError;

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
    #[error("the code expired at {0}; no request was sent to Zoho")]
    CodeExpired(String),
    /// Zoho refused or failed.
    #[error("{err}")]
    Zoho {
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
        fix: String,
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

/// The fix shown for a dead refresh token.
pub const FIX_REAUTH: &str = "generate a new code in Zoho's API console (Self Client > Generate Code, same scopes) and upload the new self_client.json with PUT /v1/connections/{name} after deleting this connection, or import a fresh refresh token";

/// The fix shown for a connection that waits for the browser flow.
pub fn fix_pending(name: &str) -> String {
    format!("authorize it in a browser: POST /v1/connections/{name}/authorize answers a link; open it, sign in to Zoho as the account to connect and press Accept")
}

/// The fix shown for a dead refresh token of a browser-flow connection.
pub fn fix_reauth_browser(name: &str) -> String {
    format!("authorize it again in a browser: POST /v1/connections/{name}/authorize answers a link; open it, sign in to Zoho and press Accept")
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
