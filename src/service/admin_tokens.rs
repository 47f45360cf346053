//! Admin tokens beyond the first: create (shown once), list, revoke. The
//! last valid admin token cannot be revoked, so an admin can never lock
//! every admin out by accident.

use crate::audit::{AuditEvent, RequestContext};
use crate::auth::Principal;
use crate::auth::{NewToken, RevokeAdminError, TokenRecord};
use crate::crypto::token::{PlainToken, TokenKind};

use super::{ServiceError, VaultService};

/// Failures of the admin-token operations.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    /// Sealed, invalid request, storage or audit failure.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Revoking would leave no valid admin token.
    #[error("this is the last valid admin token; create another before revoking it")]
    LastAdmin,
}

impl VaultService {
    /// Creates an admin token (admin); the plain token is returned once,
    /// and only after its creation is audited (else it is removed again).
    pub async fn create_admin_token(
        &self,
        by: &Principal,
        name: String,
        ttl_secs: Option<u64>,
        ctx: &RequestContext,
    ) -> Result<(PlainToken, TokenRecord), ServiceError> {
        let keyring = self.vault.keyring()?;
        let new = NewToken::admin(name, ttl_secs).map_err(ServiceError::Invalid)?;
        let (plain, record) = self.tokens.create(keyring.data_key(), new).await?;
        let event =
            AuditEvent::admin_token_created(by, &record.id, &record.name, record.expires_at, ctx);
        if let Err(e) = self.audit.append(event).await {
            self.tokens.revoke(keyring.data_key(), &record.id).await?;
            return Err(e.into());
        }
        Ok((plain, record))
    }

    /// Every admin token's metadata (admin), oldest first.
    pub async fn admin_tokens(&self) -> Result<Vec<TokenRecord>, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self
            .tokens
            .list(keyring.data_key(), Some(TokenKind::Admin))
            .await?)
    }

    /// Revokes an admin token by id; `None` when there is no such admin
    /// token; [`AdminTokenError::LastAdmin`] when no other valid one would
    /// remain.
    pub async fn revoke_admin_token(
        &self,
        by: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<Option<TokenRecord>, AdminTokenError> {
        let keyring = self.vault.keyring().map_err(ServiceError::from)?;
        match self.tokens.revoke_admin(keyring.data_key(), id).await {
            Ok(Some(record)) => {
                self.record_done(AuditEvent::admin_token_revoked(by, id, ctx))
                    .await;
                Ok(Some(record))
            }
            Ok(None) => Ok(None),
            Err(RevokeAdminError::LastAdmin) => Err(AdminTokenError::LastAdmin),
            Err(RevokeAdminError::Store(e)) => Err(ServiceError::from(e).into()),
        }
    }
}
