//! A failed delivery in words an operator can act on: which step failed
//! (DNS, connect, TLS, the timeout, the receiver's HTTP status) and why.
//! Never the URL: it may carry credentials or a query token, and reqwest's
//! own message quotes it, so only the causes below it are read, and only
//! error types whose text names no URL.

use std::error::Error as StdError;
use std::io;

/// A non-2xx answer: the status and its reason phrase.
pub(super) fn status(code: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let note = if (300..400).contains(&code) {
        " (redirects are not followed: give the final URL)"
    } else {
        ""
    };
    format!("HTTP {code} {reason}{note}")
        .replace("  ", " ")
        .trim_end()
        .to_string()
}

/// A request that got no answer, with its cause.
pub(super) fn transport(e: &reqwest::Error, timeout_ms: u64) -> String {
    if e.is_timeout() {
        return format!("timed out: no answer within {timeout_ms} ms (webhooks.timeout_ms)");
    }
    if e.is_builder() {
        return "invalid URL".into();
    }
    if e.is_redirect() {
        return "redirect refused".into();
    }
    let causes = causes(e);
    // hyper-util's connector says "dns error" for a failed lookup.
    if causes.iter().any(|c| c.text.starts_with("dns error")) {
        let why = causes
            .iter()
            .rev()
            .find_map(|c| c.io.map(|_| c.text.as_str()));
        return match why {
            Some(why) => format!("DNS lookup of the receiver's host failed: {why}"),
            None => "DNS lookup of the receiver's host failed".into(),
        };
    }
    if let Some(tls) = causes.iter().find_map(|c| c.tls.as_deref()) {
        return format!("TLS handshake failed: {tls}");
    }
    if let Some(kind) = causes.iter().find_map(|c| c.io) {
        return match kind {
            io::ErrorKind::ConnectionRefused => {
                "connection refused: nothing accepts connections on the receiver's host and port"
                    .into()
            }
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                "the receiver closed the connection before answering".into()
            }
            io::ErrorKind::TimedOut => "connect timed out".into(),
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                "the receiver's host is unreachable".into()
            }
            io::ErrorKind::UnexpectedEof => {
                "the receiver closed the connection before answering".into()
            }
            other => format!("could not connect ({other})"),
        };
    }
    if e.is_connect() {
        return "could not connect".into();
    }
    "the connection broke off before the receiver answered".into()
}

/// One error below reqwest's own, as far as it can be read safely.
struct Cause {
    text: String,
    io: Option<io::ErrorKind>,
    tls: Option<String>,
}

/// Every cause below `e`, outermost first. An `io::Error`'s own payload
/// (rustls' error, for a TLS failure) is not in `source()`: read it too.
fn causes(e: &reqwest::Error) -> Vec<Cause> {
    let mut out = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(err) = next {
        let mut cause = Cause {
            text: err.to_string(),
            io: None,
            tls: None,
        };
        if let Some(io) = err.downcast_ref::<io::Error>() {
            let (kind, tls) = inside(io);
            cause.io = Some(kind);
            cause.tls = tls;
        }
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            cause.tls = Some(tls.to_string());
        }
        out.push(cause);
        next = err.source();
    }
    out
}

/// The innermost kind of an `io::Error` and the TLS error it carries, if
/// any: the connector wraps rustls' error in an `io::Error`, itself in
/// another one.
fn inside(io: &io::Error) -> (io::ErrorKind, Option<String>) {
    let mut kind = io.kind();
    let mut payload = io.get_ref();
    while let Some(inner) = payload {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return (kind, Some(tls.to_string()));
        }
        match inner.downcast_ref::<io::Error>() {
            Some(nested) => {
                kind = nested.kind();
                payload = nested.get_ref();
            }
            None => break,
        }
    }
    (kind, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_with_its_reason_and_a_redirect_says_it_is_not_followed() {
        assert_eq!(status(500), "HTTP 500 Internal Server Error");
        assert_eq!(status(404), "HTTP 404 Not Found");
        assert!(status(301).contains("not followed"), "{}", status(301));
        assert_eq!(status(599), "HTTP 599");
    }
}
