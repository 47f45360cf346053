//! Who a bearer token is (`GET /v1/auth/self`).

use super::{ServiceError, VaultService};
use crate::auth::TokenRecord;
use crate::auth::{AuthError, Principal};

impl VaultService {
    /// The stored metadata of the caller's own token: kind, name, id,
    /// grants and expiry. A token revoked since it was checked is
    /// [`AuthError::Unknown`].
    pub async fn whoami(&self, who: &Principal) -> Result<TokenRecord, ServiceError> {
        let keyring = self.vault.keyring()?;
        self.tokens
            .get_by_id(keyring.data_key(), &who.token_id)
            .await?
            .ok_or(ServiceError::Auth(AuthError::Unknown))
    }
}
