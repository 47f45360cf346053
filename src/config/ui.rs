//! The admin console (`ui.*`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The admin console under `/ui/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// Whether `/ui/` is served (`ui.enabled`, `ZOHO_VAULT_UI__ENABLED`).
    /// Unset: on when `listen` is a loopback address, off otherwise, so a
    /// vault exposed on a network shows no login page unless asked to.
    pub enabled: Option<bool>,
    /// How long a console session lasts after login (`ui.session_ttl`,
    /// `ZOHO_VAULT_UI__SESSION_TTL`): whole seconds or a duration such as
    /// `"8h"` or `"90m"`. Sealing the vault ends every session sooner.
    pub session_ttl: SessionTtl,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            session_ttl: SessionTtl(Duration::from_secs(8 * 3600)),
        }
    }
}

impl UiSettings {
    /// Whether the console is on for a server listening on `listen`.
    pub fn enabled_for(&self, listen: &str) -> bool {
        self.enabled.unwrap_or_else(|| is_loopback(listen))
    }
}

/// Whether a listen address (`host:port`) is a loopback address; a name
/// that is not an IP counts as loopback only for `localhost`.
fn is_loopback(listen: &str) -> bool {
    if let Ok(addr) = listen.parse::<std::net::SocketAddr>() {
        return addr.ip().to_canonical().is_loopback();
    }
    listen
        .rsplit_once(':')
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
}

/// A session lifetime: at least one second, at most 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTtl(pub Duration);

const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// `31 days`, `90000 s`: humantime would say `1month 13h 26m 24s` for 31d.
fn in_days_or_seconds(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 86_400 && secs.is_multiple_of(86_400) {
        format!("{} days", secs / 86_400)
    } else {
        format!("{secs} s")
    }
}

impl SessionTtl {
    fn checked(d: Duration) -> Result<Self, String> {
        if d < Duration::from_secs(1) || d > MAX_TTL {
            return Err(format!(
                "`ui.session_ttl` must be between 1s and 30 days, not {}",
                in_days_or_seconds(d)
            ));
        }
        Ok(Self(d))
    }
}

impl Serialize for SessionTtl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0.as_secs())
    }
}

impl<'de> Deserialize<'de> for SessionTtl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Whole seconds or a duration such as "8h", read as every duration
        // setting is.
        let d_ = super::Age::deserialize(d)?.0;
        Self::checked(d_).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(json: &str) -> Result<SessionTtl, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn session_ttl_reads_seconds_or_a_duration() {
        assert_eq!(
            ttl("3600").ok(),
            Some(SessionTtl(Duration::from_secs(3600)))
        );
        assert_eq!(
            ttl("\"8h\"").ok(),
            Some(SessionTtl(Duration::from_secs(28_800)))
        );
        assert_eq!(
            ttl("\"90\"").ok(),
            Some(SessionTtl(Duration::from_secs(90)))
        );
        assert!(ttl("\"soon\"").is_err());
        assert!(ttl("0").is_err());
        assert!(ttl("\"365days\"").is_err());
    }

    #[test]
    fn the_console_is_on_by_default_only_on_loopback() {
        let ui = UiSettings::default();
        assert!(ui.enabled_for("127.0.0.1:8700"));
        assert!(ui.enabled_for("[::1]:8700"));
        assert!(ui.enabled_for("localhost:8700"));
        assert!(!ui.enabled_for("0.0.0.0:8700"));
        assert!(!ui.enabled_for("10.1.2.3:8700"));
        let on = UiSettings {
            enabled: Some(true),
            ..UiSettings::default()
        };
        assert!(on.enabled_for("0.0.0.0:8700"));
    }
}
