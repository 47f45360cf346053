//! Token issue (fail closed: no event, no token) and service tokens.

use secrecy::ExposeSecret;

use crate::audit::{AuditEvent, RequestContext, TokenSource};

use crate::auth::{AuthError, Principal};
use crate::auth::{NewToken, TokenAccess, TokenRecord};
use crate::broker::Issued;
use crate::connections::ConnectionError;
use crate::crypto::token::{PlainToken, TokenKind};
use crate::model::ConnectionName;

use super::*;

impl VaultService {
    /// Issues the connection's shared access token to `caller`. Fails
    /// closed: the token is returned only once its `token_issued` event
    /// (carrying the token's fingerprint, never the token) is durable.
    pub async fn issue_token(
        &self,
        caller: &Principal,
        name: &ConnectionName,
        min_valid_secs: Option<u64>,
        ctx: &RequestContext,
    ) -> Result<Issued, ServiceError> {
        let keyring = self.vault.keyring()?;
        if !caller.may_use(name) {
            return Err(AuthError::NotGranted(name.to_string()).into());
        }
        if !caller.may_fetch_tokens() {
            return Err(AuthError::ProxyOnly(name.to_string()).into());
        }
        let min_valid = self.broker.demand(min_valid_secs)?;
        let issued = match self.broker.issue(&keyring, name, min_valid).await {
            Ok(issued) => issued,
            Err(e) => {
                if let ConnectionError::NeedsReauth {
                    fresh: true, code, ..
                } = &e
                {
                    let event = AuditEvent::connection_needs_reauth(Some(caller), name, code, ctx);
                    self.record_done(event).await;
                }
                return Err(e.into());
            }
        };
        let source = if issued.refreshed {
            let event = AuditEvent::connection_refreshed(
                Some(caller),
                name,
                issued.expires_at,
                issued.rotated,
                ctx,
            );
            self.audit.append(event).await?;
            TokenSource::Refreshed
        } else {
            TokenSource::Cached
        };
        let fingerprint = keyring.fingerprint(issued.access_token.expose_secret());
        let event =
            AuditEvent::token_issued(caller, name, source, issued.expires_at, &fingerprint, ctx);
        self.audit.append(event).await?;
        let label = if issued.refreshed {
            "refreshed"
        } else {
            "cached"
        };
        self.metrics.token_issues.with_label_values(&[label]).inc();
        Ok(issued)
    }

    /// Creates a service token (admin); the plain token is returned once,
    /// and only after its creation is audited (else it is removed again).
    pub async fn create_service_token(
        &self,
        by: &Principal,
        name: String,
        connections: Vec<String>,
        ttl_secs: Option<u64>,
        access: (TokenAccess, Vec<String>),
        ctx: &RequestContext,
    ) -> Result<(PlainToken, TokenRecord), ServiceError> {
        let keyring = self.vault.keyring()?;
        let new = NewToken::service(name, connections, ttl_secs)
            .and_then(|n| n.with_access(access.0, access.1))
            .map_err(ServiceError::Invalid)?;
        let (plain, record) = self.tokens.create(keyring.data_key(), new).await?;
        let event = AuditEvent::service_token_created(
            by,
            &record.id,
            &record.name,
            &record.connections,
            record.expires_at,
            ctx,
        );
        if let Err(e) = self.audit.append(event).await {
            self.tokens.revoke(keyring.data_key(), &record.id).await?;
            return Err(e.into());
        }
        Ok((plain, record))
    }

    /// Every service token's metadata (admin).
    pub async fn service_tokens(&self) -> Result<Vec<TokenRecord>, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self
            .tokens
            .list(keyring.data_key(), Some(TokenKind::Service))
            .await?)
    }

    /// Revokes a service token by id; `None` when there is no such token.
    pub async fn revoke_service_token(
        &self,
        by: &Principal,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<Option<TokenRecord>, ServiceError> {
        let keyring = self.vault.keyring()?;
        match self.tokens.get_by_id(keyring.data_key(), id).await? {
            Some(r) if r.kind == TokenKind::Service => {
                let revoked = self.tokens.revoke(keyring.data_key(), id).await?;
                self.record_done(AuditEvent::service_token_revoked(by, id, ctx))
                    .await;
                Ok(revoked)
            }
            _ => Ok(None),
        }
    }

    /// Resolves a bearer token. Sealed vaults cannot check tokens.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, ServiceAuthError> {
        let keyring = self.vault.keyring()?;
        Ok(self.tokens.authenticate(keyring.data_key(), bearer).await?)
    }
}
