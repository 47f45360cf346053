//! Bearer tokens: `zva_` (admin) and `zvs_` (service).
//!
//! A token is the prefix followed by 32 random bytes in unpadded URL-safe
//! base64 (43 characters, 256 bits). Only its SHA-256 hash is stored: the
//! token itself has full entropy, so a fast hash is enough and a copy of the
//! data directory yields nothing usable (the crates.io scheme, with more
//! random bytes). The prefixes let secret scanners find leaked tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// WARNING: never change these prefixes; issued tokens and secret scanners
/// rely on them.
pub const ADMIN_PREFIX: &str = "zva_";
/// See [`ADMIN_PREFIX`].
pub const SERVICE_PREFIX: &str = "zvs_";
const RANDOM_BYTES: usize = 32;
const ENCODED_LEN: usize = 43;

/// Who a token speaks for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Full administrative access.
    Admin,
    /// Token issue for granted connections only.
    Service,
}

impl TokenKind {
    /// The token prefix for this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Admin => ADMIN_PREFIX,
            TokenKind::Service => SERVICE_PREFIX,
        }
    }
}

/// A freshly made token, shown to its owner once and then dropped.
pub struct PlainToken {
    kind: TokenKind,
    secret: SecretString,
}

impl PlainToken {
    /// A new random token of the given kind.
    pub fn make(kind: TokenKind) -> Self {
        let mut bytes = zeroize::Zeroizing::new([0u8; RANDOM_BYTES]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        let secret = format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes.as_ref())
        );
        Self {
            kind,
            secret: SecretString::from(secret),
        }
    }

    /// The kind this token was made for.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The token text, to show once.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The hash under which the token is stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.secret.expose_secret())
    }
}

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlainToken({}..)", self.kind.prefix())
    }
}

/// SHA-256 of a token; what the store keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a presented token.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// The raw hash, used as the store key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time comparison with a stored hash.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Checks the shape of a presented bearer token and hashes it. Returns
/// `None` for anything that cannot be a token of ours, so garbage is
/// rejected before it reaches the store.
pub fn parse_bearer(presented: &str) -> Option<(TokenKind, TokenHash)> {
    let kind = if presented.starts_with(ADMIN_PREFIX) {
        TokenKind::Admin
    } else if presented.starts_with(SERVICE_PREFIX) {
        TokenKind::Service
    } else {
        return None;
    };
    let body = &presented[kind.prefix().len()..];
    let well_formed = body.len() == ENCODED_LEN
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| (kind, TokenHash::of(presented)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_prefix_and_256_bits() {
        let admin = PlainToken::make(TokenKind::Admin);
        assert!(admin.expose().starts_with("zva_"));
        assert_eq!(admin.expose().len(), 4 + ENCODED_LEN);
        let service = PlainToken::make(TokenKind::Service);
        assert!(service.expose().starts_with("zvs_"));
        assert_ne!(admin.expose()[4..], service.expose()[4..]);
    }

    #[test]
    fn parse_accepts_made_tokens_and_matches_their_hash() {
        let t = PlainToken::make(TokenKind::Service);
        let (kind, hash) = parse_bearer(t.expose()).expect("well formed");
        assert_eq!(kind, TokenKind::Service);
        assert!(hash.ct_eq(t.hash().as_bytes()));
    }

    #[test]
    fn parse_rejects_malformed_tokens() {
        for bad in [
            "",
            "zva_",
            "zva_short",
            "Bearer zva_x",
            "zvx_AAAA",
            &"zva_".repeat(20),
        ] {
            assert!(parse_bearer(bad).is_none(), "{bad}");
        }
        let t = PlainToken::make(TokenKind::Admin);
        let with_bad_char = format!("{}!", &t.expose()[..t.expose().len() - 1]);
        assert!(parse_bearer(&with_bad_char).is_none());
    }

    #[test]
    fn debug_output_is_redacted() {
        let t = PlainToken::make(TokenKind::Admin);
        let shown = format!("{t:?} {:?}", t.hash());
        assert!(!shown.contains(&t.expose()[4..]));
        assert_eq!(shown, "PlainToken(zva_..) TokenHash(..)");
    }
}
