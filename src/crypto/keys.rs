//! Symmetric keys: the data key, the passphrase-derived wrapping key, and
//! purpose-bound subkeys derived from the data key.
//!
//! Every key lives in a heap box (so moves do not leave copies on the stack),
//! is zeroized on drop, compares in constant time, and prints as
//! `DataKey(..)`: a log line or a panic message cannot leak it.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

const KEY_LEN: usize = 32;

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name(Box<[u8; KEY_LEN]>);

        impl $name {
            /// Key length in bytes (256 bits).
            pub const LEN: usize = KEY_LEN;

            /// The raw key bytes; only the crypto module should need them.
            pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            #[allow(dead_code)]
            pub(crate) fn zeroed() -> Self {
                Self(Box::new([0u8; KEY_LEN]))
            }

            #[allow(dead_code)]
            pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8; KEY_LEN] {
                &mut self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&*other.0).into()
            }
        }
        impl Eq for $name {}
    };
}

secret_key!(
    /// The random 256-bit key that seals every record. Stored only wrapped by
    /// the [`WrappingKey`].
    DataKey
);
secret_key!(
    /// The key derived from the passphrase with Argon2id; it only wraps and
    /// unwraps the [`DataKey`].
    WrappingKey
);
secret_key!(
    /// A key derived from the data key for one purpose (audit chain, token
    /// fingerprints), so that purposes cannot be confused.
    SubKey
);

impl DataKey {
    /// A fresh random data key from the operating system's generator.
    pub fn make() -> Self {
        let mut key = Self::zeroed();
        rand::rngs::OsRng.fill_bytes(key.as_mut_bytes());
        key
    }

    /// Rebuilds a data key from unwrapped bytes, zeroizing the source.
    pub(crate) fn from_bytes(bytes: &mut [u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            bytes.zeroize();
            return None;
        }
        let mut key = Self::zeroed();
        key.as_mut_bytes().copy_from_slice(bytes);
        bytes.zeroize();
        Some(key)
    }

    /// Derives a purpose-bound subkey: HMAC-SHA256(data key, label). The
    /// label must be unique per purpose and never change once data exists.
    pub fn derive_subkey(&self, label: &str) -> SubKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"zoho-vault subkey v1\0");
        mac.update(label.as_bytes());
        let mut out = mac.finalize().into_bytes();
        let mut key = SubKey::zeroed();
        key.as_mut_bytes().copy_from_slice(&out);
        out.zeroize();
        key
    }
}

impl SubKey {
    /// An HMAC-SHA256 under this subkey, for data fed in pieces.
    pub fn hmac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.as_bytes())
            .expect("HMAC accepts keys of any length")
    }

    /// HMAC-SHA256 of `data` under this subkey.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let key = DataKey::make();
        let shown = format!("{key:?}");
        assert_eq!(shown, "DataKey(..)");
        let sub = key.derive_subkey("audit");
        assert_eq!(format!("{sub:?}"), "SubKey(..)");
        assert_eq!(format!("{:?}", WrappingKey::zeroed()), "WrappingKey(..)");
    }

    #[test]
    fn fresh_data_keys_differ() {
        assert!(DataKey::make() != DataKey::make());
    }

    #[test]
    fn subkeys_are_bound_to_their_label() {
        let key = DataKey::make();
        assert!(key.derive_subkey("audit") == key.derive_subkey("audit"));
        assert!(key.derive_subkey("audit") != key.derive_subkey("fingerprint"));
    }

    #[test]
    fn from_bytes_rejects_wrong_length_and_wipes_input() {
        let mut short = vec![7u8; 16];
        assert!(DataKey::from_bytes(&mut short).is_none());
        assert!(short.iter().all(|b| *b == 0));
        let mut ok = vec![9u8; 32];
        assert!(DataKey::from_bytes(&mut ok).is_some());
        assert!(ok.iter().all(|b| *b == 0));
    }
}
