//! Initialise, health, unseal and seal.

use crate::audit::{AuditEvent, RequestContext};
use secrecy::SecretString;

use crate::auth::Principal;
use crate::auth::{make_token, NewToken};
use crate::coord::Invalidation;
use crate::crypto::token::{PlainToken, TokenKind};
use crate::vault::{Unsealed, VaultError};

use super::*;

impl VaultService {
    /// Installs the keyring's audit key in the log, chaining every event
    /// recorded while sealed. A failure is logged: the events stay pending
    /// and are chained with the next append, which fails closed meanwhile.
    async fn activate_audit(&self) {
        if let Ok(keyring) = self.vault.keyring() {
            if let Err(e) = self.audit.activate(keyring).await {
                tracing::error!(error = %e, "cannot chain the pending audit events yet");
            }
        }
    }

    /// Initialises the vault and returns the first admin token, to be shown
    /// once. The vault is left unsealed.
    pub async fn initialize(&self, passphrase: SecretString) -> Result<PlainToken, VaultError> {
        let mut first = None;
        // Replicas that start with `serve --init` together must not both
        // write a header: the cluster-wide lease makes the vault's own
        // "already initialised" check and its write one step. (The name
        // cannot be a connection's.)
        let _one_init = self
            .coord
            .acquire_exclusive("#init")
            .await
            .map_err(|e| VaultError::Store(crate::store::StoreError::Backend(e.to_string())))?;
        self.vault
            .initialize(passphrase, self.settings.kdf, |keyring| {
                let (plain, _record, ops) = make_token(
                    keyring.data_key(),
                    NewToken {
                        kind: TokenKind::Admin,
                        name: FIRST_ADMIN_NAME.into(),
                        connections: Vec::new(),
                        ttl: None,
                        access: Default::default(),
                        proxy_paths: Vec::new(),
                    },
                )?;
                first = Some(plain);
                Ok(ops)
            })
            .await?;
        self.activate_audit().await;
        // The vault exists now whatever the trail says: recorded after the
        // fact (a failure is logged), so the first admin token is not lost.
        self.record_done(AuditEvent::vault_initialized(&RequestContext::local()))
            .await;
        first.ok_or(VaultError::CorruptHeader)
    }

    /// Health summary; works sealed.
    pub async fn health(&self) -> Result<Health, VaultError> {
        // A replica on a shared database is healthy only while it reaches
        // it: a load balancer then routes around it, and the error says
        // why. (The embedded store is in-process: nothing to probe.)
        if self.vault.store().backend() == crate::store::postgres::BACKEND {
            self.vault
                .store()
                .get(crate::store::Tree::Meta, b"header".to_vec())
                .await?;
        }
        Ok(Health {
            initialized: self.vault.is_initialized().await?,
            sealed: self.vault.is_sealed(),
            version: env!("CARGO_PKG_VERSION"),
            backend: self.vault.store().backend(),
            node: self.node.clone(),
            storage: self.disk_full().then_some("disk_full"),
        })
    }

    /// Unseals with the passphrase, from the host (no request context).
    pub async fn unseal(&self, passphrase: SecretString) -> Result<Unsealed, UnsealError> {
        self.unseal_from(passphrase, &RequestContext::local()).await
    }

    /// Unseals with the passphrase and audits the attempt. A success is
    /// acknowledged only once its event is durable (else the vault is
    /// sealed again and [`UnsealError::Audit`] returned); a failure's event
    /// goes to the pending tree and is chained at the next unseal.
    pub async fn unseal_from(
        &self,
        passphrase: SecretString,
        ctx: &RequestContext,
    ) -> Result<Unsealed, UnsealError> {
        match self.vault.unseal(passphrase, ctx.source.as_deref()).await {
            Ok(Unsealed::Now) => {
                self.activate_audit().await;
                if let Err(e) = self.audit.append(AuditEvent::unseal(None, ctx)).await {
                    self.audit.deactivate().await;
                    self.coord.publish(Invalidation::All);
                    self.vault.seal();
                    return Err(e.into());
                }
                Ok(Unsealed::Now)
            }
            Ok(Unsealed::Already) => Ok(Unsealed::Already),
            Err(VaultError::WrongPassphrase) => {
                let event = AuditEvent::unseal(Some("wrong_passphrase"), ctx);
                if let Err(e) = self.audit.append(event).await {
                    tracing::error!(error = %e, "cannot record a failed unseal in the audit trail");
                }
                Err(VaultError::WrongPassphrase.into())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Seals; admin only (checked by the caller's extractor). The seal
    /// event is awaited first, but sealing never waits on the audit trail
    /// failing: a failure is logged and the vault is sealed anyway.
    pub async fn seal(&self, by: &Principal, ctx: &RequestContext) -> bool {
        self.flush_proxy_completions().await;
        if let Err(e) = self.audit.append(AuditEvent::seal(by, ctx)).await {
            tracing::error!(error = %e, "cannot record the seal in the audit trail; sealing anyway");
        }
        self.audit.deactivate().await;
        self.coord.publish(Invalidation::All);
        self.tokens.forget_all_verified();
        // Sealed first, then the sessions ended: a login that raced the seal
        // either finds the vault sealed after starting its session (and ends
        // it) or started before this clears it.
        let sealed = self.vault.seal();
        self.sessions.end_all();
        sealed
    }
}
