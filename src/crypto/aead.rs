//! XChaCha20-Poly1305 sealing with associated data that names the record.
//!
//! Byte layout of a sealed value (format version 1):
//!
//! ```text
//! [0]        format version, 0x01
//! [1..25]    24-byte random nonce (XChaCha20's extended nonce: random
//!            nonces are safe for any realistic number of records)
//! [25..]     ciphertext followed by the 16-byte Poly1305 tag
//! ```
//!
//! The associated data is never stored: it is rebuilt from the record's
//! identity ([`RecordId`]: tree, key, schema version) when the record is
//! opened. A ciphertext copied onto another key, tree or schema version
//! therefore fails to open instead of being silently accepted.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::keys::{DataKey, WrappingKey};
use super::CryptoError;

/// Current format version byte. WARNING: bump only with a migration path;
/// every stored record starts with it.
pub const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// The identity a sealed record is bound to.
#[derive(Debug, Clone, Copy)]
pub struct RecordId<'a> {
    /// The store tree (record kind), e.g. `connections`.
    pub tree: &'a str,
    /// The record's key inside its tree.
    pub key: &'a [u8],
    /// The schema version of the record's plaintext encoding.
    pub schema: u8,
}

impl RecordId<'_> {
    /// Unambiguous encoding: every variable-length part is length-prefixed.
    fn associated_data(&self, format: u8) -> Vec<u8> {
        let mut ad = Vec::with_capacity(32 + self.tree.len() + self.key.len());
        ad.extend_from_slice(b"zoho-vault");
        ad.push(format);
        for part in [self.tree.as_bytes(), self.key] {
            ad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            ad.extend_from_slice(part);
        }
        ad.push(self.schema);
        ad
    }
}

fn seal_with(key: &[u8; 32], id: &RecordId<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ad = id.associated_data(FORMAT_V1);
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

fn open_with(
    key: &[u8; 32],
    id: &RecordId<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < OVERHEAD {
        return Err(CryptoError::Malformed("too short"));
    }
    let (version, rest) = sealed.split_at(1);
    if version[0] != FORMAT_V1 {
        return Err(CryptoError::Malformed("unknown format version"));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.into());
    let ad = id.associated_data(FORMAT_V1);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &ad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

impl DataKey {
    /// Seals a record's plaintext, bound to its identity.
    pub fn seal(&self, id: &RecordId<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(self.as_bytes(), id, plaintext)
    }

    /// Opens a sealed record; fails if the key, the bytes or the identity differ.
    pub fn open(
        &self,
        id: &RecordId<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open_with(self.as_bytes(), id, sealed)
    }
}

/// Identity the wrapped data key is bound to inside the vault header.
const WRAPPED_KEY_ID: RecordId<'static> = RecordId {
    tree: "meta",
    key: b"data_key",
    schema: 1,
};

impl WrappingKey {
    /// Wraps (encrypts) the data key for storage in the vault header.
    pub fn wrap(&self, data_key: &DataKey) -> Result<Vec<u8>, CryptoError> {
        seal_with(self.as_bytes(), &WRAPPED_KEY_ID, data_key.as_bytes())
    }

    /// Unwraps the data key; fails on a wrong passphrase or a tampered header.
    pub fn unwrap_key(&self, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let mut bytes = open_with(self.as_bytes(), &WRAPPED_KEY_ID, wrapped)?;
        DataKey::from_bytes(&mut bytes).ok_or(CryptoError::Malformed("data key length"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id<'a>(tree: &'a str, key: &'a [u8]) -> RecordId<'a> {
        RecordId {
            tree,
            key,
            schema: 1,
        }
    }

    #[test]
    fn seal_then_open_round_trips() {
        let key = DataKey::make();
        let sealed = key
            .seal(&id("connections", b"acme"), b"secret")
            .expect("seal");
        let opened = key
            .open(&id("connections", b"acme"), &sealed)
            .expect("open");
        assert_eq!(opened.as_slice(), b"secret");
        assert_eq!(sealed.len(), b"secret".len() + OVERHEAD);
        assert_eq!(sealed[0], FORMAT_V1);
    }

    #[test]
    fn nonces_are_unique_per_seal() {
        let key = DataKey::make();
        let a = key.seal(&id("t", b"k"), b"same").expect("seal");
        let b = key.seal(&id("t", b"k"), b"same").expect("seal");
        assert_ne!(a[1..25], b[1..25]);
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_fails_to_open() {
        let sealed = DataKey::make().seal(&id("t", b"k"), b"x").expect("seal");
        assert!(matches!(
            DataKey::make().open(&id("t", b"k"), &sealed),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn ciphertext_moved_to_another_record_fails_to_open() {
        let key = DataKey::make();
        let sealed = key.seal(&id("connections", b"acme"), b"x").expect("seal");
        assert!(key.open(&id("connections", b"other"), &sealed).is_err());
        assert!(key.open(&id("tokens", b"acme"), &sealed).is_err());
        let v2 = RecordId {
            schema: 2,
            ..id("connections", b"acme")
        };
        assert!(key.open(&v2, &sealed).is_err());
    }

    #[test]
    fn ambiguous_tree_key_splits_do_not_collide() {
        let key = DataKey::make();
        let sealed = key.seal(&id("ab", b"c"), b"x").expect("seal");
        assert!(key.open(&id("a", b"bc"), &sealed).is_err());
    }

    #[test]
    fn tampered_or_truncated_ciphertext_fails_to_open() {
        let key = DataKey::make();
        let sealed = key.seal(&id("t", b"k"), b"payload").expect("seal");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(key.open(&id("t", b"k"), &bad).is_err(), "flip at {i}");
        }
        for len in 0..sealed.len() {
            assert!(
                key.open(&id("t", b"k"), &sealed[..len]).is_err(),
                "len {len}"
            );
        }
    }

    #[test]
    fn wrapped_data_key_unwraps_only_with_the_same_wrapping_key() {
        let data = DataKey::make();
        let mut wk = WrappingKey::zeroed();
        wk.as_mut_bytes()[0] = 1;
        let wrapped = wk.wrap(&data).expect("wrap");
        assert!(wk.unwrap_key(&wrapped).expect("unwrap") == data);
        assert!(WrappingKey::zeroed().unwrap_key(&wrapped).is_err());
    }
}
