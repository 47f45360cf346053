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
//! {"format":"zoho-vault-backup","version":1,"created_at":"…","vault_version":"0.1.0"}
//! {"t":"connections","k":"<base64>","v":"<base64>"}
//! …
//! {"end":{"entries":N,"sha256":"<hex of every line before this one, newlines included>"}}
//! ```
//!
//! The trailer's count and checksum catch a truncated or edited file before
//! anything is restored: [`verify`] reads a whole file without writing, and
//! [`restore_backup`] writes into a store only if it is empty, holds the
//! vault header back until the trailer has checked out, and removes what it
//! wrote when the file turns out bad. A store interrupted mid-restore
//! therefore never looks like a vault.
//!
//! Reading and writing stream: memory stays bounded by a scan page (and,
//! for [`spawn_stream`], a few chunks), whatever the size of the store.
//!
//! Caveat: a backup of a running vault ([`spawn_stream`]) is not a
//! point-in-time snapshot (sled 0.34 has none). Each record is whole, and
//! the audit trail in it is an unbroken prefix of the live one, but a token
//! created or revoked, or a connection changed, while the backup runs may
//! or may not be in it. For an exact copy, back up offline.

use std::io::{BufRead, Read, Write};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::audit::keys::{seq_key, CHECKPOINT_KEY};
use crate::audit::log::{LogError, SegmentLog};
use crate::store::{BlockingStore, Op, Scan, StoreError, Tree};

const FORMAT: &str = "zoho-vault-backup";
const VERSION: u32 = 1;
/// Entries per scan page and per restore batch.
const PAGE: usize = 1000;
/// Longest line accepted when reading a backup. Sealed records are a few
/// KiB; the cap only stops a file with no newlines from filling memory.
const MAX_LINE: u64 = 16 * 1024 * 1024;
/// Bytes per chunk handed over by [`spawn_stream`].
const CHUNK: usize = 64 * 1024;
/// Chunks that may wait in [`spawn_stream`]'s channel before the backup
/// blocks (the backpressure bound).
const DEPTH: usize = 4;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    vault_version: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    t: String,
    k: String,
    v: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    end: End,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    entries: u64,
    sha256: String,
}

/// What a backup or restore covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Entries written, checked or restored.
    pub entries: u64,
    /// When the backup was taken (its header).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
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
    /// The target is not empty: it holds a vault, or what an interrupted
    /// restore left behind.
    #[error("the target data directory is not empty (it holds a vault, or the remains of an interrupted restore); restore only into an empty one")]
    TargetNotEmpty,
}

struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hash: Sha256,
}

impl<W: Write> HashingWriter<'_, W> {
    fn line<T: Serialize>(&mut self, value: &T) -> Result<(), BackupError> {
        let mut line =
            serde_json::to_vec(value).map_err(|e| BackupError::Invalid(e.to_string()))?;
        line.push(b'\n');
        self.hash.update(&line);
        self.inner.write_all(&line)?;
        Ok(())
    }
}

/// Writes every tree of `store`, and the events of the audit log `audit`,
/// to `out`. Blocking: run it off the async workers. Entries written while
/// the backup runs may or may not be in it.
///
/// The audit log's events and checkpoint are written as entries of the
/// `audit` and `audit_index` trees in the previous release's layout (seq →
/// event JSON; the checkpoint as JSON): the backup format is unchanged, and
/// a restored vault moves them into its log at the first unseal, like an
/// upgrade.
pub fn write_backup<W: Write>(
    store: &dyn BlockingStore,
    audit: Option<&SegmentLog>,
    out: &mut W,
) -> Result<Summary, BackupError> {
    let mut w = HashingWriter {
        inner: out,
        hash: Sha256::new(),
    };
    let created_at = OffsetDateTime::now_utc();
    w.line(&Header {
        format: FORMAT.into(),
        version: VERSION,
        created_at,
        vault_version: env!("CARGO_PKG_VERSION").into(),
    })?;
    let mut entries = 0u64;
    for tree in Tree::ALL {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let scan = Scan {
                tree,
                start: after
                    .take()
                    .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
                end: std::ops::Bound::Unbounded,
                reverse: false,
                limit: PAGE,
            };
            let page = store.scan(&scan)?;
            let full = page.len() == PAGE;
            for (k, v) in &page {
                w.line(&Entry {
                    t: tree.name().into(),
                    k: B64.encode(k),
                    v: B64.encode(v),
                })?;
                entries += 1;
            }
            match (full, page.into_iter().last()) {
                (true, Some((k, _))) => after = Some(k),
                _ => break,
            }
        }
        if let Some(log) = audit {
            entries += write_audit_log(&mut w, tree, log)?;
        }
    }
    let sha256 = hex::encode(w.hash.clone().finalize());
    w.line(&Trailer {
        end: End { entries, sha256 },
    })?;
    w.inner.flush()?;
    Ok(Summary {
        entries,
        created_at,
    })
}

