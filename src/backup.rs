//! Backup and restore of the store, still encrypted.
//!
//! A backup is every entry of every tree as it is on disk: sealed records
//! stay sealed, the vault header keeps the data key wrapped, so a backup is
//! exactly as safe as the data directory and needs the same passphrase (the
//! one the vault had when the backup was taken; a later `rekey` does not
//! change what an older backup needs).
//!
//! Format (JSON lines, one object per line):
//!
//! ```text
//! {"format":"zoho-vault-backup","version":2,"created_at":"…","vault_version":"…"}
//! {"t":"connections","k":"<base64>","v":"<base64>"}
//! …
//! {"head":{"seq":S,"hash":"<hex>"}}
//! {"end":{"entries":N,"mac":"<hex HMAC-SHA256 of every line before this one, newlines included>"}}
//! ```
//!
//! The head line is the audit chain's head at backup time (the last event
//! in the file); the reader refuses a file whose trail does not reach it.
//! The trailer is a MAC under a key derived from the data key
//! ([`BackupKey`]), so only the vault can make one: a file edited or cut
//! short cannot be given a matching trailer. Checking the MAC needs the
//! passphrase (the file's own vault header unwraps the data key); the
//! structural checks (count, head, lines) do not. Version 1 files (a plain
//! SHA-256 trailer, which anyone can recompute) are refused by name.
//!
//! [`verify`] reads a whole file without writing, and [`restore_backup`]
//! writes into a store only if it is empty, holds the vault header back
//! until the trailer has checked out, and removes what it wrote when the
//! file turns out bad. A store interrupted mid-restore therefore never
//! looks like a vault.
//!
//! Reading and writing stream: memory stays bounded by a scan page (and,
//! for [`spawn_stream`], a few chunks), whatever the size of the store.
//!
//! Caveat: a backup of a running vault ([`spawn_stream`]) is not a
//! point-in-time snapshot (sled 0.34 has none). Each record is whole, and
//! the audit trail in it is an unbroken prefix of the live one, but a token
//! created or revoked, or a connection changed, while the backup runs may
//! or may not be in it. For an exact copy, back up offline.

mod format;
mod mac;
mod reader;
mod source;
mod writer;

use serde::Serialize;
use time::OffsetDateTime;

use crate::audit::keys::Checkpoint;
use crate::store::StoreError;

pub use mac::BackupKey;
pub use reader::{restore_backup, vault_header, verify};
pub use source::{AuditSource, TrailReader};
pub use writer::{spawn_stream, write_backup};

/// What a backup or restore covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Entries written, checked or restored.
    pub entries: u64,
    /// When the backup was taken (its header).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The audit chain's head at backup time (`None`: an empty trail).
    pub head: Option<Checkpoint>,
}

/// Backup and restore failures.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing the file failed.
    #[error("backup file I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a complete zoho-vault backup.
    #[error("not a valid zoho-vault backup: {0}")]
    Invalid(String),
    /// A format version this release no longer restores.
    #[error("this is a version {0} backup (written by zoho-vault 0.1): its plain SHA-256 trailer cannot prove the vault wrote it, so this release does not restore it; restore it with zoho-vault 0.1 and take a new backup (see docs/migration.md)")]
    OldVersion(u32),
    /// The trailer's MAC does not match: edited, cut short, or not from
    /// this vault.
    #[error("the backup's MAC does not match: the file was edited or cut short, or was not written by the vault whose header it holds")]
    Forged,
    /// The audit trail in the file stops before the head recorded at
    /// backup time.
    #[error("the audit trail in the backup ends at event {reached}, but the backup recorded its head at event {head}: events were dropped or edited")]
    TrailCut {
        /// The last event in the file.
        reached: u64,
        /// The head recorded at backup time.
        head: u64,
    },
    /// The target is not empty: it holds a vault, or what an interrupted
    /// restore left behind.
    #[error("the target data directory is not empty (it holds a vault, or the remains of an interrupted restore); restore only into an empty one")]
    TargetNotEmpty,
}

/// The file name a backup taken at `at` is offered under:
/// `zoho-vault-20250131T100304Z.backup` (UTC).
pub fn file_name(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "zoho-vault-{:04}{:02}{:02}T{:02}{:02}{:02}Z.backup",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests;
