//! The vault's key lifecycle: initialise, unseal, seal, rekey.
//!
//! The header record (`meta/header`) holds the Argon2id parameters, the salt
//! and the data key wrapped by the passphrase-derived key. Unsealing derives
//! the wrapping key, unwraps the data key and keeps it (with its derived
//! subkeys) in memory until [`Vault::seal`]; sealing drops the only
//! reference, and the keys zeroize themselves when the last in-flight
//! request lets go of them.
//!
//! Who may try a passphrase, and when, is decided per source by [`gate`]:
//! a guesser backs off on its own without delaying anyone else.

pub mod gate;

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::UnsealSettings;
use crate::crypto::kdf::{derive_wrapping_key, make_salt, KdfParams, SALT_LEN};
use crate::crypto::keys::{DataKey, SubKey};
use crate::crypto::CryptoError;
use crate::store::{AsyncStore, Op, StoreError, Tree};

const HEADER_KEY: &[u8] = b"header";
/// WARNING: subkey labels are part of the data format; never change them.
const AUDIT_LABEL: &str = "audit-chain";
const FINGERPRINT_LABEL: &str = "token-fingerprint";

/// The keys available while the vault is unsealed.
pub struct Keyring {
    data: DataKey,
    audit: SubKey,
    fingerprint: SubKey,
}

impl Keyring {
    fn new(data: DataKey) -> Self {
        let audit = data.derive_subkey(AUDIT_LABEL);
        let fingerprint = data.derive_subkey(FINGERPRINT_LABEL);
        Self {
            data,
            audit,
            fingerprint,
        }
    }

    /// Seals and opens records.
    pub fn data_key(&self) -> &DataKey {
        &self.data
    }

    /// Keys the audit hash chain.
    pub fn audit_key(&self) -> &SubKey {
        &self.audit
    }

    /// HMAC fingerprint of an issued token, for audit events: lets an
    /// auditor holding a leaked token find where it was issued, without the
    /// trail ever holding the token.
    pub fn fingerprint(&self, token: &str) -> String {
        let mac = self.fingerprint.mac(token.as_bytes());
        let hex = hex::encode(&mac[..16]);
        format!("fp_{hex}")
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

/// The stored vault header. Holds no secret: the data key is wrapped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: u32,
    kdf: KdfParams,
    salt: String,
    wrapped_data_key: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    rekeyed_at: Option<OffsetDateTime>,
}

impl Header {
    fn salt(&self) -> Result<[u8; SALT_LEN], VaultError> {
        let bytes = B64
            .decode(&self.salt)
            .map_err(|_| VaultError::CorruptHeader)?;
        bytes.try_into().map_err(|_| VaultError::CorruptHeader)
    }

    fn wrapped(&self) -> Result<Vec<u8>, VaultError> {
        B64.decode(&self.wrapped_data_key)
            .map_err(|_| VaultError::CorruptHeader)
    }

    fn seal_new(
        data: &DataKey,
        passphrase: &SecretString,
        kdf: KdfParams,
    ) -> Result<Self, VaultError> {
        let salt = make_salt();
        let wrapping = derive_wrapping_key(passphrase, &salt, &kdf)?;
        Ok(Self {
            format: 1,
            kdf,
            salt: B64.encode(salt),
            wrapped_data_key: B64.encode(wrapping.wrap(data)?),
            created_at: OffsetDateTime::now_utc(),
            rekeyed_at: None,
        })
    }

