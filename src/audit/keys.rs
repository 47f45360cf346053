//! Key layout of the audit trees.
//!
//! - `audit`: `seq` as 8 big-endian bytes → the record's JSON, so a range
//!   scan walks the trail in order (sled keys sort bytewise).
//! - `audit_index`: `<field>\0<value>\0<seq BE>` → empty, one entry per
//!   indexed field of a record: `c` connection, `a` actor, `k` action, `f`
//!   token fingerprint. A query for one value scans only its prefix. The
//!   checkpoint left by a prune lives at [`CHECKPOINT_KEY`].
//! - `audit_pending`: a big-endian counter → an unchained event's JSON,
//!   written while sealed and moved into the chain at the next unseal.
//!
//! WARNING: part of the on-disk format; never change a field letter.

use serde::{Deserialize, Serialize};

use super::event::AuditRecord;

/// Where the prune checkpoint is kept in `audit_index`. Starts with `m`, a
/// letter no index field uses.
pub const CHECKPOINT_KEY: &[u8] = b"m\0checkpoint";

/// An indexed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The connection name.
    Connection,
    /// The actor.
    Actor,
    /// The action name.
    Action,
    /// The issued token's fingerprint.
    Fingerprint,
}

impl Field {
    const fn letter(self) -> u8 {
        match self {
            Field::Connection => b'c',
            Field::Actor => b'a',
            Field::Action => b'k',
            Field::Fingerprint => b'f',
        }
    }
}

/// The chain's anchor: the last pruned event (or seq 0 and 64 zeros).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// Sequence number of the last event covered.
    pub seq: u64,
    /// Its hash (the `prev` of the next event).
    pub hash: String,
}

impl Checkpoint {
    /// The start of an unpruned trail.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.into(),
        }
    }
}

/// `prev` of the very first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key of event `seq`.
pub fn seq_key(seq: u64) -> Vec<u8> {
    seq.to_be_bytes().to_vec()
}

/// Parses an 8-byte big-endian key.
pub fn parse_seq(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

/// `<letter>\0<value>\0`: every index entry of `value`.
pub fn index_prefix(field: Field, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(value.len() + 12);
    key.push(field.letter());
    key.push(0);
    key.extend_from_slice(value.as_bytes());
    key.push(0);
    key
}

/// The index entry of `value` for event `seq`.
pub fn index_key(field: Field, value: &str, seq: u64) -> Vec<u8> {
    let mut key = index_prefix(field, value);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Every indexed (field, value) of a record. Values holding a NUL byte are
/// not indexed (they would blur a prefix); none of ours can.
pub fn indexed_values(record: &AuditRecord) -> Vec<(Field, &str)> {
    let mut fields = vec![
        (Field::Actor, record.actor.as_str()),
        (Field::Action, record.action.as_str()),
    ];
    if let Some(c) = &record.connection {
        fields.push((Field::Connection, c));
    }
    if let Some(fp) = record.fingerprint() {
        fields.push((Field::Fingerprint, fp));
    }
    fields.retain(|(_, v)| !v.as_bytes().contains(&0));
    fields
}

/// Every index key of a record (the previous release's layout).
pub fn index_keys(record: &AuditRecord) -> Vec<Vec<u8>> {
    indexed_values(record)
        .into_iter()
        .map(|(f, v)| index_key(f, v, record.seq))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_keys_sort_numerically() {
        assert!(seq_key(255) < seq_key(256));
        assert_eq!(parse_seq(&seq_key(42)), Some(42));
        assert!(index_key(Field::Connection, "a", 9) < index_key(Field::Connection, "a", 10));
        assert!(
            index_key(Field::Connection, "a", 9).starts_with(&index_prefix(Field::Connection, "a"))
        );
        assert!(!index_key(Field::Connection, "ab", 1)
            .starts_with(&index_prefix(Field::Connection, "a")));
    }
}
