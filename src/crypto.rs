//! Key material and cryptographic primitives of the vault.
//!
//! - [`kdf`]: Argon2id derives the wrapping key from the operator's passphrase.
//! - [`keys`]: the random data key, the wrapping key and subkeys derived from
//!   the data key; all zeroized on drop and never printed.
//! - [`aead`]: XChaCha20-Poly1305 sealing of records, bound to their identity.
//! - [`token`]: bearer tokens (`zva_`, `zvs_`) and their stored hashes.
//!
//! Nothing in this module logs, and no error carries key material, plaintext
//! or ciphertext.

pub mod aead;
pub mod kdf;
pub mod keys;
pub mod token;

/// Failures of the cryptographic layer. Deliberately coarse: an attacker
/// learns nothing from which check failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, tampered bytes, or a ciphertext
    /// presented as a different record than the one it was sealed for.
    #[error("decryption failed: wrong key, or the data was altered or moved")]
    Decrypt,
    /// The sealed bytes are too short or carry an unknown format version.
    #[error("sealed data is malformed: {0}")]
    Malformed(&'static str),
    /// Argon2 parameters outside the accepted range.
    #[error("key derivation parameters rejected: {0}")]
    KdfParams(String),
    /// The key derivation itself failed.
    #[error("key derivation failed")]
    Kdf,
    /// Encryption failed (only on absurd input sizes).
    #[error("encryption failed")]
    Encrypt,
}
