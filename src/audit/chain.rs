//! The hash chain: each record's `hash` is HMAC-SHA256 under the audit key
//! of its canonical bytes (every field but `hash`, `prev` included), and its
//! `prev` is the previous record's `hash`. Without the key nobody can edit,
//! drop, insert or reorder a record without verification naming it.
//!
//! Canonical bytes: `zoho-vault audit v1\n` followed by the compact JSON of
//! the record without `hash`, fields in declaration order, details sorted by
//! key. A truncated tail cannot be told from a shorter trail by the chain
//! alone: compare the reported head with the live `GET /v1/audit/verify`.

use std::collections::HashSet;

use serde::Serialize;

use super::event::{AuditEvent, AuditRecord};
use super::keys::Checkpoint;
use super::store::AuditStore;
use super::AuditError;
use crate::crypto::keys::SubKey;
use crate::vault::Keyring;

/// WARNING: part of every hash; never change.
const DOMAIN: &[u8] = b"zoho-vault audit v1\n";
/// Records read per scan while verifying the store.
const PAGE: usize = 4096;

/// A key that can MAC audit records: the keyring's audit subkey.
pub trait ChainKey: Send + Sync {
    /// HMAC-SHA256 under the audit key.
    fn chain_mac(&self, data: &[u8]) -> [u8; 32];
}

impl ChainKey for SubKey {
    fn chain_mac(&self, data: &[u8]) -> [u8; 32] {
        self.mac(data)
    }
}

impl ChainKey for Keyring {
    fn chain_mac(&self, data: &[u8]) -> [u8; 32] {
        self.audit_key().mac(data)
    }
}

/// The hash a record must carry.
pub fn compute_hash(key: &dyn ChainKey, record: &AuditRecord) -> String {
    let mut bytes = DOMAIN.to_vec();
    // Serialising plain strings, integers and a BTreeMap cannot fail.
    bytes.extend(serde_json::to_vec(&record.hashed_part()).unwrap_or_default());
    hex::encode(key.chain_mac(&bytes))
}

/// Sequences and chains one event.
pub fn chain_event(key: &dyn ChainKey, seq: u64, event: AuditEvent, prev: String) -> AuditRecord {
    let mut record = AuditRecord::unhashed(seq, event, prev);
    record.hash = compute_hash(key, &record);
    record
}

/// What is wrong with the first broken record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Its contents do not match its hash.
    Edited,
    /// One or more records before it are gone.
    Missing,
    /// It is out of sequence order (moved or duplicated).
    Reordered,
    /// Its `prev` is not the previous record's hash.
    BadLink,
    /// It cannot be parsed.
    Unreadable,
}

/// The first broken record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Broken {
    /// The sequence number concerned (the missing one for `missing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// 1-based line of an export file, when verifying one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong.
    pub problem: Problem,
    /// A sentence for humans.
    pub message: String,
}

/// `GET /v1/audit/verify` and `POST /v1/audit/verify-export`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Every record checked out.
    pub ok: bool,
    /// Records verified (before the break, if any).
    pub count: u64,
    /// Where the chain starts: genesis (seq 0), a prune checkpoint, or for
    /// an export not starting at seq 1 its first record's `prev`.
    pub anchor: Checkpoint,
    /// Last verified record's seq (the anchor's when none).
    pub head_seq: u64,
    /// Last verified record's hash.
    pub head_hash: String,
    /// The first broken record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken: Option<Broken>,
}

/// Walks records in order and stops at the first break.
pub struct Verifier<'k> {
    key: &'k dyn ChainKey,
    anchor: Checkpoint,
    head: Checkpoint,
    count: u64,
    broken: Option<Broken>,
}

impl<'k> Verifier<'k> {
    /// Starts after `anchor`.
    pub fn new(key: &'k dyn ChainKey, anchor: Checkpoint) -> Self {
        Self {
            key,
            head: anchor.clone(),
            anchor,
            count: 0,
            broken: None,
        }
    }

    /// Whether a break was found.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Records a break (e.g. an unreadable line).
    pub fn fail(
        &mut self,
        seq: Option<u64>,
        line: Option<usize>,
        problem: Problem,
        message: String,
    ) {
        if self.broken.is_none() {
            self.broken = Some(Broken {
                seq,
                line,
                problem,
                message,
            });
        }
    }

