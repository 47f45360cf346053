//! Power-loss durability for sled 0.34. Its `flush` makes writes durable
//! with `sync_file_range` on Linux, which survives a crash of the process
//! but neither flushes the drive's volatile write cache nor the file's
//! metadata. After every flush that acknowledges a write, [`DataFileSync`]
//! calls `fdatasync` on sled's data file (`<store dir>/db`, where sled 0.34
//! keeps its log and pages), so an acknowledged write (a rotated refresh
//! token, a new service token) also survives a power cut.

use std::fs::File;
use std::io;
use std::path::Path;

/// A handle on sled's data file, kept open for `fdatasync`.
pub struct DataFileSync {
    file: File,
}

impl DataFileSync {
    /// Opens `<store_dir>/db` (after sled has created it). Read-only is
    /// enough: Linux syncs a file through any descriptor of it.
    pub fn open(store_dir: &Path) -> io::Result<Self> {
        Ok(Self {
            file: File::open(store_dir.join("db"))?,
        })
    }

    /// `fdatasync` of the data file.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}
