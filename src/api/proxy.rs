//! `ANY /v1/proxy/{name}/{path...}`: the caller's Zoho API request, sent by
//! the vault with the connection's access token (the facade does the work:
//! [`VaultService::proxy`]). Here: the raw path and headers become a
//! [`ProxyCall`], the body is pumped into the facade's bounded channel, and
//! Zoho's answer is streamed back.

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::error::ErrorBody;
use super::extract::{Caller, ConnectionName, Ctx};
use super::{mounted, ApiError, V1};
use crate::proxy::{IncomingBody, ProxyError, ProxyTarget};
use crate::service::{ProxyCall, VaultService};

/// The literal prefix the route is registered under, inside `/v1`.
pub const SCOPE: &str = "/proxy";

/// The route, inside `web::scope(SCOPE)`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        mounted(&format!("{V1}{SCOPE}"), "/{name}/{path:.*}")
            .route(web::get().to(proxy))
            .route(web::post().to(proxy))
            .route(web::put().to(proxy))
            .route(web::patch().to(proxy))
            .route(web::delete().to(proxy)),
    );
}

/// Gives each method of the proxy's one documented operation its own
/// operation id (`proxy_get`, `proxy_post`, ...).
pub struct OperationIds;

impl utoipa::Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(item) = openapi.paths.paths.get_mut("/v1/proxy/{name}/{path}") else {
            return;
        };
        for (method, op) in [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ] {
            if let Some(op) = op {
                op.operation_id = Some(format!("proxy_{method}"));
            }
        }
    }
}

/// Marks an answer that is Zoho's own: the middleware leaves its status,
/// body and headers alone (a Zoho 401 is not the vault refusing the caller).
#[derive(Clone, Copy)]
pub struct Passthrough;

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> Self {
        let msg = e.to_string();
        match e {
            ProxyError::BadPath(_) => Self::bad_request("invalid_proxy_path", msg).with_hint(
                "give the Zoho API path as it follows the API host, e.g. /v1/proxy/acme/invoice/v3/invoices?organization_id=1",
            ),
            ProxyError::PathNotAllowed { .. } => Self::new(StatusCode::FORBIDDEN, "proxy_path_forbidden", msg)
                .with_hint("a token's `proxy_paths` cannot be changed: an admin creates a token whose prefixes cover the path (POST /v1/service-tokens with `proxy_paths`, or `zoho-vault service-token create --access proxy --proxy-path PREFIX`) and revokes this one"),
            ProxyError::TooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", msg)
                .with_hint("send a smaller body, or raise proxy.max_body_bytes"),
            ProxyError::ResponseTooLarge { .. } => Self::new(StatusCode::BAD_GATEWAY, "upstream_too_large", msg)
                .with_hint("ask Zoho for less (paging), or raise proxy.max_body_bytes"),
            ProxyError::Timeout { .. } => Self::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", msg)
                .with_hint("Zoho was slow; retry later, or raise proxy.timeout_ms"),
            ProxyError::Busy { retry_after, .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, "proxy_busy", msg)
                .with_hint("too many requests to this connection at once (proxy.max_concurrent_per_connection); retry after the Retry-After delay")
                .with_retry_after(retry_after),
            ProxyError::ApiDomain(_) => Self::new(StatusCode::BAD_GATEWAY, "invalid_api_domain", msg)
                .with_hint("the proxy only calls Zoho's data-center API hosts unless zoho.allow_custom_accounts_url is on"),
            ProxyError::Upstream(_) => Self::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", msg)
                .with_hint("Zoho's API could not be reached; retry later"),
        }
    }
}

/// The raw path after `/v1/proxy/{name}`, as the caller wrote it.
fn raw_tail(req: &HttpRequest) -> &str {
    let path = req.uri().path();
    path.strip_prefix("/v1/proxy/")
        .and_then(|rest| rest.find('/').map(|at| &rest[at..]))
        .unwrap_or("")
}

