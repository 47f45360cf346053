//! Unfinished sled snapshots, removed before each open.
//!
//! When sled 0.34 opens a database it may write a new snapshot of its page
//! table: first to `snap.<lsn>.generating`, then `fsync`, then a rename to
//! `snap.<lsn>`. If that write fails (a full disk) or the process dies
//! before the rename, the `.generating` file stays behind, and the next
//! open picks it as the newest snapshot, finds it short and refuses the
//! whole store as corrupt (spacejam/sled#1527; lapce/lapce#959 after a
//! full disk). Such a file was never a snapshot sled relied on: only the
//! rename commits one, and sled rebuilds its state from the log and the
//! last committed snapshot. Sled writes snapshots only while it opens,
//! under its lock on `<store>/db`, so the files are removed under that
//! same lock, which no running vault holds then.

use std::fs::{File, TryLockError};
use std::io::ErrorKind;
use std::path::Path;

use super::super::StoreError;

const PREFIX: &str = "snap.";
const UNFINISHED: &str = ".generating";

/// Removes `snap.*.generating` files from the store directory `path`.
pub(super) fn remove_unfinished(path: &Path) -> Result<(), StoreError> {
    let failed = |what: &str, e: std::io::Error| {
        StoreError::Backend(format!("{what} in {}: {e}", path.display()))
    };
    let db = match File::open(path.join("db")) {
        Ok(file) => file,
        // A new store: nothing was ever written.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(failed("cannot open the store's data file", e)),
    };
    match db.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::Locked(path.display().to_string()))
        }
        Err(TryLockError::Error(e)) => return Err(failed("cannot lock the store", e)),
    }
    let entries = std::fs::read_dir(path).map_err(|e| failed("cannot list the store", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| failed("cannot list the store", e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && name.ends_with(UNFINISHED) {
            std::fs::remove_file(entry.path())
                .map_err(|e| failed("cannot remove an unfinished snapshot", e))?;
            tracing::warn!(file = %name, "removed an unfinished store snapshot left by an interrupted open");
        }
    }
    // The lock goes with `db`; sled takes its own when it opens.
    Ok(())
}
