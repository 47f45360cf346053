//! The HTTP interface (v1). Routes translate HTTP to calls on
//! [`crate::service::VaultService`] and back; no business logic lives here.

pub mod audit;
pub mod connections;
pub mod error;
pub mod extract;
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
            .service(
                web::scope("/v1")
                    .service(sys::health())
                    .service(sys::unseal())
                    .service(sys::seal())
                    .configure(connections::routes)
                    .configure(oauth::routes)
                    .configure(service_tokens::routes)
                    .configure(audit::configure),
            );
    }
}

/// A resource whose unmatched methods answer 405 in the JSON error shape.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(error::method_not_allowed))
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
