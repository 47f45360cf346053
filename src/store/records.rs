//! Typed records sealed with the data key before they reach the backend.
//!
//! A record type names its tree and schema version ([`SealedRecord`]); its
//! JSON encoding is sealed with XChaCha20-Poly1305 bound to (tree, key,
//! schema), so a value copied onto another record fails to open. Secret
//! fields use [`SealedSecret`], which serializes only here.

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{AsyncStore, Op, Scan, StoreError, Tree};
use crate::crypto::aead::RecordId;
use crate::crypto::keys::DataKey;

/// A record kind stored sealed in its own tree.
pub trait SealedRecord: Serialize + DeserializeOwned {
    /// The tree the record lives in.
    const TREE: Tree;
    /// Version of the plaintext encoding, bound into the associated data.
    const SCHEMA: u8;
}

/// A secret string field of a sealed record. It serializes in the clear,
/// which is only safe because records are sealed before they are stored:
/// never put it in a type that is sent over HTTP or logged.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(SecretString);

impl SealedSecret {
    /// Wraps a secret.
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The secret, for the one place that must send it somewhere.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl From<SecretString> for SealedSecret {
    fn from(s: SecretString) -> Self {
        Self(s)
    }
}

impl Serialize for SealedSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose_secret())
    }
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

fn record_id<R: SealedRecord>(key: &[u8]) -> RecordId<'_> {
    RecordId {
        tree: R::TREE.name(),
        key,
        schema: R::SCHEMA,
    }
}

fn corrupt<R: SealedRecord>(key: &[u8], reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: R::TREE.name(),
        key: String::from_utf8_lossy(key).chars().take(64).collect(),
        reason: reason.to_string(),
    }
}

/// Seals a record into a write for an atomic batch.
pub fn seal_op<R: SealedRecord>(
    data_key: &DataKey,
    key: &[u8],
    record: &R,
) -> Result<Op, StoreError> {
    let plain = Zeroizing::new(serde_json::to_vec(record).map_err(|e| corrupt::<R>(key, e))?);
    let value = data_key
        .seal(&record_id::<R>(key), &plain)
        .map_err(|e| corrupt::<R>(key, e))?;
    Ok(Op::Put {
        tree: R::TREE,
        key: key.to_vec(),
        value,
    })
}

/// Opens a sealed value read from `R::TREE` under `key`.
pub fn open_value<R: SealedRecord>(
    data_key: &DataKey,
    key: &[u8],
    sealed: &[u8],
) -> Result<R, StoreError> {
    let plain = data_key
        .open(&record_id::<R>(key), sealed)
        .map_err(|e| corrupt::<R>(key, e))?;
    serde_json::from_slice(&plain).map_err(|e| corrupt::<R>(key, e.classify_name()))
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    /// serde_json messages may quote input, which is secret here.
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io error",
            serde_json::error::Category::Syntax => "invalid json",
            serde_json::error::Category::Data => "unexpected fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

impl AsyncStore {
    /// Reads and opens one sealed record.
    pub async fn get_sealed<R: SealedRecord>(
        &self,
        data_key: &DataKey,
        key: &[u8],
    ) -> Result<Option<R>, StoreError> {
        match self.get(R::TREE, key.to_vec()).await? {
            Some(sealed) => open_value(data_key, key, &sealed).map(Some),
            None => Ok(None),
        }
    }

    /// Seals and durably writes one record.
    pub async fn put_sealed<R: SealedRecord>(
        &self,
        data_key: &DataKey,
        key: &[u8],
        record: &R,
    ) -> Result<(), StoreError> {
        self.apply(vec![seal_op(data_key, key, record)?]).await
    }

    /// Reads and opens every record of a kind whose key starts with `prefix`.
    pub async fn scan_sealed<R: SealedRecord>(
        &self,
        data_key: &DataKey,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, R)>, StoreError> {
        self.scan(Scan::prefix(R::TREE, prefix, limit))
            .await?
            .into_iter()
            .map(|(k, v)| open_value(data_key, &k, &v).map(|r| (k, r)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Demo {
        name: String,
        secret: SealedSecret,
    }
    impl SealedRecord for Demo {
        const TREE: Tree = Tree::Connections;
        const SCHEMA: u8 = 1;
    }

    #[test]
    fn sealed_secret_debug_is_redacted() {
        let s = SealedSecret::new(SecretString::from("hunter2".to_string()));
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[test]
    fn a_record_opens_under_its_own_key_only() {
        let dk = DataKey::make();
        let rec = Demo {
            name: "a".into(),
            secret: SecretString::from("s3cret".to_string()).into(),
        };
        let Op::Put { value, .. } = seal_op(&dk, b"acme", &rec).expect("seal") else {
            panic!("seal_op yields a put");
        };
        assert!(!value.windows(6).any(|w| w == b"s3cret"));
        let back: Demo = open_value(&dk, b"acme", &value).expect("open");
        assert_eq!(back.secret.secret().expose_secret(), "s3cret");
        assert!(open_value::<Demo>(&dk, b"other", &value).is_err());
    }
}