    fn to_op(&self) -> Result<Op, VaultError> {
        Ok(Op::Put {
            tree: Tree::Meta,
            key: HEADER_KEY.to_vec(),
            value: serde_json::to_vec(self).map_err(|_| VaultError::CorruptHeader)?,
        })
    }
}

/// Lifecycle failures.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No vault in this data directory yet.
    #[error("the vault is not initialised; run `zoho-vault init` first")]
    NotInitialized,
    /// `init` on a data directory that already holds a vault.
    #[error("the vault is already initialised; nothing was changed")]
    AlreadyInitialized,
    /// The passphrase does not unwrap the data key.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// This source must wait before it may try a passphrase again (it
    /// failed recently, or its previous attempt is still running).
    #[error("too many unseal attempts from this address; retry in {retry_after} s")]
    UnsealThrottled {
        /// Whole seconds until this source may try again.
        retry_after: u64,
    },
    /// Other clients' attempts fill the unseal queue.
    #[error("other unseal attempts are running; retry shortly")]
    UnsealBusy,
    /// The operation needs the keys and the vault is sealed.
    #[error("the vault is sealed")]
    Sealed,
    /// The header cannot be parsed.
    #[error("the vault header is corrupt")]
    CorruptHeader,
    /// Bad KDF parameters or a crypto failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Outcome of an unseal call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsealed {
    /// The keys were loaded by this call.
    Now,
    /// The vault was already unsealed; the passphrase was not checked.
    Already,
}

/// The vault: store plus the in-memory keys when unsealed.
pub struct Vault {
    store: AsyncStore,
    keyring: RwLock<Option<Arc<Keyring>>>,
    gate: Arc<gate::Gate>,
    initialized: std::sync::atomic::AtomicBool,
}

impl Vault {
    /// A sealed vault over `store`.
    pub fn new(store: AsyncStore, unseal: UnsealSettings) -> Self {
        Self {
            store,
            keyring: RwLock::new(None),
            gate: gate::Gate::new(unseal),
            initialized: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &AsyncStore {
        &self.store
    }

    async fn header(&self) -> Result<Option<Header>, VaultError> {
        match self.store.get(Tree::Meta, HEADER_KEY.to_vec()).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| VaultError::CorruptHeader),
            None => Ok(None),
        }
    }

