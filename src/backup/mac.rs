//! The backup key: only the vault (holding the data key) can make a
//! backup's trailer, so a file edited or cut short with its trailer
//! recomputed is refused.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::crypto::keys::{DataKey, SubKey};

/// WARNING: part of the backup format; never change it.
const LABEL: &str = "backup-mac";

/// Authenticates backup files; derived from the data key.
pub struct BackupKey(SubKey);

impl BackupKey {
    /// The backup key of the vault whose data key this is.
    pub fn derive(data: &DataKey) -> Self {
        Self(data.derive_subkey(LABEL))
    }

    pub(super) fn start(&self) -> Digest {
        Digest(self.0.hmac())
    }
}

/// A running MAC over a file's lines.
pub(super) struct Digest(Hmac<Sha256>);

impl Digest {
    pub fn line(&mut self, line: &[u8]) {
        self.0.update(line);
        self.0.update(b"\n");
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0.clone().finalize().into_bytes())
    }

    /// Whether `claimed` (hex) is this MAC; constant time.
    pub fn matches(&self, claimed: &str) -> bool {
        let mine = self.0.clone().finalize().into_bytes();
        hex::decode(claimed).is_ok_and(|c| bool::from(c.as_slice().ct_eq(mine.as_slice())))
    }
}
