//! The OpenAPI 3.1 document of the HTTP API, served at
//! `GET /v1/openapi.json` to anyone, also while sealed.
//!
//! Generated from the code: every handler carries `#[utoipa::path]`
//! (method, full path, parameters, body, responses, security), request and
//! response types derive `ToSchema` (schemas follow their serde attributes:
//! renames, optional fields, `deny_unknown_fields`), and [`ApiDoc`] lists
//! every path. Two things are added here rather than repeated on each
//! handler (`CommonResponses`): the answers every authenticated route
//! shares (401, 403, 429 and 503, in the one error shape) and a `default`
//! response in the error shape for any other error (400 malformed input,
//! 413, 415, 500...). The document is rendered once at startup
//! ([`Document`]); the test knob `POST /v1/sys/audit-faults` is in it only
//! when `audit.fault_injection` is on, as the route itself.
//!
//! `tests/api/openapi.rs` checks that the document's operations and the
//! routes the server answers are the same set, both ways.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    Content, ObjectBuilder, Ref, RefOr, Required, Response, ResponseBuilder, Type,
};
use utoipa::{IntoParams, Modify, OpenApi};

mod tidy;

use super::error::{ErrorBody, ErrorDetail};
use super::extract::{ConnectionName, TokenId};
use super::proxy::OperationIds as ProxyOperationIds;
use super::{
    admin_tokens, audit, auth_self, backup, connections, metrics, oauth, proxy, resource,
    service_tokens, sys,
};
use crate::config::Settings;
use tidy::Tidy;

/// Path of the test knob, listed only when it exists.
const AUDIT_FAULTS: &str = "/v1/sys/audit-faults";

/// Security scheme names used in `security(...)` of the handlers.
pub const ADMIN: &str = "admin";
/// See [`ADMIN`].
pub const SERVICE: &str = "service";

/// The document: every path and schema of the HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "zoho-vault",
        description = "Keeps Zoho OAuth credentials encrypted and hands short-lived access tokens to backend services. Every error answer is `{\"error\": {\"code\", \"message\", \"hint\"?, \"fix\"?}}` (schema `ErrorBody`; `fix` is the hint as data, schema `Fix`), except the HTML pages of `GET /v1/oauth/callback`. While the vault is sealed, routes that need a bearer token answer `503 sealed`; `GET /v1/sys/health`, `POST /v1/sys/unseal` and this document stay available."
    ),
    paths(
        sys::health_handler,
        sys::unseal_handler,
        sys::seal_handler,
        backup::backup,
        connections::list,
        connections::upload,
        connections::show,
        connections::delete,
        connections::issue,
        connections::authorize,
        oauth::callback,
        service_tokens::create,
        service_tokens::list,
        service_tokens::revoke,
        admin_tokens::create,
        admin_tokens::list,
        admin_tokens::revoke,
        auth_self::show,
        audit::list,
        audit::verify,
        audit::export,
        audit::verify_uploaded,
        audit::fingerprint,
        audit::prune,
        audit::faults,
        metrics::metrics,
        proxy::proxy,
        serve,
    ),
    components(schemas(ErrorBody<'_>, ErrorDetail<'_>, crate::model::Fix)),
    modifiers(&BearerSchemes, &CommonResponses, &Tidy, &ProxyOperationIds),
    tags(
        (name = "sys", description = "Health, unseal and seal"),
        (name = "connections", description = "Zoho connections and token issue"),
        (name = "oauth", description = "The browser redirect flow's callback"),
        (name = "service-tokens", description = "Bearer tokens for backend services (`zvs_`)"),
        (name = "admin-tokens", description = "Bearer tokens for admins (`zva_`)"),
        (name = "auth", description = "Who the caller's token is"),
        (name = "audit", description = "The tamper-evident audit trail"),
        (name = "meta", description = "Metrics and this document"),
        (name = "proxy", description = "Zoho API calls through the vault: the token never leaves it"),
    )
)]
pub struct ApiDoc;

