//! Connection administration through the facade: create, authorize,
//! show, list and delete, each audited.

use crate::audit::{AuditEvent, CreateMethod, RequestContext};

use crate::auth::Principal;
use crate::connections::redirect::{Authorization, CallbackError, CallbackParams, Connected};
use crate::connections::upload::UploadRequest;
use crate::connections::Uploaded;
use crate::model::connection::{ConnectionView, HealthState, Source};
use crate::model::ConnectionName;

use super::*;

impl VaultService {
    /// Uploads a connection (admin), or replaces the credentials of one
    /// that needs re-authorisation.
    pub async fn create_connection(
        &self,
        by: &Principal,
        name: &ConnectionName,
        req: UploadRequest,
        ctx: &RequestContext,
    ) -> Result<Uploaded, ServiceError> {
        let keyring = self.vault.keyring()?;
        let uploaded = self.connections.create(&keyring, name, req).await?;
        let view = &uploaded.view;
        if view.health.state == HealthState::PendingAuthorization {
            // Nothing is connected yet: `connection_created` (method
            // `redirect`) is recorded when the browser flow finishes.
            return Ok(uploaded);
        }
        let method = match view.source {
            Source::SelfClient => CreateMethod::Exchange,
            Source::RefreshToken => CreateMethod::Import,
            Source::Redirect => CreateMethod::Redirect,
        };
        let dc = view.data_center.map_or("custom", |dc| dc.code());
        let event = AuditEvent::connection_created(by, name, method, dc, ctx);
        if uploaded.replaced {
            // The dead credentials are gone and the new ones already
            // handed to Zoho: like a delete, the replace cannot be undone,
            // so its event is recorded after the fact.
            self.record_done(event.replacing("needs_reauth")).await;
            return Ok(uploaded);
        }
        if let Err(e) = self.audit.append(event).await {
            // Acknowledged means audited: without its event the connection
            // is removed again and the caller told 503.
            self.undo_create(&keyring, name, method).await;
            return Err(e.into());
        }
        Ok(uploaded)
    }

    /// Removes a connection whose creation could not be audited. A refresh
    /// token the vault minted from a spent code is revoked at Zoho first
    /// (nobody else holds it); an imported one is left alive for its owner
    /// to upload again.
    async fn undo_create(
        &self,
        keyring: &crate::vault::Keyring,
        name: &ConnectionName,
        method: CreateMethod,
    ) {
        let revoke = matches!(method, CreateMethod::Exchange);
        let mut undone = self.connections.delete(keyring, name, revoke).await;
        if revoke && undone.is_err() {
            undone = self.connections.delete(keyring, name, false).await;
        }
        if let Err(e) = undone {
            tracing::error!(error = %e, connection = %name, "a connection whose creation could not be audited could not be removed either");
        }
    }

    /// Starts the browser redirect flow for a connection (admin): answers
    /// Zoho's consent URL with a fresh single-use state.
    pub async fn authorize_connection(
        &self,
        by: &Principal,
        name: &ConnectionName,
    ) -> Result<Authorization, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self
            .connections
            .start_authorization(&keyring, name, by)
            .await?)
    }

    /// Finishes the browser redirect flow from Zoho's callback (no bearer:
    /// the state is the credential). On success the connection is active
    /// and `connection_created` (method `redirect`, actor: the admin who
    /// asked for the link) is recorded after the fact, like other admin
    /// actions whose effect cannot be undone.
    pub async fn finish_authorization(
        &self,
        params: CallbackParams,
        ctx: &RequestContext,
    ) -> Result<Connected, CallbackError> {
        let keyring = self.vault.keyring().map_err(|_| CallbackError::Sealed)?;
        let connected = self
            .connections
            .finish_authorization(&keyring, params)
            .await?;
        let dc = connected.data_center.map_or("custom", |dc| dc.code());
        let event = AuditEvent::connection_created(
            &connected.by,
            &connected.name,
            CreateMethod::Redirect,
            dc,
            ctx,
        );
        self.record_done(event).await;
        Ok(connected)
    }

    /// One connection's metadata (admin).
    pub async fn connection(&self, name: &ConnectionName) -> Result<ConnectionView, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self.connections.get(&keyring, name).await?)
    }

    /// Every connection's metadata (admin).
    pub async fn connections(&self) -> Result<Vec<ConnectionView>, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self.connections.list(&keyring).await?)
    }

    /// Revokes upstream (unless told not to) and forgets a connection.
    pub async fn delete_connection(
        &self,
        by: &Principal,
        name: &ConnectionName,
        revoke: bool,
        ctx: &RequestContext,
    ) -> Result<bool, ServiceError> {
        let keyring = self.vault.keyring()?;
        let revoked = self.connections.delete(&keyring, name, revoke).await?;
        self.record_done(AuditEvent::connection_deleted(by, name, revoked, ctx))
            .await;
        Ok(revoked)
    }
}
