//! `Grant`, the tokens Zoho hands back, and the expiry rule.
//!
//! Expiry rule: `expires_at = sent_at + max(lifetime - margin, lifetime / 2)`,
//! where `sent_at` is when the successful attempt's request was *sent* (so a
//! slow answer never makes a token look younger than it is), `lifetime` is
//! Zoho's `expires_in` normalised to seconds, and `margin` is the client's
//! `expiry_margin` (60 s by default). The `lifetime / 2` floor keeps tiny
//! lifetimes (tests, fakes) meaningful: a 10 s token with a 60 s margin
//! expires 5 s after sending rather than before it was sent.
//!
//! Lifetime normalisation (docs/zoho.md):
//! - `expires_in_sec` present (legacy, before 2019): `expires_in` is in
//!   milliseconds; if `expires_in` is missing, `expires_in_sec` is used.
//! - `expires_in` ≥ 100 000 without `expires_in_sec`: taken as milliseconds
//!   too. Zoho tokens live 3600 s; 100 000 s (27 h) is no plausible lifetime,
//!   while 100 000 ms (100 s) is.
//! - neither field: 3600 s, Zoho's documented lifetime.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use time::OffsetDateTime;

/// Zoho's documented access-token lifetime, assumed when `expires_in` is missing.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// At or above this, an `expires_in` without `expires_in_sec` is milliseconds.
pub const MILLIS_THRESHOLD: u64 = 100_000;

/// A successful token-endpoint answer. `Debug` redacts the tokens.
#[derive(Clone)]
pub struct Grant {
    /// The access token (`1000.<hex>.<hex>`).
    pub access_token: SecretString,
    /// Present on a code exchange; Zoho does not rotate it on refresh, but a
    /// standard OAuth server may (the caller must then store the new one).
    pub refresh_token: Option<SecretString>,
    /// The API host for later calls, e.g. `https://www.zohoapis.eu`.
    pub api_domain: Option<String>,
    /// Granted scopes, split on spaces or commas; `None` when Zoho omits them.
    pub scope: Option<Vec<String>>,
    /// Usually `Bearer`; send it as `Zoho-oauthtoken` anyway.
    pub token_type: Option<String>,
    /// The lifetime Zoho announced, normalised to seconds.
    pub expires_in: Duration,
    /// When the vault stops handing this token out (see the module docs).
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("access_token", &"[REDACTED]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("api_domain", &self.api_domain)
            .field("scope", &self.scope)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Normalises Zoho's `expires_in` / `expires_in_sec` pair to a lifetime in
/// whole seconds (see the module docs for the rule).
pub fn normalise_lifetime(expires_in: Option<u64>, expires_in_sec: Option<u64>) -> Duration {
    let secs = match (expires_in, expires_in_sec) {
        (Some(ms), Some(_)) => ms / 1000,
        (None, Some(secs)) => secs,
        (Some(ms), None) if ms >= MILLIS_THRESHOLD => ms / 1000,
        (Some(secs), None) => secs,
        (None, None) => DEFAULT_LIFETIME.as_secs(),
    };
    Duration::from_secs(secs)
}

/// `sent_at + max(lifetime - margin, lifetime / 2)`; `None` on overflow.
pub fn compute_expires_at(
    sent_at: OffsetDateTime,
    lifetime: Duration,
    margin: Duration,
) -> Option<OffsetDateTime> {
    let usable = lifetime.saturating_sub(margin).max(lifetime / 2);
    let usable = time::Duration::try_from(usable).ok()?;
    sent_at.checked_add(usable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn lifetime_normalisation() {
        assert_eq!(
            normalise_lifetime(Some(3600), None),
            Duration::from_secs(3600)
        );
        assert_eq!(
            normalise_lifetime(Some(3_600_000), Some(3600)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            normalise_lifetime(None, Some(1800)),
            Duration::from_secs(1800)
        );
        assert_eq!(
            normalise_lifetime(Some(3_600_000), None),
            Duration::from_secs(3600)
        );
        assert_eq!(
            normalise_lifetime(Some(99_999), None),
            Duration::from_secs(99_999)
        );
        assert_eq!(
            normalise_lifetime(Some(100_000), None),
            Duration::from_secs(100)
        );
        // Legacy with a small ms value: still ms.
        assert_eq!(
            normalise_lifetime(Some(5000), Some(5)),
            Duration::from_secs(5)
        );
        assert_eq!(normalise_lifetime(None, None), DEFAULT_LIFETIME);
    }

    #[test]
    fn expiry_is_send_time_plus_lifetime_minus_margin() {
        let sent = datetime!(2026-01-01 12:00:00 UTC);
        let at = compute_expires_at(sent, Duration::from_secs(3600), Duration::from_secs(60));
        assert_eq!(at, Some(datetime!(2026-01-01 12:59:00 UTC)));
    }

    #[test]
    fn expiry_never_below_half_the_lifetime() {
        let sent = datetime!(2026-01-01 12:00:00 UTC);
        let at = compute_expires_at(sent, Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(at, Some(datetime!(2026-01-01 12:00:05 UTC)));
        let at = compute_expires_at(sent, Duration::ZERO, Duration::from_secs(60));
        assert_eq!(at, Some(sent));
        assert_eq!(
            compute_expires_at(sent, Duration::from_secs(u64::MAX / 2), Duration::ZERO),
            None
        );
    }

    #[test]
    fn debug_redacts_tokens() {
        let grant = Grant {
            access_token: SecretString::from("1000.access-secret-value"),
            refresh_token: Some(SecretString::from("1000.refresh-secret-value")),
            api_domain: Some("https://www.zohoapis.com".into()),
            scope: None,
            token_type: Some("Bearer".into()),
            expires_in: Duration::from_secs(3600),
            expires_at: datetime!(2026-01-01 12:59:00 UTC),
        };
        let dbg = format!("{grant:?} {grant:#?}");
        assert!(!dbg.contains("access-secret-value"), "{dbg}");
        assert!(!dbg.contains("refresh-secret-value"), "{dbg}");
        assert!(dbg.contains("REDACTED"));
    }
}
