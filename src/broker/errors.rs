//! How refresh failures become caller-facing errors.

use crate::coord::CoordError;
use crate::model::error::ConnectionError;
use crate::model::Fix;
use crate::store::StoreError;
use crate::zoho::ZohoError;

pub(super) fn coord_error(e: CoordError) -> ConnectionError {
    ConnectionError::Store(StoreError::Backend(e.to_string()))
}

/// How to revive a connection whose refresh token died: the browser flow
/// when the connection has a redirect URI, a new self-client code otherwise.
pub(super) fn reauth_fix(name: &str, redirect_uri: &Option<String>) -> Fix {
    Fix::reauthorize(name, redirect_uri.is_some())
}

/// The Zoho error's wire name, for audit events.
pub(super) fn zoho_code(err: &ZohoError) -> &'static str {
    match err {
        ZohoError::InvalidCode => "invalid_code",
        ZohoError::InvalidClient => "invalid_client",
        ZohoError::InvalidClientSecret => "invalid_client_secret",
        ZohoError::InvalidRedirectUri => "invalid_redirect_uri",
        _ => "rejected",
    }
}
