//! Writing a backup: every tree, the audit log, the chain head, the MAC.

use std::io::Write;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::format::{End, Entry, HeadLine, Header, Position, Trailer, FORMAT, PAGE, VERSION};
use super::mac::{BackupKey, Digest};
use super::source::AuditSource;
use super::{BackupError, Summary};
use crate::audit::keys::{seq_key, Checkpoint, CHECKPOINT_KEY};
use crate::audit::AuditError;
use crate::store::{BlockingStore, Scan, Tree};

/// Bytes per chunk handed over by [`spawn_stream`].
const CHUNK: usize = 64 * 1024;
/// Chunks that may wait in [`spawn_stream`]'s channel before the backup
/// blocks (the backpressure bound).
const DEPTH: usize = 4;

struct MacWriter<'a, W: Write> {
    inner: &'a mut W,
    mac: Digest,
    /// The furthest audit chain position written so far.
    head: Option<Checkpoint>,
}

impl<W: Write> MacWriter<'_, W> {
    fn line<T: Serialize>(&mut self, value: &T) -> Result<(), BackupError> {
        let line = serde_json::to_vec(value).map_err(|e| BackupError::Invalid(e.to_string()))?;
        self.mac.line(&line);
        self.inner.write_all(&line)?;
        self.inner.write_all(b"\n")?;
        Ok(())
    }

    fn entry(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
        if let Some(at) = chain_position(tree, key, value) {
            if self.head.as_ref().is_none_or(|h| at.seq >= h.seq) {
                self.head = Some(at);
            }
        }
        self.line(&Entry {
            t: tree.name().into(),
            k: B64.encode(key),
            v: B64.encode(value),
        })
    }
}

/// The audit chain position an entry carries: a stored event, or the
/// prune checkpoint.
pub(super) fn chain_position(tree: Tree, key: &[u8], value: &[u8]) -> Option<Checkpoint> {
    match tree {
        Tree::Audit => Position::of(value),
        Tree::AuditIndex if key == CHECKPOINT_KEY => Position::of(value),
        _ => None,
    }
}

/// Writes every tree of `store`, and the events of the audit log `audit`,
/// to `out`, then the audit chain's head and the trailer's MAC under `key`.
/// Blocking: run it off the async workers. Entries written while the backup
/// runs may or may not be in it.
///
/// The audit log's events and checkpoint are written as entries of the
/// `audit` and `audit_index` trees in the previous release's layout (seq →
/// event JSON; the checkpoint as JSON); a restored vault moves them into
/// its log at the first unseal, like an upgrade.
pub fn write_backup<W: Write>(
    store: &dyn BlockingStore,
    audit: Option<&dyn AuditSource>,
    key: &BackupKey,
    out: &mut W,
) -> Result<Summary, BackupError> {
    let mut w = MacWriter {
        inner: out,
        mac: key.start(),
        head: None,
    };
    let created_at = OffsetDateTime::now_utc();
    w.line(&Header {
        format: FORMAT.into(),
        version: VERSION,
        created_at,
        vault_version: env!("CARGO_PKG_VERSION").into(),
    })?;
    let mut entries = 0u64;
    // A console session is a login, not data: restored, it would let a
    // copied cookie in again.
    for tree in Tree::ALL
        .into_iter()
        .filter(|t| *t != Tree::ConsoleSessions)
    {
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
                w.entry(tree, k, v)?;
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
    let head = w.head.clone();
    w.line(&HeadLine { head: head.clone() })?;
    let mac = w.mac.hex();
    w.line(&Trailer {
        end: End { entries, mac },
    })?;
    w.inner.flush()?;
    Ok(Summary {
        entries,
        created_at,
        head,
    })
}

/// The audit log's part of `tree`'s entries; how many were written.
fn write_audit_log<W: Write>(
    w: &mut MacWriter<'_, W>,
    tree: Tree,
    log: &dyn AuditSource,
) -> Result<u64, BackupError> {
    let failed = |e: AuditError| BackupError::Invalid(format!("the audit log cannot be read: {e}"));
    let mut entries = 0;
    let checkpoint = log.checkpoint().map_err(failed)?;
    match tree {
        Tree::AuditIndex => {
            if let Some(c) = checkpoint {
                w.entry(tree, CHECKPOINT_KEY, &json(&c.anchor())?)?;
                entries += 1;
            }
        }
        Tree::Audit => {
            let mut from = checkpoint.map_or(0, |c| c.seq) + 1;
            loop {
                let page = log.records_from(from, PAGE).map_err(failed)?;
                for record in &page {
                    w.entry(tree, &seq_key(record.seq), &json(record)?)?;
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

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, BackupError> {
    serde_json::to_vec(value).map_err(|e| BackupError::Invalid(e.to_string()))
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
    audit: Option<Arc<dyn AuditSource>>,
    key: BackupKey,
) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(DEPTH);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        match write_backup(store.as_ref(), audit.as_deref(), &key, &mut writer) {
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
