//! The middleware around the routes:
//!
//! [`catch_panics`], on every resource (see [`super::resource`]): a panic
//! in a handler becomes `500 internal` (logged) instead of a dropped
//! connection, so no input can take a worker down. It holds a clone of the
//! request, which actix allows only once routing is done: hence per
//! resource, not per app.
//!
//! [`guard`], around the whole app:
//! - every error answer is in the one JSON shape, including the ones actix
//!   makes itself (payload errors, its own 404/405, plain-text errors of
//!   extractors we did not configure: answers with no body type or
//!   `text/plain`); their messages are generic and never echo the request.
//!   An error a route answers on purpose in another type (e.g. an HTML page
//!   for a browser) is left alone;
//! - a 401 or 403 that no extractor audited (e.g. a service token asking
//!   for a connection it was not granted, decided in the service layer) is
//!   audited here, with the caller's identity when it is known;
//! - the client's address is resolved once ([`ClientAddr`]: the peer, or
//!   what a trusted proxy's `X-Forwarded-For` names) and put in the
//!   request's extensions and its log span (`client`);
//! - an admin action refused with an error is audited
//!   ([`super::refusals`]);
//! - one `debug` line per request (target `zoho_vault::http`): method,
//!   path, status and time. Never headers (bearer tokens) and never the
//!   query string (the redirect flow's callback carries a code in it).
//!
//! Refusals made by the HTTP parser itself, before a request exists (a
//! malformed request line, headers over actix's limit), are answered by
//! actix-http without a body and cannot be reshaped here.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::FutureExt;

use super::context::{record_denial_status, redact_path, ClientAddr, DenialRecorded, RequestId};
use super::ApiError;
use crate::auth::Principal;
use crate::service::VaultService;

/// Error codes whose 401/403 is audited as something other than a denial.
const NOT_DENIALS: [&str; 1] = ["wrong_passphrase"];

/// Headers worth keeping when an error answer is rewritten.
const KEPT_HEADERS: [header::HeaderName; 3] =
    [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE];

/// Turns a panic below it into `500 internal`. Only for use after routing
/// (on a resource): see the module documentation.
pub async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let http = req.request().clone();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(Ok(res)) => Ok(res.map_into_boxed_body()),
        Ok(Err(err)) => Ok(ServiceResponse::from_err(err, http)),
        Err(_) => {
            tracing::error!(method = %http.method(), path = %redact_path(http.path()), "a handler panicked; answered 500");
            let err = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; the server log has the details",
            );
            Ok(ServiceResponse::new(http, err.error_response()))
        }
    }
}

const REQUEST_ID: &str = "x-request-id";

/// See the module documentation.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use tracing::Instrument;
    let started = Instant::now();
    // Owned copies: holding the request itself across routing is not allowed.
    let method = req.method().clone();
    let path = redact_path(req.path()).into_owned();
    let id = RequestId::from_header(req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()));
    req.extensions_mut().insert(id.clone());
    let client = req.app_data::<web::Data<VaultService>>().and_then(|s| {
        ClientAddr::resolve(
            &s.settings().http.trusted_proxies,
            req.peer_addr().map(|a| a.ip()),
            req.headers(),
        )
    });
    if let Some(client) = client {
        req.extensions_mut().insert(client);
    }
    let client_field = client.map(|c| c.0.to_string()).unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %id.0, client = %client_field);
    let res = next.call(req).instrument(span.clone()).await?;
    let mut res = json_error_shape(res.map_into_boxed_body());
    audit_unrecorded_denial(&res).instrument(span.clone()).await;
    super::refusals::audit_refused_admin_action(&res)
        .instrument(span.clone())
        .await;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        res.headers_mut()
            .insert(header::HeaderName::from_static(REQUEST_ID), value);
    }
    let _entered = span.enter();
    let status = res.status().as_u16();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::debug!(
        target: "zoho_vault::http",
        %method,
        %path,
        status,
        elapsed_ms,
        "request"
    );
    Ok(res)
}

/// Rewrites an error answer that is not JSON into the one error shape.
fn json_error_shape(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    if passed_through(&res) {
        return res;
    }
    // Only bodies actix makes by itself are reshaped: none, or plain text.
    // A route that deliberately answers something else (JSON, or an HTML
    // page for a browser) keeps its answer.
    let from_actix = match res.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|ct| ct.starts_with("text/plain")),
    };
    if !from_actix {
        return res;
    }
    if let Some(err) = res.response().error() {
        // The original error can quote the request: debug only.
        tracing::debug!(%status, error = %err, "error answer rewritten to the JSON shape");
    }
    let (code, message) = generic(status);
    let kept: Vec<(header::HeaderName, HeaderValue)> = KEPT_HEADERS
        .iter()
        .filter_map(|name| res.headers().get(name).map(|v| (name.clone(), v.clone())))
        .collect();
    let (req, _old) = res.into_parts();
    let mut fresh = ApiError::new(status, code, message).error_response();
    for (name, value) in kept {
        fresh.headers_mut().insert(name, value);
    }
    ServiceResponse::new(req, fresh)
}

