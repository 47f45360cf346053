//! Standard Webhooks 1.0 signatures (standardwebhooks.com): the secret is
//! `whsec_` plus base64 of random bytes; the signature is
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
//! secret's decoded bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Prefix of every signing secret.
pub const PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A fresh signing secret, `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> SecretString {
    let mut bytes = zeroize::Zeroizing::new([0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    SecretString::from(format!("{PREFIX}{}", STANDARD.encode(bytes.as_ref())))
}

/// The key bytes of a secret (with or without the prefix).
fn key_bytes(secret: &SecretString) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let text = secret.expose_secret();
    let b64 = text.strip_prefix(PREFIX).unwrap_or(text);
    STANDARD.decode(b64).ok().map(zeroize::Zeroizing::new)
}

/// The `webhook-signature` header value for one attempt, or `None` when
/// the stored secret is not valid base64 (damage: the attempt fails).
pub fn sign(secret: &SecretString, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_bytes(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Whether any `v1` signature in `header` (space separated) signs
/// `id.timestamp.body` with `secret`, compared in constant time. What a
/// receiver does; the vault uses it in its own tests.
pub fn verify(secret: &SecretString, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(key) = key_bytes(secret) else {
        return false;
    };
    header.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(given) = STANDARD.decode(b64) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&given).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks reference
    // libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn signing_reproduces_the_specification_test_vector() {
        assert_eq!(
            sign(&secret(SECRET), ID, TS, BODY).expect("test value"),
            SIGNATURE
        );
    }

    #[test]
    fn verification_accepts_the_vector_and_refuses_any_change() {
        let s = secret(SECRET);
        assert!(verify(&s, ID, TS, BODY, SIGNATURE));
        assert!(verify(
            &s,
            ID,
            TS,
            BODY,
            &format!("v1,bm9wZQ== {SIGNATURE}")
        ));
        assert!(!verify(&s, ID, TS + 1, BODY, SIGNATURE));
        assert!(!verify(&s, "msg_other", TS, BODY, SIGNATURE));
        assert!(!verify(&s, ID, TS, br#"{"test": 2432232315}"#, SIGNATURE));
        let wrong = secret("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert!(!verify(&wrong, ID, TS, BODY, SIGNATURE));
    }

    #[test]
    fn a_new_secret_has_the_prefix_and_at_least_24_random_bytes() {
        let a = new_secret();
        let b = new_secret();
        let text = a.expose_secret();
        assert!(text.starts_with(PREFIX));
        let bytes = STANDARD.decode(&text[PREFIX.len()..]).expect("test value");
        assert!(bytes.len() >= 24);
        assert_ne!(text, b.expose_secret());
    }
}
