//! Reading a backup: checking it whole, and restoring it into an empty
//! store.

use std::io::{BufRead, Read};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::format::{AnyHeader, Entry, HeadLine, Header, Trailer, FORMAT, PAGE, VERSION};
use super::mac::{BackupKey, Digest};
use super::writer::chain_position;
use super::{BackupError, Summary};
use crate::audit::keys::Checkpoint;
use crate::store::{BlockingStore, Op, Scan, StoreError, Tree};

/// Longest line accepted when reading a backup. Sealed records are a few
/// KiB; the cap only stops a file with no newlines from filling memory.
const MAX_LINE: u64 = 16 * 1024 * 1024;
/// The key of the vault header in the `meta` tree.
const VAULT_HEADER: &[u8] = b"header";

/// Reads a whole backup and checks its header, every entry, the entry
/// count and that the audit trail reaches the head recorded at backup time,
/// without writing anything. With `key`, also its MAC: only then is the
/// file known to be what the vault wrote. Blocking.
pub fn verify<R: BufRead>(input: R, key: Option<&BackupKey>) -> Result<Summary, BackupError> {
    read_checked(input, key, |_| Ok(()))
}

/// The vault header stored in a backup (the wrapped data key, KDF
/// parameters and salt): what the passphrase opens to get the backup key.
/// Reads the file structurally only; blocking.
pub fn vault_header<R: BufRead>(input: R) -> Result<Vec<u8>, BackupError> {
    let mut found = None;
    read_checked(input, None, |op| {
        if let Op::Put {
            tree: Tree::Meta,
            key,
            value,
        } = op
        {
            if key == VAULT_HEADER {
                found = Some(value);
            }
        }
        Ok(())
    })?;
    found.ok_or_else(|| BackupError::Invalid("it holds no vault header".into()))
}

/// Restores a backup into `store`, which must be empty. Blocking.
///
/// Entries are written in batches as the file is read; the vault header
/// (the `meta` tree) is written last, once the trailer's MAC has checked
/// out under `key`, so an interrupted restore never leaves something that
/// looks like a vault. If the file turns out bad, everything written is
/// removed again and the store is left empty.
pub fn restore_backup<R: BufRead>(
    store: &dyn BlockingStore,
    input: R,
    key: &BackupKey,
) -> Result<Summary, BackupError> {
    if store.get(Tree::Meta, VAULT_HEADER)?.is_some() || !is_empty(store)? {
        return Err(BackupError::TargetNotEmpty);
    }
    let mut held = Vec::new();
    let mut batch = Vec::with_capacity(PAGE);
    let result = read_checked(input, Some(key), |op| {
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
pub(super) fn is_empty(store: &dyn BlockingStore) -> Result<bool, StoreError> {
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

fn feed(mac: &mut Option<Digest>, line: &[u8]) {
    if let Some(mac) = mac.as_mut() {
        mac.line(line);
    }
}

fn invalid(m: &str) -> BackupError {
    BackupError::Invalid(m.to_string())
}

/// Checks the first line; names a known older version.
fn read_header(line: &[u8]) -> Result<Header, BackupError> {
    if let Ok(any) = serde_json::from_slice::<AnyHeader>(line) {
        if any.format == FORMAT && any.version == 1 {
            return Err(BackupError::OldVersion(1));
        }
    }
    let header: Header =
        serde_json::from_slice(line).map_err(|_| invalid("no backup header on the first line"))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(invalid("unknown backup format or version"));
    }
    Ok(header)
}

/// Parses and checks the file line by line, handing each entry to `each`;
/// answers only once the trailer has checked out (its MAC too, given
/// `key`).
fn read_checked<R: BufRead>(
    mut input: R,
    key: Option<&BackupKey>,
    mut each: impl FnMut(Op) -> Result<(), BackupError>,
) -> Result<Summary, BackupError> {
    let mut mac = key.map(BackupKey::start);
    let mut line = Vec::new();
    if next_line(&mut input, &mut line)?.is_none() {
        return Err(invalid("the file is empty"));
    }
    let header = read_header(&line)?;
    feed(&mut mac, &line);
    let mut entries = 0u64;
    let mut number = 1u64;
    // The furthest audit chain position in the file, and the head line.
    let mut reached: Option<Checkpoint> = None;
    let mut head: Option<Option<Checkpoint>> = None;
    while let Some(complete) = next_line(&mut input, &mut line)? {
        number += 1;
        if !complete {
            return Err(invalid(
                "the file ends in the middle of a line (truncated file?)",
            ));
        }
        if let Ok(trailer) = serde_json::from_slice::<Trailer>(&line) {
            let Some(head) = head else {
                return Err(invalid(
                    "the audit head line is missing (truncated or edited file)",
                ));
            };
            if trailer.end.entries != entries {
                return Err(invalid(
                    "the entry count does not match the trailer (truncated file?)",
                ));
            }
            if let Some(mac) = &mac {
                if !mac.matches(&trailer.end.mac) {
                    return Err(BackupError::Forged);
                }
            }
            if next_line(&mut input, &mut line)?.is_some() {
                return Err(invalid("something follows the trailer"));
            }
            return Ok(Summary {
                entries,
                created_at: header.created_at,
                head,
            });
        }
        if head.is_some() {
            return Err(invalid("only the trailer may follow the audit head line"));
        }
        if let Ok(line_head) = serde_json::from_slice::<HeadLine>(&line) {
            if line_head.head.as_ref().map(|h| (h.seq, &h.hash))
                != reached.as_ref().map(|r| (r.seq, &r.hash))
            {
                return Err(BackupError::TrailCut {
                    reached: reached.map_or(0, |r| r.seq),
                    head: line_head.head.map_or(0, |h| h.seq),
                });
            }
            feed(&mut mac, &line);
            head = Some(line_head.head);
            continue;
        }
        let entry: Entry = serde_json::from_slice(&line)
            .map_err(|_| BackupError::Invalid(format!("line {number} is not a backup entry")))?;
        let tree = Tree::from_name(&entry.t)
            .ok_or_else(|| BackupError::Invalid(format!("line {number} names an unknown tree")))?;
        let decode = |s: &str| {
            B64.decode(s)
                .map_err(|_| BackupError::Invalid(format!("line {number} is not base64")))
        };
        let (k, v) = (decode(&entry.k)?, decode(&entry.v)?);
        if let Some(at) = chain_position(tree, &k, &v) {
            if reached.as_ref().is_none_or(|r| at.seq >= r.seq) {
                reached = Some(at);
            }
        }
        feed(&mut mac, &line);
        entries += 1;
        each(Op::Put {
            tree,
            key: k,
            value: v,
        })?;
    }
    Err(invalid("the trailer is missing (truncated file?)"))
}
