//! Hashing one record: the HMAC-SHA256 under the audit key of its
//! canonical bytes, with the keyed state and the buffer reused across a
//! batch (the writer) or a page (verify).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::super::event::{AuditEvent, AuditRecord};
use crate::crypto::keys::SubKey;
use crate::vault::Keyring;

/// WARNING: part of every hash; never change.
const DOMAIN: &[u8] = b"zoho-vault audit v1\n";
/// A key that can MAC audit records: the keyring's audit subkey.
pub trait ChainKey: Send + Sync {
    /// HMAC-SHA256 under the audit key.
    fn chain_mac(&self, data: &[u8]) -> [u8; 32];

    /// The HMAC state already keyed, to clone per record: keying costs two
    /// SHA-256 blocks, a fifth of hashing a typical event.
    fn keyed(&self) -> Option<Hmac<Sha256>> {
        None
    }
}

impl ChainKey for SubKey {
    fn chain_mac(&self, data: &[u8]) -> [u8; 32] {
        self.mac(data)
    }

    fn keyed(&self) -> Option<Hmac<Sha256>> {
        Some(self.hmac())
    }
}

impl ChainKey for Keyring {
    fn chain_mac(&self, data: &[u8]) -> [u8; 32] {
        self.audit_key().mac(data)
    }

    fn keyed(&self) -> Option<Hmac<Sha256>> {
        Some(self.audit_key().hmac())
    }
}

/// Hashes records one after another with one keyed state and one buffer
/// (the chain's hot loop: the writer and verify).
pub struct RecordHasher<'k> {
    key: &'k dyn ChainKey,
    keyed: Option<Hmac<Sha256>>,
    buf: Vec<u8>,
}

impl<'k> RecordHasher<'k> {
    /// A hasher under `key`.
    pub fn new(key: &'k dyn ChainKey) -> Self {
        let mut buf = Vec::with_capacity(512);
        buf.extend_from_slice(DOMAIN);
        Self {
            key,
            keyed: key.keyed(),
            buf,
        }
    }

    /// The MAC a record must carry, raw.
    pub fn mac(&mut self, record: &AuditRecord) -> [u8; 32] {
        self.buf.truncate(DOMAIN.len());
        // Serialising plain strings, integers and a BTreeMap into a Vec
        // cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, &record.hashed_part());
        match &self.keyed {
            Some(keyed) => {
                let mut mac = keyed.clone();
                mac.update(&self.buf);
                mac.finalize().into_bytes().into()
            }
            None => self.key.chain_mac(&self.buf),
        }
    }

    /// The MAC of an event whose canonical JSON (without the domain
    /// prefix) is `json`, raw.
    pub fn mac_canonical(&mut self, json: &[u8]) -> [u8; 32] {
        match &self.keyed {
            Some(keyed) => {
                let mut mac = keyed.clone();
                mac.update(DOMAIN);
                mac.update(json);
                mac.finalize().into_bytes().into()
            }
            None => {
                self.buf.truncate(DOMAIN.len());
                self.buf.extend_from_slice(json);
                self.key.chain_mac(&self.buf)
            }
        }
    }

    /// The hash a record must carry, as stored (lowercase hex).
    pub fn hash(&mut self, record: &AuditRecord) -> String {
        let mut hex = [0u8; 64];
        // 64 bytes hold the hex of 32, and hex is ASCII: neither can fail.
        let _ = hex::encode_to_slice(self.mac(record), &mut hex);
        std::str::from_utf8(&hex)
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// Whether the record's stored hash is the one its contents give.
    pub fn matches(&mut self, record: &AuditRecord) -> bool {
        let mut hex = [0u8; 64];
        let mac = self.mac(record);
        hex::encode_to_slice(mac, &mut hex).is_ok() && record.hash.as_bytes() == hex
    }
}

/// The hash a record must carry.
pub fn compute_hash(key: &dyn ChainKey, record: &AuditRecord) -> String {
    RecordHasher::new(key).hash(record)
}

/// Sequences and chains one event.
pub fn chain_event(key: &dyn ChainKey, seq: u64, event: AuditEvent, prev: String) -> AuditRecord {
    chain_event_with(&mut RecordHasher::new(key), seq, event, prev)
}

/// [`chain_event`] with a hasher kept across a batch.
pub fn chain_event_with(
    hasher: &mut RecordHasher<'_>,
    seq: u64,
    event: AuditEvent,
    prev: String,
) -> AuditRecord {
    let mut record = AuditRecord::unhashed(seq, event, prev);
    record.hash = hasher.hash(&record);
    record
}
