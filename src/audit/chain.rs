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
use std::sync::Arc;

mod fast;
mod hash;
mod sweep;

use serde::Serialize;

use super::event::AuditRecord;
use super::keys::Checkpoint;
use super::store::AuditStore;
use super::AuditError;

/// Records read per scan while verifying the store (small in tests, so a
/// short trail already spans pages read ahead).
pub(super) const PAGE: usize = if cfg!(test) { 512 } else { 4096 };

pub use hash::{chain_event, chain_event_with, compute_hash, ChainKey, RecordHasher};

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
    hasher: RecordHasher<'k>,
    anchor: Checkpoint,
    head: Checkpoint,
    count: u64,
    broken: Option<Broken>,
}

impl<'k> Verifier<'k> {
    /// Starts after `anchor`.
    pub fn new(key: &'k dyn ChainKey, anchor: Checkpoint) -> Self {
        Self {
            hasher: RecordHasher::new(key),
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

    /// The last verified record (the anchor before any).
    pub(super) fn head(&self) -> &Checkpoint {
        &self.head
    }

    /// Moves past `count` records verified elsewhere as an unbroken run
    /// from the head to `head`.
    pub(super) fn advance(&mut self, count: u64, head: Checkpoint) {
        if !self.is_broken() && count > 0 {
            self.count += count;
            self.head = head;
        }
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
        let hash_ok = self.hasher.matches(record);
        self.push_checked(record, hash_ok, line, elsewhere);
    }

    /// [`Self::push`] for a record whose hash was already checked
    /// (`hash_ok`), e.g. on another thread.
    pub fn push_checked(
        &mut self,
        record: &AuditRecord,
        hash_ok: bool,
        line: Option<usize>,
        elsewhere: &dyn Fn(u64) -> bool,
    ) {
        self.push_link(
            &record.prev,
            &record.hash,
            record.seq,
            hash_ok,
            line,
            elsewhere,
        );
    }

    /// [`Self::push_checked`] for the parts of a record the links need.
    pub fn push_link(
        &mut self,
        prev: &str,
        hash: &str,
        seq: u64,
        hash_ok: bool,
        line: Option<usize>,
        elsewhere: &dyn Fn(u64) -> bool,
    ) {
        if self.is_broken() {
            return;
        }
        let expected = self.head.seq.saturating_add(1);
        if seq != expected {
            let (seq, problem, message) = if seq < expected || elsewhere(expected) {
                (
                    seq,
                    Problem::Reordered,
                    format!("event {seq} appears where event {expected} was expected"),
                )
            } else {
                let last = seq - 1;
                let gap = if last == expected {
                    format!("event {expected} is missing")
                } else {
                    format!("events {expected} to {last} are missing")
                };
                (
                    expected,
                    Problem::Missing,
                    format!("{gap} (found {seq} next)"),
                )
            };
            return self.fail(Some(seq), line, problem, message);
        }
        if !hash_ok {
            return self.fail(
                Some(seq),
                line,
                Problem::Edited,
                format!("event {seq} was edited: its hash does not match its contents"),
            );
        }
        if prev != self.head.hash {
            return self.fail(
                Some(seq),
                line,
                Problem::BadLink,
                format!(
                    "event {seq}'s prev does not match event {}'s hash",
                    self.head.seq
                ),
            );
        }
        // Reuses the head's buffer: no allocation per event.
        self.head.seq = seq;
        self.head.hash.clear();
        self.head.hash.push_str(hash);
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
///
/// Pages are read ahead while the previous one is hashed, and a page's
/// hashes are computed on every core (a record's hash depends only on its
/// own bytes; the links are then checked in order).
pub async fn verify_store(
    store: &dyn AuditStore,
    key: Arc<dyn ChainKey>,
) -> Result<VerifyReport, AuditError> {
    let checkpoint = store.checkpoint().await?;
    let anchor = checkpoint
        .as_ref()
        .map_or_else(Checkpoint::genesis, |c| c.anchor());
    let mut verifier = Verifier::new(key.as_ref(), anchor.clone());
    if let Some(c) = checkpoint.filter(|c| !c.is_valid(key.as_ref())) {
        verifier.fail(
            Some(c.seq),
            None,
            Problem::Edited,
            "the prune checkpoint was edited: its signature does not match".into(),
        );
        return Ok(verifier.finish());
    }
    let start = anchor.seq.saturating_add(1);
    if fast::verify_canonical(store, &key, &mut verifier, start).await? {
        return Ok(verifier.finish());
    }
    let mut start = verifier.head().seq.saturating_add(1);
    let mut scanned = store.scan(start, PAGE).await;
    loop {
        let page = match scanned {
            Ok(page) => page,
            Err(AuditError::Damaged { seq, message }) => {
                // Verify what precedes the damage, then name it.
                let readable = seq.map_or(0, |s| s.saturating_sub(start));
                if readable > 0 {
                    let before = store.scan(start, readable as usize).await?;
                    let (before, ok) = check_hashes(Arc::clone(&key), before).await?;
                    push_page(&mut verifier, &before, &ok);
                }
                verifier.fail(seq, None, Problem::Unreadable, message);
                break;
            }
            Err(e) => return Err(e),
        };
        let next = page
            .last()
            .filter(|_| page.len() == PAGE)
            .map(|last| last.seq.saturating_add(1));
        let hashing = check_hashes(Arc::clone(&key), page);
        let ((page, ok), following) = match next {
            Some(n) => {
                let (checked, following) = tokio::join!(hashing, store.scan(n, PAGE));
                (checked?, Some((n, following)))
            }
            None => (hashing.await?, None),
        };
        push_page(&mut verifier, &page, &ok);
        match following {
            Some((n, f)) if !verifier.is_broken() => {
                start = n;
                scanned = f;
            }
            _ => break,
        }
    }
    Ok(verifier.finish())
}

/// `check` over `items`, split into one run per core (at least 256 items
/// each): `ok[i]` for item `i`. A thread cannot panic on plain bytes; if
/// one did, its items count as unverified, never as good.
fn on_every_core<T: Sync>(items: &[T], check: impl Fn(&[T]) -> Vec<bool> + Sync) -> Vec<bool> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads.max(2)).max(256);
    let check = &check;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(chunk);
        let first = chunks.next();
        let others: Vec<_> = chunks.map(|c| scope.spawn(move || check(c))).collect();
        let mut ok = first.map(check).unwrap_or_default();
        for other in others {
            ok.extend(other.join().unwrap_or_default());
        }
        ok
    })
}