    /// Whether a header exists.
    pub async fn is_initialized(&self) -> Result<bool, VaultError> {
        // Once a header exists it never goes away, so a positive answer is
        // remembered: health checks then never touch the store.
        if self.initialized.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(true);
        }
        let found = self.header().await?.is_some();
        self.initialized
            .store(found, std::sync::atomic::Ordering::Relaxed);
        Ok(found)
    }

    /// Whether the keys are absent from memory.
    pub fn is_sealed(&self) -> bool {
        self.keyring.read().map(|k| k.is_none()).unwrap_or(true)
    }

    /// The keys, or [`VaultError::Sealed`].
    pub fn keyring(&self) -> Result<Arc<Keyring>, VaultError> {
        self.keyring
            .read()
            .ok()
            .and_then(|k| k.clone())
            .ok_or(VaultError::Sealed)
    }

    fn install(&self, keyring: Keyring) {
        if let Ok(mut slot) = self.keyring.write() {
            *slot = Some(Arc::new(keyring));
        }
    }

    /// Creates the header and runs `first_records` (e.g. the first admin
    /// token) in the same atomic batch; leaves the vault unsealed. Refuses,
    /// changing nothing, when a header exists.
    pub async fn initialize<F>(
        &self,
        passphrase: SecretString,
        kdf: KdfParams,
        first_records: F,
    ) -> Result<(), VaultError>
    where
        F: FnOnce(&Keyring) -> Result<Vec<Op>, VaultError>,
    {
        kdf.check()?;
        if self.header().await?.is_some() {
            return Err(VaultError::AlreadyInitialized);
        }
        let data = DataKey::make();
        let (header, data) = tokio::task::spawn_blocking(move || {
            Header::seal_new(&data, &passphrase, kdf).map(|h| (h, data))
        })
        .await
        .map_err(|_| StoreError::Task)??;
        let keyring = Keyring::new(data);
        let mut ops = vec![header.to_op()?];
        ops.extend(first_records(&keyring)?);
        self.store.apply(ops).await?;
        self.install(keyring);
        Ok(())
    }

    /// Loads the keys with the passphrase tried from `peer` (the client's
    /// IP address; `None` on the host). A source inside its back-off, or
    /// one whose previous attempt still runs, is refused at once
    /// ([`VaultError::UnsealThrottled`]), as is any attempt while the key
    /// derivation and its small queue are taken ([`VaultError::UnsealBusy`]).
    /// A wrong passphrase changes nothing but its source's back-off.
    pub async fn unseal(
        &self,
        passphrase: SecretString,
        peer: Option<&str>,
    ) -> Result<Unsealed, VaultError> {
        if !self.is_sealed() {
            return Ok(Unsealed::Already);
        }
        let pass = self.gate.admit(peer).await.map_err(|r| match r {
            gate::Refusal::Source { retry_after } => VaultError::UnsealThrottled { retry_after },
            gate::Refusal::Busy => VaultError::UnsealBusy,
        })?;
        if !self.is_sealed() {
            return Ok(Unsealed::Already);
        }
        let header = self.header().await?.ok_or(VaultError::NotInitialized)?;
        match Self::open_header(header, passphrase).await {
            Ok(data) => {
                pass.succeeded();
                self.install(Keyring::new(data));
                Ok(Unsealed::Now)
            }
            Err(VaultError::WrongPassphrase) => {
                pass.failed();
                Err(VaultError::WrongPassphrase)
            }
            Err(other) => Err(other),
        }
    }

    async fn open_header(header: Header, passphrase: SecretString) -> Result<DataKey, VaultError> {
        tokio::task::spawn_blocking(move || {
            let wrapping = derive_wrapping_key(&passphrase, &header.salt()?, &header.kdf)?;
            wrapping
                .unwrap_key(&header.wrapped()?)
                .map_err(|e| match e {
                    CryptoError::Decrypt => VaultError::WrongPassphrase,
                    other => VaultError::Crypto(other),
                })
        })
        .await
        .map_err(|_| StoreError::Task)?
    }

    /// Drops the keys from memory. Returns whether it was unsealed.
    pub fn seal(&self) -> bool {
        match self.keyring.write() {
            Ok(mut slot) => slot.take().is_some(),
            Err(_) => false,
        }
    }

    /// Re-wraps the data key under a new passphrase (and the given KDF
    /// parameters). Nothing but the header is rewritten; the old passphrase
    /// stops working.
    pub async fn rekey(
        &self,
        old: SecretString,
        new: SecretString,
        kdf: KdfParams,
    ) -> Result<(), VaultError> {
        kdf.check()?;
        let header = self.header().await?.ok_or(VaultError::NotInitialized)?;
        let created_at = header.created_at;
        let data = Self::open_header(header, old).await?;
        let mut fresh = tokio::task::spawn_blocking(move || Header::seal_new(&data, &new, kdf))
            .await
            .map_err(|_| StoreError::Task)??;
        fresh.created_at = created_at;
        fresh.rekeyed_at = Some(OffsetDateTime::now_utc());
        self.store.apply(vec![fresh.to_op()?]).await?;
        Ok(())
    }

    /// The data key, opened with the passphrase without unsealing (for an
    /// offline backup of a stopped vault).
    pub async fn data_key_with(&self, passphrase: SecretString) -> Result<DataKey, VaultError> {
        let header = self.header().await?.ok_or(VaultError::NotInitialized)?;
        Self::open_header(header, passphrase).await
    }

    /// The data key from a vault header's stored bytes (e.g. the one in a
    /// backup file), opened with the passphrase. Blocking: one KDF run.
    pub fn open_stored_header(
        bytes: &[u8],
        passphrase: &SecretString,
    ) -> Result<DataKey, VaultError> {
        let header: Header =
            serde_json::from_slice(bytes).map_err(|_| VaultError::CorruptHeader)?;
        let wrapping = derive_wrapping_key(passphrase, &header.salt()?, &header.kdf)?;
        wrapping
            .unwrap_key(&header.wrapped()?)
            .map_err(|e| match e {
                CryptoError::Decrypt => VaultError::WrongPassphrase,
                other => VaultError::Crypto(other),
            })
    }

    /// The KDF parameters stored in the header.
    pub async fn kdf_params(&self) -> Result<KdfParams, VaultError> {
        Ok(self.header().await?.ok_or(VaultError::NotInitialized)?.kdf)
    }
}
