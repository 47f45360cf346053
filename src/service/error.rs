//! The facade's error types.

use crate::audit::AuditError;

use crate::auth::AuthError;
use crate::connections::ConnectionError;
use crate::vault::VaultError;
use crate::zoho::ZohoError;

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
    /// The audit trail cannot be written: nothing was handed out.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The proxy refused or failed a request.
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
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
    /// The metrics registry could not be built.
    #[error("cannot register metrics: {0}")]
    Metrics(String),
    /// The audit log cannot be opened (e.g. a damaged record before its
    /// tail: the message names the segment and offset).
    #[error("cannot open the audit trail: {0}")]
    Audit(#[from] AuditError),
    /// The coordination between replicas cannot start.
    #[error("cannot start the cluster coordination: {0}")]
    Coord(#[from] crate::coord::CoordError),
    /// The proxy's HTTP client could not be built.
    #[error("cannot start the proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyError),
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
