//! `GET /v1/auth/self`: who the bearer token is, for any valid token (an
//! addition to the design contract, see docs/http-api.md).

use actix_web::{web, HttpResponse};

use super::extract::Caller;
use super::{resource, ApiError};
use crate::auth::TokenRecord;
use crate::service::VaultService;

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/self").route(web::get().to(show)));
}

/// Who this token is
///
/// The caller's own token: id, kind (`admin` or `service`), name, granted
/// connections (service tokens; `*` is every connection), creation time,
/// expiry and last use. Any valid token may ask; the token itself is never
/// returned (the vault keeps only its hash).
#[utoipa::path(
    get,
    path = "/v1/auth/self",
    tag = "auth",
    operation_id = "auth_self",
    security(("admin" = []), ("service" = [])),
    responses(
        (status = 200, description = "The caller's token", body = TokenRecord),
    )
)]
#[tracing::instrument(skip_all, fields(actor = %caller.0.actor()))]
async fn show(service: web::Data<VaultService>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service.whoami(&caller.0).await?))
}
