//! `http.trusted_proxies`: the reverse proxies whose `X-Forwarded-For` the
//! vault believes, parsed once when the settings load (a bad entry stops
//! the start, named), and the client-address algorithm that uses them.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The trusted proxy networks. Empty (the default): `X-Forwarded-For` is
/// never believed and the TCP peer is the client.
///
/// Accepted forms: a TOML list (`["10.0.0.0/8", "192.0.2.7"]`), and in the
/// environment either a bracketed list (`[10.0.0.0/8, 192.0.2.7]`) or a
/// comma-separated string (`10.0.0.0/8,192.0.2.7`). A bare address means
/// that one address (`/32` or `/128`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses each entry; the error names the first bad one.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut nets = Vec::new();
        for raw in entries {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "http.trusted_proxies: `{entry}` is not a CIDR network or an IP address \
                         (e.g. 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7)"
                    )
                })?;
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `addr` is one of the trusted proxies.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address for a request from TCP peer `peer` carrying
    /// the `X-Forwarded-For` header values `forwarded_for` (in order).
    ///
    /// Only a trusted peer's header is read. It is walked from the right
    /// (the hop the trusted proxy itself appended) to the left, skipping
    /// trusted proxies; the first untrusted address is the client. The
    /// entries left of it were written by the client or by proxies we do
    /// not control, so they prove nothing. When every hop is trusted the
    /// leftmost one is the client. A header with any entry that is not an
    /// IP address is ignored as a whole (the peer is the client): a proxy
    /// that writes garbage is not believed in part.
    pub fn client_addr<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut hops = Vec::new();
        for value in forwarded_for {
            for entry in value.split(',') {
                match entry.trim().parse::<IpAddr>() {
                    Ok(addr) => hops.push(addr.to_canonical()),
                    Err(_) => return peer,
                }
            }
        }
        let Some(&leftmost) = hops.first() else {
            return peer;
        };
        hops.iter()
            .rev()
            .find(|hop| !self.contains(**hop))
            .copied()
            .unwrap_or(leftmost)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(","))
    }
}

impl Serialize for TrustedProxies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListOrString;

        impl<'de> Visitor<'de> for ListOrString {
            type Value = TrustedProxies;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of CIDR networks, or a comma-separated string of them")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                TrustedProxies::parse(v.split(',')).map_err(E::custom)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<String> = Vec::new();
                while let Some(entry) = seq.next_element::<String>()? {
                    entries.push(entry);
                }
                TrustedProxies::parse(entries.iter().map(String::as_str)).map_err(de::Error::custom)
            }
        }

        deserializer.deserialize_any(ListOrString)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(list.iter().copied()).expect("valid")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client_addr(ip("203.0.113.9"), ["198.51.100.1"]),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_addr(ip("10.0.0.1"), ["198.51.100.1"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_peer_gives_the_rightmost_untrusted_hop() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.7"]);
        // The client forged the leftmost entry; the proxy chain appended
        // the real address, then its own hops.
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), ["6.6.6.6, 198.51.100.1, 192.0.2.7"]),
            ip("198.51.100.1")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), ["6.6.6.6", "198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Every hop trusted: the leftmost is the client.
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), ["10.1.1.1, 10.2.2.2"]),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn a_malformed_or_missing_header_leaves_the_peer() {
        let p = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        assert_eq!(p.client_addr(peer, ["not-an-ip"]), peer);
        assert_eq!(p.client_addr(peer, ["198.51.100.1, junk"]), peer);
        assert_eq!(p.client_addr(peer, ["198.51.100.1:4711"]), peer);
        assert_eq!(p.client_addr(peer, std::iter::empty::<&str>()), peer);
    }

    #[test]
    fn ipv4_mapped_peers_and_ipv6_networks_match() {
        let p = proxies(&["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(
            p.client_addr(ip("::ffff:10.0.0.1"), ["198.51.100.1"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            p.client_addr(ip("2001:db8::1"), ["2001:db8:ffff::1, 2600::1"]),
            ip("2600::1")
        );
    }

    #[test]
    fn a_bad_entry_is_named() {
        let err = TrustedProxies::parse(["10.0.0.0/8", "10.0.0.0/33"]).expect_err("bad");
        assert!(err.contains("`10.0.0.0/33`"), "{err}");
        let err = TrustedProxies::parse(["proxy.internal"]).expect_err("bad");
        assert!(err.contains("`proxy.internal`"), "{err}");
    }
}
