//! `/v1/sys`: health, unseal, seal.

use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;

use super::audit::request_context;
use super::extract::Admin;
use super::{resource, ApiError};
use crate::service::VaultService;
use crate::vault::Unsealed;

/// `GET /v1/sys/health`: anyone, sealed or not.
pub fn health() -> impl actix_web::dev::HttpServiceFactory {
    resource("/sys/health").route(web::get().to(health_handler))
}

#[tracing::instrument(skip_all)]
async fn health_handler(service: web::Data<VaultService>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service.health().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsealBody {
    passphrase: SecretString,
}

/// `POST /v1/sys/unseal`: anyone; failed attempts are slowed down.
pub fn unseal() -> impl actix_web::dev::HttpServiceFactory {
    resource("/sys/unseal").route(web::post().to(unseal_handler))
}

#[tracing::instrument(skip_all)]
async fn unseal_handler(
    req: HttpRequest,
    service: web::Data<VaultService>,
    body: web::Json<UnsealBody>,
) -> Result<HttpResponse, ApiError> {
    let outcome = service
        .unseal_from(body.into_inner().passphrase, &request_context(&req))
        .await?;
    tracing::info!(already = outcome == Unsealed::Already, "vault unsealed");
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sealed": false,
        "already_unsealed": outcome == Unsealed::Already,
    })))
}

/// `POST /v1/sys/seal`: admin.
pub fn seal() -> impl actix_web::dev::HttpServiceFactory {
    resource("/sys/seal").route(web::post().to(seal_handler))
}

#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn seal_handler(
    req: HttpRequest,
    service: web::Data<VaultService>,
    admin: Admin,
) -> HttpResponse {
    service.seal(&admin.0, &request_context(&req)).await;
    tracing::warn!("vault sealed by admin request");
    HttpResponse::Ok().json(serde_json::json!({ "sealed": true }))
}
