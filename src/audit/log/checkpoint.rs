//! The prune checkpoint: the seq and hash of the last pruned event, signed
//! with the audit key, so verify can prove the remaining trail is the
//! unbroken tail of the original and nobody without the key can move the
//! anchor. Kept in `<log dir>/checkpoint` as JSON, replaced atomically
//! (write a temporary file, `fsync`, rename, `fsync` the directory).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audit::chain::ChainKey;
use crate::audit::keys::Checkpoint;

/// WARNING: part of every checkpoint signature; never change.
const DOMAIN: &[u8] = b"zoho-vault audit checkpoint v1\n";
const FILE: &str = "checkpoint";

/// A checkpoint and its signature (HMAC-SHA256 under the audit key, hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    /// Seq of the last pruned event.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// The signature.
    pub mac: String,
}

fn mac(key: &dyn ChainKey, seq: u64, hash: &str) -> String {
    let mut bytes = DOMAIN.to_vec();
    bytes.extend_from_slice(format!("{seq}\n{hash}").as_bytes());
    hex::encode(key.chain_mac(&bytes))
}

impl SignedCheckpoint {
    /// Signs `checkpoint`.
    pub fn sign(key: &dyn ChainKey, checkpoint: &Checkpoint) -> Self {
        Self {
            seq: checkpoint.seq,
            hash: checkpoint.hash.clone(),
            mac: mac(key, checkpoint.seq, &checkpoint.hash),
        }
    }

    /// Whether the signature is the key's.
    pub fn is_valid(&self, key: &dyn ChainKey) -> bool {
        let expected = mac(key, self.seq, &self.hash);
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), self.mac.as_bytes()).into()
    }

    /// The unsigned anchor.
    pub fn anchor(&self) -> Checkpoint {
        Checkpoint {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }

    /// Reads the checkpoint in `dir`, if any.
    pub fn load(dir: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read(dir.join(FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::other(format!("the checkpoint is unreadable: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the checkpoint in `dir`, durably.
    pub fn store(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join("checkpoint.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, dir.join(FILE))?;
        super::engine::sync_dir(dir)
    }
}