    /// Checks the next record. `elsewhere(seq)` says whether a record with
    /// that seq exists at another position (tells reordered from missing).
    pub fn push(
        &mut self,
        record: &AuditRecord,
        line: Option<usize>,
        elsewhere: &dyn Fn(u64) -> bool,
    ) {
        if self.is_broken() {
            return;
        }
        let expected = self.head.seq.saturating_add(1);
        if record.seq != expected {
            let (seq, problem, message) = if record.seq < expected || elsewhere(expected) {
                (
                    record.seq,
                    Problem::Reordered,
                    format!(
                        "event {} appears where event {expected} was expected",
                        record.seq
                    ),
                )
            } else {
                let last = record.seq - 1;
                let gap = if last == expected {
                    format!("event {expected} is missing")
                } else {
                    format!("events {expected} to {last} are missing")
                };
                (
                    expected,
                    Problem::Missing,
                    format!("{gap} (found {} next)", record.seq),
                )
            };
            return self.fail(Some(seq), line, problem, message);
        }
        if compute_hash(self.key, record) != record.hash {
            return self.fail(
                Some(record.seq),
                line,
                Problem::Edited,
                format!(
                    "event {} was edited: its hash does not match its contents",
                    record.seq
                ),
            );
        }
        if record.prev != self.head.hash {
            return self.fail(
                Some(record.seq),
                line,
                Problem::BadLink,
                format!(
                    "event {}'s prev does not match event {}'s hash",
                    record.seq, self.head.seq
                ),
            );
        }
        self.head = Checkpoint {
            seq: record.seq,
            hash: record.hash.clone(),
        };
        self.count += 1;
    }

    /// The report.
    pub fn finish(self) -> VerifyReport {
        VerifyReport {
            ok: self.broken.is_none(),
            count: self.count,
            anchor: self.anchor,
            head_seq: self.head.seq,
            head_hash: self.head.hash,
            broken: self.broken,
        }
    }
}

/// Verifies the whole stored chain from the checkpoint on: the checkpoint's
/// signature, then every event in order. Stored data that cannot be read
/// is reported as `unreadable`, with the seq it should hold and where.
pub async fn verify_store(
    store: &dyn AuditStore,
    key: &dyn ChainKey,
) -> Result<VerifyReport, AuditError> {
    let checkpoint = store.checkpoint().await?;
    let anchor = checkpoint
        .as_ref()
        .map_or_else(Checkpoint::genesis, |c| c.anchor());
    let mut verifier = Verifier::new(key, anchor.clone());
    if let Some(c) = checkpoint.filter(|c| !c.is_valid(key)) {
        verifier.fail(
            Some(c.seq),
            None,
            Problem::Edited,
            "the prune checkpoint was edited: its signature does not match".into(),
        );
        return Ok(verifier.finish());
    }
    let mut start = anchor.seq.saturating_add(1);
    loop {
        let page = match store.scan(start, PAGE).await {
            Ok(page) => page,
            Err(AuditError::Damaged { seq, message }) => {
                // Verify what precedes the damage, then name it.
                let readable = seq.map_or(0, |s| s.saturating_sub(start));
                if readable > 0 {
                    let before = store.scan(start, readable as usize).await?;
                    push_page(&mut verifier, &before);
                }
                verifier.fail(seq, None, Problem::Unreadable, message);
                break;
            }
            Err(e) => return Err(e),
        };
        let full = page.len() == PAGE;
        push_page(&mut verifier, &page);
        match page.last() {
            Some(last) if full && !verifier.is_broken() => start = last.seq.saturating_add(1),
            _ => break,
        }
    }
    Ok(verifier.finish())
}

/// Checks one page of stored records in order; a seq found elsewhere in
/// the page tells a reordered record from a missing one.
fn push_page(verifier: &mut Verifier<'_>, page: &[AuditRecord]) {
    let seqs: HashSet<u64> = page.iter().map(|r| r.seq).collect();
    let elsewhere = |s: u64| seqs.contains(&s);
    for record in page {
        verifier.push(record, None, &elsewhere);
        if verifier.is_broken() {
            return;
        }
    }
}

/// Verifies an export: JSON lines, one record each, in order. The anchor
/// is genesis when the first record is seq 1, else the first record's
/// `prev` (an export made after a prune).
pub fn verify_lines(text: &str, key: &dyn ChainKey) -> VerifyReport {
    let mut parsed: Vec<(usize, Result<AuditRecord, String>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        parsed.push((i + 1, serde_json::from_str(line).map_err(|e| e.to_string())));
    }
    let seqs: HashSet<u64> = parsed
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|r| r.seq))
        .collect();
    let anchor = match parsed.first() {
        Some((_, Ok(first))) if first.seq > 1 => Checkpoint {
            seq: first.seq - 1,
            hash: first.prev.clone(),
        },
        _ => Checkpoint::genesis(),
    };
    let mut verifier = Verifier::new(key, anchor);
    let elsewhere = |s: u64| seqs.contains(&s);
    for (line, record) in &parsed {
        match record {
            Ok(r) => verifier.push(r, Some(*line), &elsewhere),
            Err(_) => verifier.fail(
                None,
                Some(*line),
                Problem::Unreadable,
                format!("line {line} is not an audit record: it was edited"),
            ),
        }
        if verifier.is_broken() {
            break;
        }
    }
    verifier.finish()
}