/// Whether the answer is Zoho's own, passed through by the proxy.
fn passed_through(res: &ServiceResponse<BoxBody>) -> bool {
    res.request()
        .extensions()
        .get::<super::proxy::Passthrough>()
        .is_some()
}

/// A stable code and a message that says nothing about the input.
fn generic(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "the request is malformed"),
        401 => ("unauthorized", "this route needs a valid bearer token"),
        403 => ("forbidden", "this token may not do this"),
        404 => ("not_found", "no such route or resource"),
        405 => ("method_not_allowed", "this method is not allowed here"),
        408 => ("request_timeout", "the request took too long to arrive"),
        411 => ("length_required", "the request needs a Content-Length"),
        413 => (
            "payload_too_large",
            "the request body is larger than the limit",
        ),
        414 => ("uri_too_long", "the request URI is too long"),
        415 => ("unsupported_media_type", "the request body must be JSON"),
        429 => ("too_many_requests", "too many requests; slow down"),
        431 => (
            "headers_too_large",
            "the request headers are larger than the limit",
        ),
        _ if status.is_client_error() => ("bad_request", "the request was refused"),
        503 => ("unavailable", "the service is unavailable; retry shortly"),
        504 => ("timeout", "the request timed out"),
        _ => ("internal", "internal error; the server log has the details"),
    }
}

/// Audits a 401/403 that was not audited where it was decided.
async fn audit_unrecorded_denial(res: &ServiceResponse<BoxBody>) {
    let status = res.status().as_u16();
    if status != 401 && status != 403 {
        return;
    }
    let req = res.request();
    if req.extensions().get::<DenialRecorded>().is_some() || passed_through(res) {
        return;
    }
    let code = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .map_or(
            if status == 401 {
                "unauthorized"
            } else {
                "forbidden"
            },
            |e| e.code(),
        );
    if NOT_DENIALS.contains(&code) {
        return;
    }
    let Some(service) = req.app_data::<web::Data<VaultService>>() else {
        return;
    };
    let who: Option<Principal> = req.extensions().get::<Principal>().cloned();
    record_denial_status(req, service, status, code, who.as_ref()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::{test, App, HttpResponse};

    async fn panics() -> HttpResponse {
        panic!("boom")
    }

    async fn html_error() -> HttpResponse {
        HttpResponse::BadRequest()
            .content_type("text/html; charset=utf-8")
            .body("<p>sign-in failed</p>")
    }

    async fn plain_text_error() -> HttpResponse {
        HttpResponse::BadRequest()
            .insert_header((header::RETRY_AFTER, "3"))
            .body("echo of the input: hunter2")
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_500_in_the_json_shape() {
        let app = test::init_service(
            App::new()
                .service(
                    web::resource("/p")
                        .route(web::get().to(panics))
                        .wrap(from_fn(catch_panics)),
                )
                .wrap(from_fn(guard)),
        )
        .await;
        let resp = test::call_service(&app, test::TestRequest::get().uri("/p").to_request()).await;
        assert_eq!(resp.status(), 500);
        let body: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(body["error"]["code"], "internal");
        // The worker survived: a second request is answered too.
        let resp = test::call_service(&app, test::TestRequest::get().uri("/p").to_request()).await;
        assert_eq!(resp.status(), 500);
    }

    #[actix_web::test]
    async fn non_json_errors_are_reshaped_without_echoing_the_body() {
        let app = test::init_service(
            App::new()
                .route("/e", web::get().to(plain_text_error))
                .route("/h", web::get().to(html_error))
                .wrap(from_fn(guard)),
        )
        .await;
        let resp = test::call_service(&app, test::TestRequest::get().uri("/e").to_request()).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"3"[..])
        );
        let body: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(!body.to_string().contains("hunter2"));
        // actix's own 404 for an unknown route (no default service here).
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/nope").to_request()).await;
        assert_eq!(resp.status(), 404);
        let body: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(body["error"]["code"], "not_found");
        // A page made on purpose for a browser is left alone.
        let resp = test::call_service(&app, test::TestRequest::get().uri("/h").to_request()).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(test::read_body(resp).await, "<p>sign-in failed</p>");
    }
}
