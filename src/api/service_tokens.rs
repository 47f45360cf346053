//! `/v1/service-tokens`: create (the token is shown once), list, revoke.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::extract::{Admin, Ctx, TokenId};
use super::{resource, ApiError};
use crate::service::VaultService;
use crate::tokens::TokenRecord;

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/service-tokens")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(resource("/service-tokens/{id}").route(web::delete().to(revoke)));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    connections: Vec<String>,
    ttl_secs: Option<u64>,
}

#[derive(Serialize)]
struct Created<'a> {
    token: &'a str,
    #[serde(flatten)]
    record: &'a TokenRecord,
}

#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn create(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (plain, record) = service
        .create_service_token(&admin.0, body.name, body.connections, body.ttl_secs, &ctx.0)
        .await?;
    tracing::info!(id = %record.id, "service token created");
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Created {
            token: plain.expose(),
            record: &record,
        }))
}

#[tracing::instrument(skip_all)]
async fn list(service: web::Data<VaultService>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let tokens = service.service_tokens().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "service_tokens": tokens })))
}

#[tracing::instrument(skip_all, fields(id = %id))]
async fn revoke(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    id: TokenId,
) -> Result<HttpResponse, ApiError> {
    match service.revoke_service_token(&admin.0, &id, &ctx.0).await? {
        Some(record) => {
            tracing::info!("service token revoked");
            Ok(HttpResponse::Ok().json(serde_json::json!({ "revoked": record.id })))
        }
        None => Err(ApiError::not_found(format!(
            "no service token with id `{id}`"
        ))),
    }
}