/// Whether each record's hash matches its contents, computed off the async
/// workers on every core.
async fn check_hashes(
    key: Arc<dyn ChainKey>,
    page: Vec<AuditRecord>,
) -> Result<(Vec<AuditRecord>, Vec<bool>), AuditError> {
    tokio::task::spawn_blocking(move || {
        let ok = on_every_core(&page, |records: &[AuditRecord]| {
            let mut hasher = RecordHasher::new(key.as_ref());
            records
                .iter()
                .map(|r| hasher.matches(r))
                .collect::<Vec<_>>()
        });
        (page, ok)
    })
    .await
    .map_err(|_| AuditError::Store("the audit verify task failed".into()))
}

/// Checks one page of stored records in order (`ok[i]`: record `i`'s hash
/// matches); a seq found elsewhere in the page tells a reordered record
/// from a missing one.
fn push_page(verifier: &mut Verifier<'_>, page: &[AuditRecord], ok: &[bool]) {
    // Asked only at a break: a scan then is cheaper than a set per page.
    let elsewhere = |s: u64| page.iter().any(|r| r.seq == s);
    for (i, record) in page.iter().enumerate() {
        let hash_ok = ok.get(i).copied().unwrap_or(false);
        verifier.push_checked(record, hash_ok, None, &elsewhere);
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