/// The two bearer token kinds as security schemes.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = |format: &str, what: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.bearer_format = Some(format.into());
            http.description = Some(what.into());
            SecurityScheme::Http(http)
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN,
            scheme(
                "zva_…",
                "An admin token: `Authorization: Bearer zva_...` (printed once by `zoho-vault init`, or made with `POST /v1/admin-tokens`).",
            ),
        );
        components.add_security_scheme(
            SERVICE,
            scheme(
                "zvs_…",
                "A service token: `Authorization: Bearer zvs_...` (made with `POST /v1/service-tokens`); reaches only the connections it was granted.",
            ),
        );
    }
}

/// Adds the answers routes share; see the module documentation. A
/// response a handler lists itself is kept.
struct CommonResponses;

impl CommonResponses {
    fn error(description: &str) -> RefOr<Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build()
            .into()
    }

    /// Whether the operation takes a bearer token (admin or service).
    fn authenticated(op: &Operation) -> bool {
        op.security.iter().flatten().any(|req| {
            serde_json::to_value(req).is_ok_and(|v| {
                v.as_object()
                    .is_some_and(|m| m.contains_key(ADMIN) || m.contains_key(SERVICE))
            })
        })
    }

    fn apply(op: &mut Operation, html: bool) {
        let authenticated = Self::authenticated(op);
        let responses = &mut op.responses.responses;
        if authenticated {
            let shared = [
                ("401", "`missing_token`, `invalid_token` (malformed, unknown or revoked) or `token_expired`; `WWW-Authenticate: Bearer`"),
                ("403", "`forbidden`: a service token on an admin route, or a connection it was not granted"),
                ("429", "`rate_limited`: the token is over its rate limit (`ratelimit.*`); `Retry-After` in seconds"),
                ("503", "`sealed`: the vault is sealed (unseal it first); or `audit_unavailable`: the audit trail cannot be written, so nothing was done"),
            ];
            for (status, description) in shared {
                responses
                    .entry(status.into())
                    .or_insert_with(|| Self::error(description));
            }
        }
        if !html {
            responses.entry("default".into()).or_insert_with(|| {
                Self::error("Any other error, in the one error shape: e.g. 400 `invalid_body` (malformed JSON or an unknown field, named), 413 `payload_too_large`, 415 `unsupported_media_type`, 500 `internal`")
            });
        }
    }
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let html = path == "/v1/oauth/callback";
            for op in operations(item) {
                Self::apply(op, html);
            }
        }
    }
}

/// Every operation of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// The `{name}` path parameter, as [`ConnectionName`] checks it.
impl IntoParams for ConnectionName {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("name")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(
                "The connection's name: 1 to 128 of `A-Z a-z 0-9 . _ -`, not `.` or `..` (else `400 invalid_name`)",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(128))
                    .pattern(Some("^[A-Za-z0-9._-]+$")),
            ))
            .example(Some(serde_json::json!("acme")))
            .build()]
    }
}

/// The `{id}` path parameter, as [`TokenId`] checks it.
impl IntoParams for TokenId {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(
                "The token's public id: `tok_` and 16 lowercase hex digits (else `400 invalid_id`)",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^tok_[0-9a-f]{16}$")),
            ))
            .example(Some(serde_json::json!("tok_0123456789abcdef")))
            .build()]
    }
}

/// The rendered document, made once at startup and shared by the workers.
pub struct Document(web::Bytes);

impl Document {
    /// The document for a server with these settings: the test knob's path
    /// only when `audit.fault_injection` is on.
    pub fn build(settings: &Settings) -> Result<Self, serde_json::Error> {
        let json = api_doc(settings.audit.fault_injection).to_json()?;
        Ok(Self(web::Bytes::from(json)))
    }

    /// The JSON bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// [`ApiDoc`], with or without the test knob.
pub fn api_doc(fault_injection: bool) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    if !fault_injection {
        doc.paths.paths.remove(AUDIT_FAULTS);
    }
    doc
}

/// The route (inside the `/v1` scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/openapi.json").route(web::get().to(serve)));
}

/// This document
///
/// The OpenAPI 3.1 description of every route this server answers,
/// generated from the code. Open to anyone, also while sealed.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
    )
)]
async fn serve(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(doc.0.clone())
}

#[cfg(test)]
mod tests;
