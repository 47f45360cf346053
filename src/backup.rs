//! Backup and restore of the store, still encrypted.
//!
//! A backup is every entry of every tree as it is on disk: sealed records
//! stay sealed, the vault header keeps the data key wrapped, so a backup is
//! exactly as safe as the data directory and needs the same passphrase.
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
//! anything is restored. Restore writes only into a store that holds no
//! vault yet, so it can never overwrite a live vault.

use std::io::{BufRead, Write};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::store::{Op, Scan, Store, StoreError, Tree};

const FORMAT: &str = "zoho-vault-backup";
const VERSION: u32 = 1;
/// Entries per scan page and per restore batch.
const PAGE: usize = 1000;

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
    /// Entries written or restored.
    pub entries: u64,
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
    /// The target already holds a vault.
    #[error("the target data directory already holds a vault; restore only into an empty one")]
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

/// Writes every tree of `store` to `out`. Blocking: run it off the async
/// workers. Entries written while the backup runs may or may not be in it.
pub fn write_backup<W: Write>(store: &dyn Store, out: &mut W) -> Result<Summary, BackupError> {
    let mut w = HashingWriter {
        inner: out,
        hash: Sha256::new(),
    };
    w.line(&Header {
        format: FORMAT.into(),
        version: VERSION,
        created_at: OffsetDateTime::now_utc(),
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
    }
    let sha256 = hex::encode(w.hash.clone().finalize());
    w.line(&Trailer {
        end: End { entries, sha256 },
    })?;
    w.inner.flush()?;
    Ok(Summary { entries })
}

/// Checks a whole backup, then restores it into `store`, which must not
/// hold a vault. Blocking.
pub fn restore_backup<R: BufRead>(store: &dyn Store, input: R) -> Result<Summary, BackupError> {
    if store.get(Tree::Meta, b"header")?.is_some() {
        return Err(BackupError::TargetNotEmpty);
    }
    let ops = read_checked(input)?;
    let entries = ops.len() as u64;
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        store.apply(ops.by_ref().take(PAGE).collect())?;
    }
    store.flush()?;
    Ok(Summary { entries })
}

/// Parses and verifies the file completely before anything is written.
fn read_checked<R: BufRead>(input: R) -> Result<Vec<Op>, BackupError> {
    let invalid = |m: &str| BackupError::Invalid(m.to_string());
    let mut hash = Sha256::new();
    let mut lines = input.lines();
    let first = lines.next().ok_or_else(|| invalid("the file is empty"))??;
    let header: Header =
        serde_json::from_str(&first).map_err(|_| invalid("no backup header on the first line"))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(invalid("unknown backup format or version"));
    }
    hash.update(first.as_bytes());
    hash.update(b"\n");
    let mut ops = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line?;
        if let Ok(trailer) = serde_json::from_str::<Trailer>(&line) {
            if trailer.end.entries != ops.len() as u64 {
                return Err(invalid(
                    "the entry count does not match the trailer (truncated file?)",
                ));
            }
            if trailer.end.sha256 != hex::encode(hash.finalize()) {
                return Err(invalid(
                    "the checksum does not match (edited or corrupted file)",
                ));
            }
            return Ok(ops);
        }
        let entry: Entry = serde_json::from_str(&line)
            .map_err(|_| BackupError::Invalid(format!("line {} is not a backup entry", i + 2)))?;
        let tree = Tree::from_name(&entry.t)
            .ok_or_else(|| BackupError::Invalid(format!("line {} names an unknown tree", i + 2)))?;
        let decode = |s: &str| {
            B64.decode(s)
                .map_err(|_| BackupError::Invalid(format!("line {} is not base64", i + 2)))
        };
        ops.push(Op::Put {
            tree,
            key: decode(&entry.k)?,
            value: decode(&entry.v)?,
        });
        hash.update(line.as_bytes());
        hash.update(b"\n");
    }
    Err(invalid("the trailer is missing (truncated file?)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled::SledStore;

    fn filled() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
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
        let (_d, store) = filled();
        let mut file = Vec::new();
        let written = write_backup(&store, &mut file).expect("backup");
        assert_eq!(written.entries, 2501);
        let target_dir = tempfile::tempdir().expect("tempdir");
        let target = SledStore::open(target_dir.path()).expect("open");
        let restored = restore_backup(&target, file.as_slice()).expect("restore");
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
        let (_d, store) = filled();
        let mut file = Vec::new();
        write_backup(&store, &mut file).expect("backup");
        assert!(matches!(
            restore_backup(&store, file.as_slice()),
            Err(BackupError::TargetNotEmpty)
        ));
    }

    #[test]
    fn truncated_or_edited_backups_are_refused_and_nothing_is_written() {
        let (_d, store) = filled();
        let mut file = Vec::new();
        write_backup(&store, &mut file).expect("backup");
        let text = String::from_utf8(file).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        let truncated = lines[..lines.len() - 10].join("\n");
        let edited = text.replacen("\"t\":\"audit\"", "\"t\":\"tokens\"", 1);
        for bad in [truncated, edited, String::new(), "garbage".into()] {
            let target_dir = tempfile::tempdir().expect("tempdir");
            let target = SledStore::open(target_dir.path()).expect("open");
            assert!(restore_backup(&target, bad.as_bytes()).is_err());
            assert!(target.get(Tree::Meta, b"header").expect("get").is_none());
        }
    }
}
