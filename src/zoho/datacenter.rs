//! Zoho data centers: the accounts server and API domain of each, and the
//! allowlist check for an `accounts-server` that arrives from a browser.
//!
//! The table follows docs/zoho.md Pitfalls it encodes: Canada's
//! accounts server is `accounts.zohocloud.ca` while its API domain is
//! `www.zohoapis.ca` (not zohocloud), and Australia is `.com.au`. The AE data
//! center is left out because it is unconfirmed for Zoho Invoice.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// A Zoho data center, named in settings and uploads by its [`code`](Self::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataCenter {
    /// United States (`com`), the default.
    #[default]
    Com,
    /// Europe (`eu`).
    Eu,
    /// India (`in`).
    In,
    /// Australia (`com.au`).
    ComAu,
    /// Japan (`jp`).
    Jp,
    /// Canada (`ca`).
    Ca,
    /// Saudi Arabia (`sa`).
    Sa,
    /// United Kingdom (`uk`).
    Uk,
    /// China (`com.cn`).
    ComCn,
}

/// An unknown data-center code; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Zoho data center {given:?}; expected one of: com, eu, in, com.au, jp, ca, sa, uk, com.cn")]
pub struct UnknownDataCenter {
    /// The rejected input, truncated to 32 characters.
    pub given: String,
}

impl DataCenter {
    /// Every data center, in table order.
    pub const ALL: [DataCenter; 9] = [
        DataCenter::Com,
        DataCenter::Eu,
        DataCenter::In,
        DataCenter::ComAu,
        DataCenter::Jp,
        DataCenter::Ca,
        DataCenter::Sa,
        DataCenter::Uk,
        DataCenter::ComCn,
    ];

    /// The code used in settings and uploads (`data_center`): `com`, `eu`, …
    pub fn code(self) -> &'static str {
        match self {
            DataCenter::Com => "com",
            DataCenter::Eu => "eu",
            DataCenter::In => "in",
            DataCenter::ComAu => "com.au",
            DataCenter::Jp => "jp",
            DataCenter::Ca => "ca",
            DataCenter::Sa => "sa",
            DataCenter::Uk => "uk",
            DataCenter::ComCn => "com.cn",
        }
    }

    /// The accounts server as a string, without a trailing slash.
    pub fn accounts_url_str(self) -> &'static str {
        match self {
            DataCenter::Com => "https://accounts.zoho.com",
            DataCenter::Eu => "https://accounts.zoho.eu",
            DataCenter::In => "https://accounts.zoho.in",
            DataCenter::ComAu => "https://accounts.zoho.com.au",
            DataCenter::Jp => "https://accounts.zoho.jp",
            DataCenter::Ca => "https://accounts.zohocloud.ca",
            DataCenter::Sa => "https://accounts.zoho.sa",
            DataCenter::Uk => "https://accounts.zoho.uk",
            DataCenter::ComCn => "https://accounts.zoho.com.cn",
        }
    }

    /// The accounts server, the base URL for [`ZohoClient`](super::ZohoClient) calls.
    pub fn accounts_url(self) -> Url {
        // The table above holds constant, valid URLs; a unit test parses each.
        Url::parse(self.accounts_url_str()).expect("data-center table holds valid URLs")
    }

    /// The default API domain of this data center (Zoho's answer may name another).
    pub fn api_domain(self) -> &'static str {
        match self {
            DataCenter::Com => "https://www.zohoapis.com",
            DataCenter::Eu => "https://www.zohoapis.eu",
            DataCenter::In => "https://www.zohoapis.in",
            DataCenter::ComAu => "https://www.zohoapis.com.au",
            DataCenter::Jp => "https://www.zohoapis.jp",
            DataCenter::Ca => "https://www.zohoapis.ca",
            DataCenter::Sa => "https://www.zohoapis.sa",
            DataCenter::Uk => "https://www.zohoapis.uk",
            DataCenter::ComCn => "https://www.zohoapis.com.cn",
        }
    }

    /// The `location` value of the redirect-flow callback (`us`, `eu`, `in`,
    /// `au`, `jp`, `ca`, `sa`, `uk`, `cn`).
    pub fn location(self) -> &'static str {
        match self {
            DataCenter::Com => "us",
            DataCenter::Eu => "eu",
            DataCenter::In => "in",
            DataCenter::ComAu => "au",
            DataCenter::Jp => "jp",
            DataCenter::Ca => "ca",
            DataCenter::Sa => "sa",
            DataCenter::Uk => "uk",
            DataCenter::ComCn => "cn",
        }
    }

    /// The data center of a callback `location` code (ASCII case-insensitive).
    pub fn from_location(location: &str) -> Option<DataCenter> {
        Self::ALL
            .into_iter()
            .find(|dc| dc.location().eq_ignore_ascii_case(location))
    }

    /// The data center whose accounts server is exactly `url`: scheme `https`,
    /// the exact host, no port, no user info, an empty path (`/`), no query and
    /// no fragment. Anything else is `None`. This is the allowlist for the
    /// browser-supplied `accounts-server`: only these hosts get a client secret.
    pub fn from_accounts_url(url: &Url) -> Option<DataCenter> {
        if url.scheme() != "https"
            || url.port().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return None;
        }
        let host = url.host_str()?;
        Self::ALL
            .into_iter()
            .find(|dc| dc.accounts_url_str().strip_prefix("https://") == Some(host))
    }
}

