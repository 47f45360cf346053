//! The lines of a backup file, as serialised.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::keys::Checkpoint;

pub(super) const FORMAT: &str = "zoho-vault-backup";
/// Version 2: MAC trailer and audit head line. Version 1 (a plain SHA-256
/// trailer) is refused: anyone could recompute it.
pub(super) const VERSION: u32 = 2;
/// Entries per scan page and per restore batch.
pub(super) const PAGE: usize = 1000;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Header {
    pub format: String,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub vault_version: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Entry {
    pub t: String,
    pub k: String,
    pub v: String,
}

/// The audit chain's head at backup time: the last event in the file (or
/// the prune checkpoint when there is none after it), `null` for an empty
/// trail.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeadLine {
    pub head: Option<Checkpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Trailer {
    pub end: End,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct End {
    pub entries: u64,
    /// HMAC-SHA256, hex, of every line before the trailer (newlines
    /// included) under the backup key.
    pub mac: String,
}

/// Only the version of a header, to name an old one.
#[derive(Deserialize)]
pub(super) struct AnyHeader {
    pub format: String,
    pub version: u32,
}

/// The chain position an audit entry's value carries (a stored event or
/// the prune checkpoint are both `{seq, hash, ...}` JSON).
#[derive(Deserialize)]
pub(super) struct Position {
    pub seq: u64,
    pub hash: String,
}

impl Position {
    /// The position in an `audit` or `audit_index` entry's value, if it is
    /// one.
    pub fn of(value: &[u8]) -> Option<Checkpoint> {
        serde_json::from_slice::<Position>(value)
            .ok()
            .map(|p| Checkpoint {
                seq: p.seq,
                hash: p.hash,
            })
    }
}
