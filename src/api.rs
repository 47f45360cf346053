//! The HTTP interface (v1). Routes translate HTTP to calls on
//! [`crate::service::VaultService`] and back; no business logic lives here.

pub mod admin_tokens;
pub mod audit;
pub mod auth_self;
pub mod backup;
pub mod connections;
pub mod console;
pub mod context;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod proxy;
mod refusals;
pub mod service_tokens;
pub mod sys;
pub mod webhooks;

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use actix_web::web;

pub use error::ApiError;

/// The prefix of the versioned API: every `resource()` is mounted under it.
pub const V1: &str = "/v1";

/// Registers every route and the JSON error handling of the extractors.
pub fn configure(body_limit: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(error::json_config(body_limit))
            .app_data(error::path_config())
            .app_data(error::query_config())
            .app_data(web::PayloadConfig::new(body_limit))
            .service(
                web::scope(V1)
                    // First, under a literal prefix: actix tries resources in
                    // order, each dynamic one with a regular expression, so
                    // a proxied call would otherwise pay for every dynamic
                    // route before its own; others pay one prefix compare.
                    .service(web::scope(proxy::SCOPE).configure(proxy::routes))
                    .service(sys::health())
                    .service(sys::unseal())
                    .service(sys::seal())
                    .configure(backup::routes)
                    .configure(connections::routes)
                    .configure(oauth::routes)
                    .configure(service_tokens::routes)
                    .configure(admin_tokens::routes)
                    .configure(webhooks::routes)
                    .configure(auth_self::routes)
                    .configure(audit::configure)
                    .configure(openapi::routes),
            )
            .configure(metrics::routes)
            .configure(console::routes);
    }
}

/// Full path templates of every resource made by [`resource`] and
/// [`root_resource`], as registered (see [`route_templates`]).
static TEMPLATES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Every path template the server registers (e.g.
/// `/v1/connections/{name}`), read from one run of [`configure`]: the
/// list the OpenAPI coverage test probes. Routes must be made with
/// `resource()` (under [`V1`]) or `root_resource()` (outside it) to be
/// listed; a resource made with `web::resource` directly is invisible here.
pub fn route_templates() -> BTreeSet<String> {
    // Building the configuration records every template; nothing is served.
    let _app = actix_web::App::new().configure(configure(1));
    TEMPLATES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// A resource under [`V1`] (register it inside the `/v1` scope of
/// [`configure`]) whose unmatched methods answer 405 in the JSON error
/// shape and whose handlers' panics answer 500
/// ([`middleware::catch_panics`]). Its full path is recorded for
/// [`route_templates`]. Do not give these resources their own `app_data`:
/// the panic guard holds the request, and actix adds resource data after it.
pub(crate) fn resource(
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
> {
    mounted(V1, path)
}

/// Like [`resource`], for a route outside [`V1`] (registered at the root,
/// like `/metrics`).
pub(crate) fn root_resource(
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
> {
    mounted("", path)
}

/// A resource mounted under `prefix` (the full path before `path`, e.g.
/// `/v1/proxy` for a resource inside that scope): the one place that
/// records templates and adds the 405 and panic handling.
pub(crate) fn mounted(
    prefix: &str,
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
> {
    TEMPLATES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(format!("{prefix}{}", without_patterns(path)));
    web::resource(path)
        .default_service(web::to(error::method_not_allowed))
        .wrap(actix_web::middleware::from_fn(middleware::catch_panics))
}

/// A path template as documented: `{path:.*}` becomes `{path}`.
fn without_patterns(path: &str) -> String {
    path.split('/')
        .map(|seg| match (seg.strip_prefix('{'), seg.split_once(':')) {
            (Some(_), Some((name, _))) if seg.ends_with('}') => format!("{name}}}"),
            _ => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Parses an optional JSON body: empty means `None`; anything else must be
/// valid JSON of `T` (unknown fields refused by name).
pub(crate) fn optional_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| error::json_error(actix_web::error::JsonPayloadError::Deserialize(e)))
}