impl fmt::Display for DataCenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for DataCenter {
    type Err = UnknownDataCenter;

    /// Parses a code (`com`, `eu`, …, ASCII case-insensitive, surrounding
    /// whitespace ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Self::ALL
            .into_iter()
            .find(|dc| dc.code().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownDataCenter {
                given: wanted.chars().take(32).collect(),
            })
    }
}

impl Serialize for DataCenter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// The codes, as serialized.
impl utoipa::PartialSchema for DataCenter {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(DataCenter::ALL.map(DataCenter::code)))
            .description(Some("A Zoho data center"))
            .into()
    }
}

impl utoipa::ToSchema for DataCenter {}

impl<'de> Deserialize<'de> for DataCenter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn table_round_trips() {
        for dc in DataCenter::ALL {
            assert_eq!(dc.code().parse::<DataCenter>(), Ok(dc));
            assert_eq!(DataCenter::from_location(dc.location()), Some(dc));
            assert_eq!(DataCenter::from_accounts_url(&dc.accounts_url()), Some(dc));
            assert!(dc.api_domain().starts_with("https://www.zohoapis."));
        }
        assert_eq!(DataCenter::default(), DataCenter::Com);
    }

    #[test]
    fn known_pitfalls() {
        assert_eq!(
            DataCenter::Ca.accounts_url_str(),
            "https://accounts.zohocloud.ca"
        );
        assert_eq!(DataCenter::Ca.api_domain(), "https://www.zohoapis.ca");
        assert_eq!(
            DataCenter::ComAu.accounts_url_str(),
            "https://accounts.zoho.com.au"
        );
        assert_eq!(DataCenter::from_location("us"), Some(DataCenter::Com));
        assert_eq!(DataCenter::from_location("cn"), Some(DataCenter::ComCn));
        assert_eq!(DataCenter::from_location("ae"), None);
    }

    #[test]
    fn parse_error_lists_codes() {
        let err = "de".parse::<DataCenter>().expect_err("unknown code");
        let msg = err.to_string();
        assert!(msg.contains("\"de\""), "{msg}");
        assert!(msg.contains("com.au") && msg.contains("com.cn"), "{msg}");
        assert_eq!("EU".parse::<DataCenter>(), Ok(DataCenter::Eu));
    }

    #[test]
    fn serde_uses_code() {
        let json = serde_json::to_string(&DataCenter::ComAu).expect("serialize");
        assert_eq!(json, "\"com.au\"");
        let dc: DataCenter = serde_json::from_str("\"com.cn\"").expect("deserialize");
        assert_eq!(dc, DataCenter::ComCn);
        assert!(serde_json::from_str::<DataCenter>("\"us\"").is_err());
    }

    #[test]
    fn allowlist_is_exact() {
        assert_eq!(
            DataCenter::from_accounts_url(&url("https://accounts.zoho.eu")),
            Some(DataCenter::Eu)
        );
        assert_eq!(
            DataCenter::from_accounts_url(&url("https://accounts.zoho.eu/")),
            Some(DataCenter::Eu)
        );
        for bad in [
            "http://accounts.zoho.eu",
            "https://accounts.zoho.eu.evil.com",
            "https://evil.com",
            "https://evil.com/accounts.zoho.eu",
            "https://accounts.zoho.eu:8443",
            "https://user@accounts.zoho.eu",
            "https://accounts.zoho.eu/oauth",
            "https://accounts.zoho.eu?x=1",
            "https://accounts.zoho.eu.",
            "https://xaccounts.zoho.eu",
            "https://accounts.zoho.ca",
        ] {
            assert_eq!(DataCenter::from_accounts_url(&url(bad)), None, "{bad}");
        }
    }
}