/// The caller's headers in the HTTP client's types (actix and reqwest use
/// different versions of the `http` crate).
fn headers(req: &HttpRequest) -> reqwest::header::HeaderMap {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut out = reqwest::header::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    out
}

/// Proxy a request to Zoho
///
/// Sends the same method, path, query string, body and end-to-end headers
/// to the connection's API host with the connection's access token, and
/// streams Zoho's answer back unchanged (hop-by-hop headers aside). The
/// caller's `Authorization` and `Cookie` never reach Zoho; redirects are
/// returned, not followed. A dead-token 401 from Zoho is answered by one
/// refresh and one retry when the body was at most
/// `proxy.replay_limit_bytes`. Audited before Zoho is called
/// (`proxy_request`) and after (`proxy_completed`). Every method is
/// accepted; `GET` is shown.
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/v1/proxy/{name}/{path}",
    tag = "proxy",
    operation_id = "proxy",
    params(
        ("name" = String, Path, description = "Connection name"),
        ("path" = String, Path, description = "The Zoho API path after the API host, e.g. `invoice/v3/invoices`, with its query string"),
    ),
    security(("service" = []), ("admin" = [])),
    responses(
        (status = 200, description = "Zoho's answer, whatever its status, body and headers (plus `X-Request-Id`)"),
        (status = 400, description = "`invalid_proxy_path`: the path could leave the API host (`//`, `..`, encoded slashes or dots, an absolute URL)", body = ErrorBody<'_>),
        (status = 403, description = "`forbidden` (connection not granted) or `proxy_path_forbidden` (outside the token's `proxy_paths`)", body = ErrorBody<'_>),
        (status = 409, description = "`needs_reauth`: Zoho is not called", body = ErrorBody<'_>),
        (status = 413, description = "`payload_too_large`: over `proxy.max_body_bytes`", body = ErrorBody<'_>),
        (status = 429, description = "`proxy_busy` (with `Retry-After`): over `proxy.max_concurrent_per_connection`", body = ErrorBody<'_>),
        (status = 502, description = "`upstream_unavailable`, `upstream_too_large` or `invalid_api_domain`", body = ErrorBody<'_>),
        (status = 503, description = "`audit_unavailable`: the request could not be audited; Zoho is not called", body = ErrorBody<'_>),
        (status = 504, description = "`upstream_timeout`: Zoho did not answer within `proxy.timeout_ms`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(connection = %name, actor = %caller.0.actor()))]
async fn proxy(
    service: web::Data<VaultService>,
    caller: Caller,
    ctx: Ctx,
    name: ConnectionName,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let target = ProxyTarget::parse(raw_tail(&req), req.uri().query())?;
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::bad_request("invalid_method", "the method is not valid"))?;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut payload = payload.into_inner();
    let body = if matches!(payload, actix_web::dev::Payload::None) {
        // No body (an HTTP/1 request without Content-Length or
        // Transfer-Encoding): nothing to pump.
        IncomingBody::none()
    } else {
        let (tx, body) = IncomingBody::channel(declared);
        // The body arrives on this worker's thread; the channel carries it
        // to the HTTP client, a few chunks at a time.
        actix_web::rt::spawn(async move {
            while let Some(chunk) = payload.next().await {
                let item = chunk.map_err(|e| std::io::Error::other(e.to_string()));
                let broke = item.is_err();
                if tx.send(item).await.is_err() || broke {
                    break;
                }
            }
        });
        body
    };
    let call = ProxyCall {
        connection: (*name).clone(),
        method,
        target,
        headers: headers(&req),
        body,
    };
    let answer = service.into_inner().proxy(&caller.0, call, &ctx.0).await?;
    req.extensions_mut().insert(Passthrough);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut res = HttpResponse::build(status);
    for (name, value) in &answer.headers {
        res.append_header((name.as_str(), value.as_bytes()));
    }
    Ok(match answer.content_length {
        Some(len) => res.body(SizedStream::new(len, answer.body)),
        None => res.streaming(answer.body),
    })
}
