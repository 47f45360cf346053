//! What the HTTP layer knows about a request beyond its route: its id, its
//! audit context, its path with token-shaped segments redacted, and the
//! recording of a refusal (401/403) as an `access_denied` event.
//!
//! The extractors ([`super::extract`]) and the middleware
//! ([`super::middleware`]) both use it; it uses neither.

use std::net::IpAddr;

use actix_web::{HttpMessage, HttpRequest};

use super::ApiError;
use crate::audit::RequestContext;
use crate::auth::Principal;
use crate::crypto::token::parse_bearer;
use crate::model::ConnectionName;
use crate::service::VaultService;

/// The request's id: the caller's `X-Request-Id` when it is well formed
/// (1 to 64 of `[A-Za-z0-9._-]`), else a fresh random one. It is in every
/// log line of the request (the `request` span), in its audit events, and
/// echoed in the answer's `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id for a request that sent `given` as its `X-Request-Id`.
    pub fn from_header(given: Option<&str>) -> Self {
        let given = given.filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
        Self(given.map_or_else(fresh_id, str::to_string))
    }
}

fn fresh_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The client's address: the TCP peer, or for a peer in
/// `http.trusted_proxies` the address its `X-Forwarded-For` names (see
/// [`crate::config::TrustedProxies::client_addr`]). Resolved once per
/// request by [`super::middleware::guard`]; read it with [`client_addr`] or
/// the [`super::extract::ClientAddr`] extractor, never from the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// Resolves the client address of a request from its peer and headers.
    pub fn resolve(
        proxies: &crate::config::TrustedProxies,
        peer: Option<IpAddr>,
        headers: &actix_web::http::header::HeaderMap,
    ) -> Option<Self> {
        let peer = peer?;
        let forwarded = headers
            .get_all(FORWARDED_FOR)
            .filter_map(|v| v.to_str().ok());
        Some(Self(proxies.client_addr(peer, forwarded)))
    }
}

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The request's client address (see [`ClientAddr`]); the TCP peer for a
/// request that did not pass the guard middleware (unit tests).
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    req.extensions()
        .get::<ClientAddr>()
        .map(|c| c.0)
        .or_else(|| req.peer_addr().map(|a| a.ip().to_canonical()))
}

/// Who and where, for audit events: the `X-Request-Id` header when it is a
/// short token (else a fresh random id) and the client's address
/// ([`client_addr`]).
pub fn request_context(req: &HttpRequest) -> RequestContext {
    // The guard middleware gives every request its id; the fallback only
    // serves requests built without it (unit tests).
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map_or_else(fresh_id, |id| id.0.clone());
    RequestContext {
        request_id: Some(request_id),
        source: client_addr(req).map(|a| a.to_string()),
        channel: None,
    }
}

/// The path with every segment that is shaped like one of our bearer
/// tokens replaced by `[redacted]`: a token pasted into a URL by mistake
/// must not reach the logs or the audit trail.
pub fn redact_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains("zva_") && !path.contains("zvs_") {
        return path.into();
    }
    path.split('/')
        .map(|seg| {
            if parse_bearer(seg).is_some() {
                "[redacted]"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
        .into()
}

/// Marks a request whose denial was already audited, so that
/// [`super::middleware`] does not record it twice.
pub(crate) struct DenialRecorded;

/// Audits a 401/403 (other errors are not denials). Best effort: a denial
/// stays a denial even when its event cannot be written; that is logged.
/// Routes call it for refusals decided past the extractors (a service token
/// asking for a connection it was not granted).
pub(crate) async fn record_denial(
    req: &HttpRequest,
    service: &VaultService,
    err: &ApiError,
    who: Option<&Principal>,
) {
    let status = actix_web::ResponseError::status_code(err).as_u16();
    record_denial_status(req, service, status, err.code(), who).await;
}

/// [`record_denial`] from a status and code.
pub(crate) async fn record_denial_status(
    req: &HttpRequest,
    service: &VaultService,
    status: u16,
    code: &str,
    who: Option<&Principal>,
) {
    if status != 401 && status != 403 {
        return;
    }
    req.extensions_mut().insert(DenialRecorded);
    let route = redact_path(req.path());
    let connection = named_connection(req);
    service
        .record_denial(
            status,
            code,
            who,
            connection.as_ref(),
            &route,
            &request_context(req),
        )
        .await;
}

/// The connection the matched route names (`{name}` in
/// `/v1/connections/{name}...` and `/v1/proxy/{name}/...`), when it is a
/// valid connection name. A token pasted there by mistake is a valid name
/// too, but never an audited one.
fn named_connection(req: &HttpRequest) -> Option<ConnectionName> {
    let name = req.match_info().get("name")?;
    if parse_bearer(name).is_some() {
        return None;
    }
    ConnectionName::parse(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::token::{PlainToken, TokenKind};

    #[test]
    fn a_denial_names_a_valid_connection_but_never_a_token_or_an_invalid_name() {
        let named = |name: &str| {
            let req = actix_web::test::TestRequest::default()
                .param("name", name.to_string())
                .to_http_request();
            named_connection(&req).map(|n| n.as_str().to_string())
        };
        assert_eq!(named("acme").as_deref(), Some("acme"));
        assert_eq!(named("no/such name"), None);
        // Token-shaped names never reach the trail (the path extractor
        // refuses them first today; this holds whatever the order).
        let t = PlainToken::make(TokenKind::Service);
        assert_eq!(named(t.expose()), None);
        let none = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(
            named_connection(&none).map(|n| n.as_str().to_string()),
            None
        );
    }

    #[test]
    fn token_shaped_path_segments_are_redacted() {
        let t = PlainToken::make(TokenKind::Service);
        let path = format!("/v1/connections/{}/token", t.expose());
        assert_eq!(redact_path(&path), "/v1/connections/[redacted]/token");
        assert_eq!(
            redact_path("/v1/connections/zvs_tenant"),
            "/v1/connections/zvs_tenant"
        );
        assert_eq!(redact_path("/v1/sys/health"), "/v1/sys/health");
    }
}
