//! Which headers cross the vault. Hop-by-hop headers (RFC 9110 §7.6.1,
//! plus any the `Connection` header names) belong to one connection and
//! never cross. Toward Zoho the caller's `Authorization` (its vault token)
//! and `Cookie` are dropped, as are `Host` (the target's), the
//! `Forwarded` family (they would describe the caller's network to Zoho)
//! and `Content-Length` (set again for the body actually sent).

use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION, CONNECTION, CONTENT_LENGTH};

/// Hop-by-hop headers.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Never sent to Zoho, besides the hop-by-hop ones.
const NOT_FORWARDED: [&str; 10] = [
    "authorization",
    "cookie",
    "host",
    "content-length",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// The headers the `Connection` header names (also hop-by-hop).
fn named_by_connection(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn keep(name: &HeaderName, extra: &[String], dropped: &[&str]) -> bool {
    let name = name.as_str();
    !HOP_BY_HOP.contains(&name) && !dropped.contains(&name) && !extra.iter().any(|e| e == name)
}

/// The caller's headers that go to Zoho (without any credential).
pub fn to_zoho(incoming: &HeaderMap) -> HeaderMap {
    let extra = named_by_connection(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if keep(name, &extra, &NOT_FORWARDED) {
            out.append(name.clone(), value.clone());
        }
    }
    debug_assert!(!out.contains_key(AUTHORIZATION));
    out
}

/// Zoho's headers that go back to the caller: all but the hop-by-hop ones
/// and `Content-Length` (the answer's length is set from the body).
pub fn to_caller(upstream: &HeaderMap) -> HeaderMap {
    let extra = named_by_connection(upstream);
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if keep(name, &extra, &[]) && name != CONTENT_LENGTH {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        m
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_never_reach_zoho() {
        let out = to_zoho(&map(&[
            ("Authorization", "Bearer zvs_secret"),
            ("Cookie", "session=1"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Host", "vault.internal"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("Content-Type", "application/json"),
            ("X-com-zoho-invoice-organizationid", "42"),
        ]));
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["content-type", "x-com-zoho-invoice-organizationid"]);
    }

    #[test]
    fn zoho_headers_come_back_but_hop_by_hop_ones() {
        let out = to_caller(&map(&[
            ("Content-Type", "application/json"),
            ("X-Rate-Limit-Remaining", "99"),
            ("Retry-After", "5"),
            ("Location", "https://www.zohoapis.com/x"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "10"),
        ]));
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "x-rate-limit-remaining",
                "retry-after",
                "location"
            ]
        );
    }
}
