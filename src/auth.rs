//! Who is calling and what they may do: bearer tokens, the principals they
//! stand for, and the reasons a request is refused.
//!
//! There are admin (`zva_`) and service (`zvs_`) tokens. A token is stored
//! only as its SHA-256 hash (the record key); the record itself (name,
//! grants, expiry, last use) is sealed like every other record. Tokens also
//! have a short public id, for listing and revoking without the token.
//!
//! - [`principal`]: the authenticated caller.
//! - [`record`]: the stored token record and the writes that create one.
//! - [`new_token`]: what a new token should be, validated.
//! - [`registry`]: create, verify, list and revoke over the store.
//! - `cache`: verifications remembered for a short while.
//! - `last_use`: the background writer of `last_used_at`.

pub mod access;
mod cache;
mod fill;
mod last_use;
pub mod new_token;
pub mod principal;
pub mod record;
pub mod registry;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::store::StoreError;

pub use access::TokenAccess;
pub use new_token::NewToken;
pub use principal::Principal;
pub use record::{is_token_id, make_token, TokenRecord, ALL_CONNECTIONS};
pub use registry::{RevokeAdminError, TokenRegistry};

/// `last_used_at` is written at most this often per token, and a cached
/// verification is trusted for at most this long.
pub const LAST_USE_EVERY: Duration = Duration::from_secs(60);

/// Why a caller was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// The header or token is not of our format.
    #[error("malformed bearer token")]
    Malformed,
    /// No such token (never issued, or revoked).
    #[error("unknown or revoked token")]
    Unknown,
    /// The token's expiry has passed.
    #[error("token expired")]
    Expired,
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// A service token asked for a connection (this one) it was not
    /// granted.
    #[error("this token is not granted connection `{0}`")]
    NotGranted(String),
    /// A proxy-only token asked for an access token (of this connection).
    #[error("this token is proxy-only: it may call Zoho through the vault's proxy, not receive access tokens")]
    ProxyOnly(String),
    /// Looking the token up failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
