//! Online backups: audited first (fail closed), then streamed from the
//! blocking pool. The format and its caveats are in [`crate::backup`].

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::audit::{AuditEvent, RequestContext};
use crate::auth::Principal;
use crate::backup::{self, BackupKey};

use super::{ServiceError, VaultService};

/// The chunks of a backup being taken; see [`backup::spawn_stream`].
pub type BackupStream = mpsc::Receiver<std::io::Result<Vec<u8>>>;

impl VaultService {
    /// Starts a backup of the whole store for `by` (admin, unsealed). Fails
    /// closed: the `backup_taken` event is durable before the first byte
    /// is read, and if it cannot be written nothing is backed up
    /// ([`ServiceError::Audit`], 503). The event is in the backup.
    pub async fn backup(
        &self,
        by: &Principal,
        ctx: &RequestContext,
    ) -> Result<BackupStream, ServiceError> {
        let key = BackupKey::derive(self.vault.keyring()?.data_key());
        self.audit
            .append(AuditEvent::backup_taken(Some(by), ctx))
            .await?;
        Ok(backup::spawn_stream(
            Arc::clone(self.vault.store().blocking()),
            self.audit_files.clone(),
            key,
        ))
    }
}
