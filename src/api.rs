//! The HTTP interface (v1). Routes translate HTTP to calls on
//! [`crate::service::VaultService`] and back; no business logic lives here.

pub mod admin_tokens;
pub mod audit;
pub mod backup;
pub mod connections;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod oauth;
pub mod service_tokens;
pub mod sys;

use actix_web::web;

pub use error::ApiError;

/// Registers every route and the JSON error handling of the extractors.
pub fn configure(body_limit: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(error::json_config(body_limit))
            .app_data(error::path_config())
            .app_data(error::query_config())
            .app_data(web::PayloadConfig::new(body_limit))
            .service(
                web::scope("/v1")
                    .service(sys::health())
                    .service(sys::unseal())
                    .service(sys::seal())
                    .configure(backup::routes)
                    .configure(connections::routes)
                    .configure(oauth::routes)
                    .configure(service_tokens::routes)
                    .configure(admin_tokens::routes)
                    .configure(audit::configure),
            )
            .configure(metrics::routes);
    }
}

/// A resource whose unmatched methods answer 405 in the JSON error shape
/// and whose handlers' panics answer 500 ([`middleware::catch_panics`]).
/// Do not give these resources their own `app_data`: the panic guard holds
/// the request, and actix adds resource data after it.
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
    web::resource(path)
        .default_service(web::to(error::method_not_allowed))
        .wrap(actix_web::middleware::from_fn(middleware::catch_panics))
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
