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
//! Lifetime normalisation (Zoho answered in milliseconds before 2019 and in
//! seconds since; both shapes are still seen):
//! - `expires_in_sec` present (legacy, before 2019): `expires_in` is in
//!   milliseconds; if `expires_in` is missing, `expires_in_sec` is used.
//! - `expires_in` ≥ 100 000 without `expires_in_sec`: taken as milliseconds
//!   too. Zoho tokens live 3600 s; 100 000 s (27 h) is no plausible lifetime,
//!   while 100 000 ms (100 s) is.
//! - neither field: 3600 s, Zoho's documented lifetime.
//! - the legacy pair disagreeing: the shorter of the two.
//! - the result is clamped to [`MAX_LIFETIME`] (3600 s, Zoho's documented
//!   lifetime), after the milliseconds rule: an absurd `expires_in` (1e18)
//!   must not keep a token cached for decades, and the legacy 3 600 000 ms
//!   still means an hour. The clamp can only shorten what the vault believes,
//!   the safe direction.
//!
//! A lifetime that leaves no usable time (`expires_in` 0, or negative, which
//! the parser refuses) makes the answer unusable: see `response.rs`.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use time::OffsetDateTime;

use super::ZohoError;

/// Zoho's documented access-token lifetime, assumed when `expires_in` is missing.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The longest lifetime the vault believes: Zoho documents 3600 s.
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);

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
        (Some(ms), Some(secs)) => (ms / 1000).min(secs),
        (None, Some(secs)) => secs,
        (Some(ms), None) if ms >= MILLIS_THRESHOLD => ms / 1000,
        (Some(secs), None) => secs,
        (None, None) => DEFAULT_LIFETIME.as_secs(),
    };
    Duration::from_secs(secs).min(MAX_LIFETIME)
}

/// `grant` if it is still valid at `now` (when its answer arrived), else
/// the transient `InvalidResponse`: a token whose life ran out on the way
/// (slow answer, tiny lifetime) is never handed out as a success.
pub fn unexpired_at(grant: Grant, now: OffsetDateTime) -> Result<Grant, ZohoError> {
    if grant.expires_at > now {
        Ok(grant)
    } else {
        Err(ZohoError::InvalidResponse(
            "the token had expired by the time Zoho's answer arrived".into(),
        ))
    }
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
        // Seconds, but more than Zoho documents: clamped.
        assert_eq!(
            normalise_lifetime(Some(99_999), None),
            Duration::from_secs(3600)
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
    fn absurd_lifetimes_are_clamped_after_the_milliseconds_rule() {
        let hour = Duration::from_secs(3600);
        assert_eq!(normalise_lifetime(Some(u64::MAX), None), hour);
        assert_eq!(
            normalise_lifetime(Some(1_000_000_000_000_000_000), None),
            hour
        );
        assert_eq!(normalise_lifetime(None, Some(u64::MAX)), hour);
        assert_eq!(normalise_lifetime(Some(u64::MAX), Some(u64::MAX)), hour);
        assert_eq!(normalise_lifetime(Some(7200), None), hour);
        // The legacy hour in milliseconds is an hour, not clamped from 1000 h.
        assert_eq!(normalise_lifetime(Some(3_600_000), Some(3600)), hour);
        // A legacy pair that disagrees: the shorter.
        assert_eq!(
            normalise_lifetime(Some(3_600_000), Some(60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            normalise_lifetime(Some(60_000), Some(3600)),
            Duration::from_secs(60)
        );
    }

    fn grant_expiring_at(expires_at: OffsetDateTime) -> Grant {
        Grant {
            access_token: SecretString::from("t"),
            refresh_token: None,
            api_domain: None,
            scope: None,
            token_type: None,
            expires_in: Duration::from_secs(10),
            expires_at,
        }
    }

    #[test]
    fn a_token_expired_on_arrival_is_refused_as_transient() {
        let at = datetime!(2026-01-01 12:00:05 UTC);
        let arrived_late = datetime!(2026-01-01 12:00:06 UTC);
        let err = unexpired_at(grant_expiring_at(at), arrived_late).expect_err("expired");
        assert_eq!(err.class(), crate::zoho::ErrorClass::Transient);
        assert!(unexpired_at(grant_expiring_at(at), at).is_err());
        let arrived = datetime!(2026-01-01 12:00:04 UTC);
        assert!(unexpired_at(grant_expiring_at(at), arrived).is_ok());
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