/// The audit log's part of `tree`'s entries; how many were written.
fn write_audit_log<W: Write>(
    w: &mut HashingWriter<'_, W>,
    tree: Tree,
    log: &SegmentLog,
) -> Result<u64, BackupError> {
    let failed = |e: LogError| BackupError::Invalid(format!("the audit log cannot be read: {e}"));
    let mut entries = 0;
    let checkpoint = log.checkpoint().map_err(failed)?;
    match tree {
        Tree::AuditIndex => {
            if let Some(c) = checkpoint {
                let value = serde_json::to_vec(&c.anchor())
                    .map_err(|e| BackupError::Invalid(e.to_string()))?;
                w.line(&Entry {
                    t: tree.name().into(),
                    k: B64.encode(CHECKPOINT_KEY),
                    v: B64.encode(value),
                })?;
                entries += 1;
            }
        }
        Tree::Audit => {
            let mut from = checkpoint.map_or(0, |c| c.seq) + 1;
            loop {
                let page = log.records_from(from, PAGE).map_err(failed)?;
                for record in &page {
                    let value = serde_json::to_vec(record)
                        .map_err(|e| BackupError::Invalid(e.to_string()))?;
                    w.line(&Entry {
                        t: tree.name().into(),
                        k: B64.encode(seq_key(record.seq)),
                        v: B64.encode(value),
                    })?;
                    entries += 1;
                    from = record.seq + 1;
                }
                if page.len() < PAGE {
                    break;
                }
            }
        }
        _ => {}
    }
    Ok(entries)
}

/// Reads a whole backup and checks its header, every entry, the entry
/// count and the checksum, without writing anything. Blocking.
pub fn verify<R: BufRead>(input: R) -> Result<Summary, BackupError> {
    read_checked(input, |_| Ok(()))
}

/// Restores a backup into `store`, which must be empty. Blocking.
///
/// Entries are written in batches as the file is read; the vault header
/// (the `meta` tree) is written last, once the trailer has checked out, so
/// an interrupted restore never leaves something that looks like a vault.
/// If the file turns out bad, everything written is removed again and the
/// store is left empty.
pub fn restore_backup<R: BufRead>(
    store: &dyn BlockingStore,
    input: R,
) -> Result<Summary, BackupError> {
    if store.get(Tree::Meta, b"header")?.is_some() || !is_empty(store)? {
        return Err(BackupError::TargetNotEmpty);
    }
    let mut held = Vec::new();
    let mut batch = Vec::with_capacity(PAGE);
    let result = read_checked(input, |op| {
        match &op {
            Op::Put {
                tree: Tree::Meta, ..
            } => held.push(op),
            _ => batch.push(op),
        }
        if batch.len() == PAGE {
            store.apply(std::mem::take(&mut batch))?;
        }
        Ok(())
    })
    .and_then(|summary| {
        store.apply(std::mem::take(&mut batch))?;
        store.apply(std::mem::take(&mut held))?;
        store.flush()?;
        Ok(summary)
    });
    // The store was empty: whatever is in it now came from this file.
    if result.is_err() {
        if let Err(e) = clear(store) {
            tracing::error!(error = %e, "a refused restore could not remove what it had written");
        }
    }
    result
}

