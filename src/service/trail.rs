//! Every audited action that is not a connection or token operation:
//! reading, verifying, exporting and pruning the audit trail, recording
//! access denials, rekey and the offline backup. Callers (routes, the CLI)
//! go through these methods instead of writing events themselves, so the
//! "audit first, fail closed" rule lives in [`VaultService::audit_first`].

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::audit::{
    verify_export, AuditAction, AuditError, AuditEvent, AuditRecord, ChainKey, Checkpoint, Page,
    Query, ReadKind, RequestContext, VerifyReport,
};
use crate::auth::Principal;
use crate::backup::{self, BackupError, BackupKey};
use crate::model::ConnectionName;
use crate::vault::VaultError;

use super::{ServiceError, VaultService};

impl VaultService {
    /// Fail closed: the event is durable before the action it records
    /// runs; if it cannot be written the action does not happen.
    pub(super) async fn audit_first(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.audit.append(event).await.map(|_| ())
    }

    /// Whether the vault has been initialised.
    pub async fn is_initialized(&self) -> Result<bool, VaultError> {
        self.vault.is_initialized().await
    }

    /// Whether the keys are out of memory.
    pub fn is_sealed(&self) -> bool {
        self.vault.is_sealed()
    }

    /// `Err(Sealed)` unless the keys are in memory.
    pub fn require_unsealed(&self) -> Result<(), VaultError> {
        self.vault.keyring().map(|_| ())
    }

    /// Makes everything written so far durable (at shutdown).
    pub async fn flush_store(&self) -> Result<(), crate::store::StoreError> {
        self.vault.store().flush().await
    }

    /// Records a refused request (401/403). The refusal stands whether or
    /// not its event is written; a failure is logged. An anonymous one may
    /// only be counted (see [`crate::audit::DenialThrottle`]). `connection`
    /// is the connection the refused route names, if any.
    pub async fn record_denial(
        &self,
        status: u16,
        code: &str,
        who: Option<&Principal>,
        connection: Option<&ConnectionName>,
        route: &str,
        ctx: &RequestContext,
    ) {
        // Anonymous denials from one address: the first few per window
        // are written, the rest counted into one summary.
        if let (None, Some(source)) = (who, ctx.source.as_deref()) {
            if !self.admit_denial(source).await {
                return;
            }
        }
        let event = AuditEvent::access_denied(
            status,
            code,
            who,
            connection.map(ConnectionName::as_str),
            route,
            ctx,
        );
        if let Err(e) = self.audit.append(event).await {
            tracing::error!(error = %e, status, "cannot record an access denial in the audit trail");
        }
    }

    /// Records an admin action that was refused (`action` is what was
    /// attempted; `code` the error code of the answer). Every refused
    /// mutation of the vault's state by an authenticated admin goes
    /// through here, whatever layer refused it (the request's shape, the
    /// name, the vault, Zoho). The refusal stands whether or not its event
    /// is written: nothing happened, so there is nothing to hand out or
    /// undo, and a success must never be answered for it. A failure to
    /// write is logged at ERROR level.
    pub async fn record_refusal(
        &self,
        action: AuditAction,
        by: &Principal,
        connection: Option<&str>,
        status: u16,
        code: &str,
        ctx: &RequestContext,
    ) {
        let event = AuditEvent::admin_refused(action, by, connection, status, code, ctx);
        if let Err(e) = self.audit.append(event).await {
            tracing::error!(error = %e, %action, code, "an admin action was refused and its audit event could not be written");
        }
    }

    /// Records that `by` reads the trail (fail closed: no event, no read).
    pub async fn audit_read(
        &self,
        by: &Principal,
        kind: ReadKind,
        filter: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.vault.keyring()?;
        // What a reader sees includes the proxied calls answered so far.
        self.flush_proxy_completions().await;
        self.audit_first(AuditEvent::audit_read(by, kind, filter, ctx))
            .await?;
        Ok(())
    }

    /// One page of events (after [`Self::audit_read`]).
    pub async fn audit_query(&self, query: Query) -> Result<Page, ServiceError> {
        Ok(self.audit.query(query).await?)
    }

    /// Verifies the stored chain with the vault's key (after
    /// [`Self::audit_read`]).
    pub async fn audit_verify(&self) -> Result<VerifyReport, ServiceError> {
        let keyring = self.vault.keyring()?;
        Ok(self.audit.verify(keyring).await?)
    }

