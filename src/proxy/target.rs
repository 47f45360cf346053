//! The path a proxied request goes to on the connection's API host, parsed
//! from the raw request path. Anything that could make the target leave
//! that host or its path root is refused, whether written plainly or
//! percent-encoded: an empty segment (`//evil`), a `.` or `..` segment,
//! an encoded slash or backslash, a scheme (`https:`), control characters,
//! or a malformed percent escape. The path is forwarded byte for byte as
//! the caller wrote it (never decoded and re-encoded).

use super::ProxyError;

/// Longest target path plus query, in bytes.
const MAX_LEN: usize = 8 * 1024;

/// A checked target: the path (starts with `/`) and the raw query string.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    path: String,
    query: Option<String>,
}

impl std::fmt::Debug for ProxyTarget {
    // The query may hold values a caller considers secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyTarget")
            .field("path", &self.path)
            .field("query", &self.query.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

fn bad(why: &str) -> ProxyError {
    ProxyError::BadPath(format!("the proxied path is refused: {why}"))
}

impl ProxyTarget {
    /// Parses `tail` (the raw path after `/v1/proxy/{name}`, starting with
    /// `/`) and the raw query string.
    pub fn parse(tail: &str, query: Option<&str>) -> Result<Self, ProxyError> {
        if tail.len() + query.map_or(0, str::len) > MAX_LEN {
            return Err(bad("it is longer than 8 KiB"));
        }
        let rest = tail
            .strip_prefix('/')
            .ok_or_else(|| bad("it must start with `/`"))?;
        if rest.is_empty() {
            return Err(bad(
                "it is empty; name a Zoho API path such as /invoice/v3/invoices",
            ));
        }
        if tail
            .bytes()
            .any(|b| b.is_ascii_control() || b == b'\\' || b == b' ')
        {
            return Err(bad("it holds a control character, a space or a backslash"));
        }
        let segments: Vec<&str> = rest.split('/').collect();
        let last = segments.len() - 1;
        for (i, segment) in segments.iter().enumerate() {
            // A trailing slash is an empty last segment, and allowed.
            if segment.is_empty() && i != last {
                return Err(bad("it holds an empty segment (`//`)"));
            }
            let decoded = decode(segment).ok_or_else(|| bad("it holds a malformed `%` escape"))?;
            if decoded.iter().any(|&b| matches!(b, b'/' | b'\\' | b'\0')) {
                return Err(bad("it holds an encoded slash, backslash or NUL"));
            }
            if decoded == b"." || decoded == b".." {
                return Err(bad("it holds a `.` or `..` segment"));
            }
            if i == 0 && decoded.contains(&b':') {
                return Err(bad("it looks like an absolute URL; give only the path"));
            }
        }
        if let Some(q) = query {
            if q.bytes()
                .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
            {
                return Err(bad(
                    "its query string holds a control character, a space or `#`",
                ));
            }
        }
        Ok(Self {
            path: tail.to_string(),
            query: query.filter(|q| !q.is_empty()).map(str::to_string),
        })
    }

    /// The path, without the query string (what the audit trail records and
    /// what `proxy_paths` prefixes are compared with).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path and query string to append to the API host.
    pub(super) fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// Percent-decodes a segment; `None` for a malformed escape.
fn decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_api_paths_pass_unchanged_with_their_query() {
        let t = ProxyTarget::parse("/invoice/v3/invoices", Some("organization_id=1&page=2"))
            .expect("ok");
        assert_eq!(t.path(), "/invoice/v3/invoices");
        assert_eq!(
            t.path_and_query(),
            "/invoice/v3/invoices?organization_id=1&page=2"
        );
        let t = ProxyTarget::parse("/crm/v2/Leads/", None).expect("trailing slash");
        assert_eq!(t.path_and_query(), "/crm/v2/Leads/");
        let t = ProxyTarget::parse("/crm/v2/Leads/search%20x", None).expect("escape");
        assert_eq!(t.path(), "/crm/v2/Leads/search%20x");
    }

    #[test]
    fn every_host_escape_form_is_refused() {
        for tail in [
            "//evil.example/x",
            "/invoice//x",
            "/../x",
            "/invoice/../../x",
            "/invoice/./x",
            "/%2e%2e/x",
            "/%2E./x",
            "/.%2e/x",
            "/invoice%2f..%2fx",
            "/%2fevil.example",
            "/%5cevil.example",
            "/https://evil.example/x",
            "/https:%2f%2fevil.example",
            "/http:evil",
            "/a\\b",
            "/a%zz",
            "/a%2",
            "/a%00b",
            "invoice",
            "/",
            "",
        ] {
            assert!(
                matches!(ProxyTarget::parse(tail, None), Err(ProxyError::BadPath(_))),
                "{tail:?} was accepted"
            );
        }
    }

    #[test]
    fn the_debug_form_hides_the_query() {
        let t = ProxyTarget::parse("/a", Some("secret=s3cr3t")).expect("ok");
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
