//! The embedded audit storage engine: an append-only log of segment files
//! in `<data_dir>/audit-log/`, written by the group-commit writer and made
//! durable with one `fdatasync` per batch. See `docs/audit.md` (Storage).
//!
//! - [`record`]: the binary record encoding and its frame.
//! - [`canonical`]: the chain's hashed bytes written straight from a
//!   record's payload (verify's fast path).
//! - [`segment`]: segment files and reading frames.
//! - [`sweep`]: verify's bulk read of whole segments, cut into pages.
//! - [`engine`]: recovery, appends, reads and pruning ([`SegmentLog`]).
//! - [`query`]: filtered queries over the segments.
//! - [`checkpoint`]: the signed prune checkpoint.
//! - [`embedded`]: [`EmbeddedAuditStore`], the [`super::AuditStore`] of a
//!   single node, and the move of a previous release's events.

pub mod canonical;
pub mod checkpoint;
pub mod embedded;
pub mod engine;
pub mod query;
pub mod record;
pub mod segment;
pub mod sweep;

pub use checkpoint::SignedCheckpoint;
pub use embedded::{EmbeddedAuditStore, LOG_DIR};
pub use engine::{LogError, SegmentLog};

/// Where and why a stored record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Segment file name.
    pub segment: String,
    /// Byte offset of the record in it.
    pub offset: u64,
    /// The event that should be there, when known.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(
                f,
                "audit event {seq} is damaged: segment {} at byte offset {}: {}",
                self.segment, self.offset, self.reason
            ),
            None => write!(
                f,
                "the audit log is damaged: segment {} at byte offset {}: {}",
                self.segment, self.offset, self.reason
            ),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
