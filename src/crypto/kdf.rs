//! Argon2id derivation of the wrapping key from the operator's passphrase.
//!
//! The parameters and the salt live in the vault header so that a vault
//! created with stronger settings keeps working after the defaults change.
//! Parameters below [`KdfParams::FLOOR`] are refused both when a vault is
//! created and when a header is read, so a tampered header cannot downgrade
//! the work factor; parameters above [`KdfParams::CEILING`] are refused too,
//! so a tampered header cannot make unseal exhaust memory.

use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::keys::WrappingKey;
use super::CryptoError;

/// Length of the random salt stored in the vault header.
pub const SALT_LEN: usize = 16;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Memory cost in KiB (`kdf.memory_kib`, `ZOHO_VAULT_KDF__MEMORY_KIB`).
    pub memory_kib: u32,
    /// Number of passes (`kdf.passes`, `ZOHO_VAULT_KDF__PASSES`).
    pub passes: u32,
    /// Degree of parallelism (`kdf.lanes`, `ZOHO_VAULT_KDF__LANES`).
    pub lanes: u32,
}

impl KdfParams {
    /// RFC 9106 section 4, second recommended option: 64 MiB, 3 passes.
    pub const FLOOR: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        passes: 3,
        lanes: 1,
    };
    /// Upper bounds, so that a hostile header cannot make unseal run out of
    /// memory or spin for hours.
    pub const CEILING: KdfParams = KdfParams {
        memory_kib: 4 * 1024 * 1024,
        passes: 64,
        lanes: 16,
    };

    /// Refuses parameters outside `[FLOOR, CEILING]`, naming the offender.
    pub fn check(&self) -> Result<(), CryptoError> {
        let (lo, hi) = (Self::FLOOR, Self::CEILING);
        let fields = [
            ("memory_kib", self.memory_kib, lo.memory_kib, hi.memory_kib),
            ("passes", self.passes, lo.passes, hi.passes),
            ("lanes", self.lanes, lo.lanes, hi.lanes),
        ];
        for (name, value, min, max) in fields {
            if value < min || value > max {
                return Err(CryptoError::KdfParams(format!(
                    "kdf.{name} = {value} is outside the accepted range {min}..={max}"
                )));
            }
        }
        Ok(())
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::FLOOR
    }
}

/// Derives the key that wraps the data key. CPU- and memory-heavy by design:
/// call it from a blocking thread.
pub fn derive_wrapping_key(
    passphrase: &SecretString,
    salt: &[u8; SALT_LEN],
    params: &KdfParams,
) -> Result<WrappingKey, CryptoError> {
    params.check()?;
    let argon_params = Params::new(
        params.memory_kib,
        params.passes,
        params.lanes,
        Some(WrappingKey::LEN),
    )
    .map_err(|e| CryptoError::KdfParams(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut key = WrappingKey::zeroed();
    argon
        .hash_password_into(
            passphrase.expose_secret().as_bytes(),
            salt,
            key.as_mut_bytes(),
        )
        .map_err(|_| CryptoError::Kdf)?;
    Ok(key)
}

/// A fresh random salt.
pub fn make_salt() -> [u8; SALT_LEN] {
    use rand::RngCore;
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_meet_rfc_9106_second_recommendation() {
        let p = KdfParams::default();
        assert!(p.memory_kib >= 64 * 1024);
        assert!(p.passes >= 3);
        assert!(p.check().is_ok());
    }

    #[test]
    fn parameters_below_the_floor_are_refused_by_name() {
        let weak = KdfParams {
            memory_kib: 1024,
            ..KdfParams::default()
        };
        let err = weak.check().expect_err("weak params must be refused");
        assert!(err.to_string().contains("memory_kib"), "{err}");
        let one_pass = KdfParams {
            passes: 1,
            ..KdfParams::default()
        };
        assert!(one_pass.check().is_err());
        let salt = make_salt();
        let pass = SecretString::from("correct horse".to_string());
        assert!(derive_wrapping_key(&pass, &salt, &weak).is_err());
    }

    #[test]
    fn parameters_above_the_ceiling_are_refused() {
        let huge = KdfParams {
            memory_kib: u32::MAX,
            ..KdfParams::default()
        };
        assert!(huge.check().is_err());
    }

    #[test]
    fn derivation_is_deterministic_for_same_salt_and_differs_across_salts() {
        let pass = SecretString::from("correct horse".to_string());
        let salt = make_salt();
        let p = KdfParams::default();
        let a = derive_wrapping_key(&pass, &salt, &p).expect("derive");
        let b = derive_wrapping_key(&pass, &salt, &p).expect("derive");
        assert!(a == b);
        let c = derive_wrapping_key(&pass, &make_salt(), &p).expect("derive");
        assert!(a != c);
    }
}