    /// Verifies an uploaded export with the vault's key, off the async
    /// workers (after [`Self::audit_read`]).
    pub async fn audit_verify_export(&self, text: String) -> Result<VerifyReport, ServiceError> {
        let key: Arc<dyn ChainKey> = self.vault.keyring()?;
        tokio::task::spawn_blocking(move || verify_export(&text, key.as_ref()))
            .await
            .map_err(|_| ServiceError::Audit(AuditError::Store("the verify task failed".into())))
    }

    /// One export page (after [`Self::audit_read`]).
    pub async fn audit_export_page(
        &self,
        after: Option<u64>,
        until: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, Option<u64>), ServiceError> {
        Ok(self.audit.export_page(after, until, limit).await?)
    }

    /// The audit fingerprint of a token (after [`Self::audit_read`]).
    pub fn fingerprint(&self, token: &SecretString) -> Result<String, ServiceError> {
        Ok(self.vault.keyring()?.fingerprint(token.expose_secret()))
    }

    /// Prunes the trail up to `until` for `by`: audited first (the event
    /// lands after `until`, so the prune never removes its own record).
    pub async fn audit_prune(
        &self,
        by: &Principal,
        until: u64,
        ctx: &RequestContext,
    ) -> Result<Checkpoint, ServiceError> {
        self.audit_first(AuditEvent::audit_pruned(by, until, ctx))
            .await?;
        Ok(self.audit.prune(until).await?)
    }

    /// Test knob: the next `n` audit writes fail.
    pub fn audit_inject_write_failures(&self, n: u64) {
        self.audit.inject_write_failures(n);
    }

    /// Re-wraps the data key under a new passphrase (offline, sealed) and
    /// records the attempt, whatever its outcome (sealed: the event waits in
    /// the pending tree until the next unseal). Answers the rekey's outcome
    /// and, separately, whether its event could be written: the rekey
    /// cannot be undone, so a lost event is a warning, not a failure.
    pub async fn rekey(
        &self,
        old: SecretString,
        new: SecretString,
    ) -> (Result<(), VaultError>, Result<(), AuditError>) {
        let result = self.vault.rekey(old, new, self.settings.kdf).await;
        let failure = match &result {
            Ok(()) => None,
            Err(VaultError::WrongPassphrase) => Some("wrong_passphrase"),
            Err(_) => Some("error"),
        };
        let event = AuditEvent::rekey(failure, &RequestContext::local());
        let recorded = self.audit.append(event).await.map(|_| ());
        (result, recorded)
    }

    /// Writes a backup of the whole store to `out` with the service
    /// stopped (offline): audited first like the online backup (sealed
    /// here, so the event waits in the pending tree, and is in this backup).
    /// `create` opens the output file once the event is durable.
    pub async fn backup_offline(
        &self,
        passphrase: SecretString,
        create: impl FnOnce() -> std::io::Result<std::fs::File>,
    ) -> Result<(), OfflineBackupError> {
        if !self.vault.is_initialized().await? {
            return Err(VaultError::NotInitialized.into());
        }
        // The trailer's MAC needs the data key; a wrong passphrase stops
        // here, before anything is recorded or written.
        let key = BackupKey::derive(&self.vault.data_key_with(passphrase).await?);
        self.audit_first(AuditEvent::backup_taken(None, &RequestContext::local()))
            .await?;
        let out = create().map_err(OfflineBackupError::Create)?;
        let store = Arc::clone(self.vault.store().blocking());
        let audit = self.audit_files.clone();
        tokio::task::spawn_blocking(move || -> Result<(), BackupError> {
            let mut out = std::io::BufWriter::new(out);
            backup::write_backup(store.as_ref(), audit.as_deref(), &key, &mut out)?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok(())
        })
        .await
        .map_err(|_| BackupError::Io(std::io::Error::other("the backup task failed")))??;
        Ok(())
    }
}

/// An offline backup failed.
#[derive(Debug, thiserror::Error)]
pub enum OfflineBackupError {
    /// No vault, or the store failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The event could not be written: nothing was backed up.
    #[error("the backup could not be recorded in the audit trail; nothing was backed up: {0}")]
    Audit(#[from] AuditError),
    /// The output file could not be created.
    #[error("cannot create the backup file: {0}")]
    Create(std::io::Error),
    /// Writing the file failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
}