/// Whether every tree of `store` is empty.
fn is_empty(store: &dyn BlockingStore) -> Result<bool, StoreError> {
    for tree in Tree::ALL {
        if !store.scan(&Scan::prefix(tree, &[], 1))?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes every entry of every tree.
fn clear(store: &dyn BlockingStore) -> Result<(), StoreError> {
    for tree in Tree::ALL {
        loop {
            let page = store.scan(&Scan::prefix(tree, &[], PAGE))?;
            if page.is_empty() {
                break;
            }
            store.apply(
                page.into_iter()
                    .map(|(key, _)| Op::Delete { tree, key })
                    .collect(),
            )?;
        }
    }
    Ok(())
}

/// Reads one line (without its `\n` or `\r\n`) into `buf`: `None` at the
/// end of the input, else whether the line was complete (ended by `\n`).
fn next_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> Result<Option<bool>, BackupError> {
    buf.clear();
    let n = input.by_ref().take(MAX_LINE + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() as u64 > MAX_LINE {
        return Err(BackupError::Invalid("a line is too long".into()));
    }
    if buf.last() != Some(&b'\n') {
        return Ok(Some(false));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(true))
}

/// Parses and checks the file line by line, handing each entry to `each`;
/// answers only once the trailer has checked out.
fn read_checked<R: BufRead>(
    mut input: R,
    mut each: impl FnMut(Op) -> Result<(), BackupError>,
) -> Result<Summary, BackupError> {
    let invalid = |m: &str| BackupError::Invalid(m.to_string());
    let mut hash = Sha256::new();
    let mut line = Vec::new();
    if next_line(&mut input, &mut line)?.is_none() {
        return Err(invalid("the file is empty"));
    }
    let header: Header =
        serde_json::from_slice(&line).map_err(|_| invalid("no backup header on the first line"))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(invalid("unknown backup format or version"));
    }
    hash.update(&line);
    hash.update(b"\n");
    let mut entries = 0u64;
    let mut number = 1u64;
    while let Some(complete) = next_line(&mut input, &mut line)? {
        number += 1;
        if !complete {
            return Err(invalid(
                "the file ends in the middle of a line (truncated file?)",
            ));
        }
        if let Ok(trailer) = serde_json::from_slice::<Trailer>(&line) {
            if trailer.end.entries != entries {
                return Err(invalid(
                    "the entry count does not match the trailer (truncated file?)",
                ));
            }
            if trailer.end.sha256 != hex::encode(hash.finalize()) {
                return Err(invalid(
                    "the checksum does not match (edited or corrupted file)",
                ));
            }
            if next_line(&mut input, &mut line)?.is_some() {
                return Err(invalid("something follows the trailer"));
            }
            return Ok(Summary {
                entries,
                created_at: header.created_at,
            });
        }
        let entry: Entry = serde_json::from_slice(&line)
            .map_err(|_| BackupError::Invalid(format!("line {number} is not a backup entry")))?;
        let tree = Tree::from_name(&entry.t)
            .ok_or_else(|| BackupError::Invalid(format!("line {number} names an unknown tree")))?;
        let decode = |s: &str| {
            B64.decode(s)
                .map_err(|_| BackupError::Invalid(format!("line {number} is not base64")))
        };
        let op = Op::Put {
            tree,
            key: decode(&entry.k)?,
            value: decode(&entry.v)?,
        };
        hash.update(&line);
        hash.update(b"\n");
        entries += 1;
        each(op)?;
    }
    Err(invalid("the trailer is missing (truncated file?)"))
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

/// Hands the bytes of [`write_backup`] to a bounded channel in chunks.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        // Blocks while the channel is full: the reader sets the pace.
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the reader of the backup went away",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Runs [`write_backup`] on the blocking pool and answers its output as a
/// stream of chunks (about 64 KiB each). At most a few chunks wait in the
/// channel, so memory stays bounded however slow the reader is; dropping
/// the receiver stops the backup. A failure mid-way ends the stream with an
/// error (and the file without its trailer, so it can never be restored).
/// Call from within a tokio runtime.
pub fn spawn_stream(
    store: Arc<dyn BlockingStore>,
    audit: Option<Arc<SegmentLog>>,
) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(DEPTH);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        match write_backup(store.as_ref(), audit.as_deref(), &mut writer) {
            Ok(summary) => tracing::info!(entries = summary.entries, "backup streamed"),
            Err(BackupError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                tracing::warn!("backup download abandoned by the client");
            }
            Err(e) => {
                tracing::error!(error = %e, "backup failed mid-way; the stream is cut");
                let _ = tx.blocking_send(Err(std::io::Error::other("the backup failed")));
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled::SledStore;
    use crate::store::AsyncStore;

    /// A runtime entered on the test's thread, so the blocking store can
    /// wait on the async one from here.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Runtime::new().expect("runtime")
    }

    fn empty(dir: &std::path::Path) -> Arc<dyn BlockingStore> {
        let store = AsyncStore::new(Arc::new(SledStore::open(dir).expect("open")));
        Arc::clone(store.blocking())
    }

    fn filled() -> (tempfile::TempDir, Arc<dyn BlockingStore>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = empty(dir.path());
        let mut ops = vec![Op::Put {
            tree: Tree::Meta,
            key: b"header".to_vec(),
            value: b"{}".to_vec(),
        }];
        for i in 0u32..2500 {
            ops.push(Op::Put {
                tree: Tree::Audit,
                key: i.to_be_bytes().to_vec(),
                value: vec![7; 40],
            });
        }
        store.apply(ops).expect("apply");
        (dir, store)
    }

    #[test]
    fn a_backup_restores_every_entry_into_an_empty_store() {
        let rt = runtime();
        let _in = rt.enter();
        let (_d, store) = filled();
        let mut file = Vec::new();
        let written = write_backup(store.as_ref(), None, &mut file).expect("backup");
        assert_eq!(written.entries, 2501);
        let target_dir = tempfile::tempdir().expect("tempdir");
        let target = empty(target_dir.path());
        let restored = restore_backup(target.as_ref(), file.as_slice()).expect("restore");
        assert_eq!(restored, written);
        assert_eq!(
            target
                .get(Tree::Audit, &2499u32.to_be_bytes())
                .expect("get"),
            Some(vec![7; 40])
        );
        assert!(target.get(Tree::Meta, b"header").expect("get").is_some());
    }

    #[test]
    fn restore_refuses_a_store_that_holds_a_vault() {
        let rt = runtime();
        let _in = rt.enter();
        let (_d, store) = filled();
        let mut file = Vec::new();
        write_backup(store.as_ref(), None, &mut file).expect("backup");
        assert!(matches!(
            restore_backup(store.as_ref(), file.as_slice()),
            Err(BackupError::TargetNotEmpty)
        ));
    }

    #[test]
    fn truncated_or_edited_backups_are_refused_and_nothing_is_written() {
        let rt = runtime();
        let _in = rt.enter();
        let (_d, store) = filled();
        let mut file = Vec::new();
        write_backup(store.as_ref(), None, &mut file).expect("backup");
        let text = String::from_utf8(file).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        let truncated = lines[..lines.len() - 10].join("\n");
        let edited = text.replacen("\"t\":\"audit\"", "\"t\":\"tokens\"", 1);
        let trailing = format!("{text}{}\n", lines[1]);
        for bad in [truncated, edited, trailing, String::new(), "garbage".into()] {
            assert!(verify(bad.as_bytes()).is_err());
            let target_dir = tempfile::tempdir().expect("tempdir");
            let target = empty(target_dir.path());
            assert!(restore_backup(target.as_ref(), bad.as_bytes()).is_err());
            assert!(target.get(Tree::Meta, b"header").expect("get").is_none());
            assert!(
                is_empty(target.as_ref()).expect("scan"),
                "a refused restore leaves nothing"
            );
        }
    }

    #[test]
    fn verify_reads_a_whole_backup_without_a_store() {
        let rt = runtime();
        let _in = rt.enter();
        let (_d, store) = filled();
        let mut file = Vec::new();
        let written = write_backup(store.as_ref(), None, &mut file).expect("backup");
        assert_eq!(verify(file.as_slice()).expect("verify"), written);
        let crlf = String::from_utf8(file).expect("utf8").replace('\n', "\r\n");
        assert_eq!(verify(crlf.as_bytes()).expect("crlf"), written);
    }

    #[test]
    fn restore_refuses_a_store_with_leftovers_of_an_interrupted_restore() {
        let rt = runtime();
        let _in = rt.enter();
        let (_d, store) = filled();
        let mut file = Vec::new();
        write_backup(store.as_ref(), None, &mut file).expect("backup");
        let target_dir = tempfile::tempdir().expect("tempdir");
        let target = empty(target_dir.path());
        target
            .apply(vec![Op::Put {
                tree: Tree::Audit,
                key: vec![1],
                value: vec![2],
            }])
            .expect("apply");
        assert!(matches!(
            restore_backup(target.as_ref(), file.as_slice()),
            Err(BackupError::TargetNotEmpty)
        ));
        assert_eq!(target.get(Tree::Audit, &[1]).expect("get"), Some(vec![2]));
    }

    #[test]
    fn file_names_carry_the_utc_time() {
        let at = time::macros::datetime!(2025-01-31 10:03:04 +02:00);
        assert_eq!(file_name(at), "zoho-vault-20250131T080304Z.backup");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_backup_is_a_valid_backup_and_stops_when_the_reader_leaves() {
        let (_d, store) = tokio::task::spawn_blocking(filled).await.expect("fill");
        let mut rx = spawn_stream(Arc::clone(&store), None);
        let mut file = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.expect("chunk");
            assert!(chunk.len() <= CHUNK + 4096, "chunks stay small");
            file.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert!(chunks > 1, "streamed in several chunks");
        assert_eq!(verify(file.as_slice()).expect("verify").entries, 2501);
        // A reader that goes away after one chunk stops the writer.
        let mut rx = spawn_stream(store, None);
        assert!(rx.recv().await.is_some());
        drop(rx);
    }
}
