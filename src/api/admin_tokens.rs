//! `/v1/admin-tokens`: create (the token is shown once), list, revoke. An
//! addition to the design contract (docs/http-api.md, "Additions").

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::extract::{Admin, Ctx, TokenId};
use super::{resource, ApiError};
use crate::service::{AdminTokenError, VaultService};
use crate::tokens::TokenRecord;

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/admin-tokens")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(resource("/admin-tokens/{id}").route(web::delete().to(revoke)));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    ttl_secs: Option<u64>,
}

#[derive(Serialize)]
struct Created<'a> {
    token: &'a str,
    #[serde(flatten)]
    record: &'a TokenRecord,
}

impl From<AdminTokenError> for ApiError {
    fn from(e: AdminTokenError) -> Self {
        match e {
            AdminTokenError::Service(s) => s.into(),
            AdminTokenError::LastAdmin => {
                ApiError::new(StatusCode::CONFLICT, "last_admin_token", e.to_string())
                    .with_hint("create another admin token (POST /v1/admin-tokens) first")
            }
        }
    }
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
        .create_admin_token(&admin.0, body.name, body.ttl_secs, &ctx.0)
        .await?;
    tracing::info!(id = %record.id, "admin token created");
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Created {
            token: plain.expose(),
            record: &record,
        }))
}

#[tracing::instrument(skip_all)]
async fn list(service: web::Data<VaultService>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let tokens = service.admin_tokens().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "admin_tokens": tokens })))
}

#[tracing::instrument(skip_all, fields(id = %id))]
async fn revoke(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    id: TokenId,
) -> Result<HttpResponse, ApiError> {
    match service.revoke_admin_token(&admin.0, &id, &ctx.0).await? {
        Some(record) => {
            tracing::info!("admin token revoked");
            Ok(HttpResponse::Ok().json(serde_json::json!({ "revoked": record.id })))
        }
        None => Err(ApiError::not_found(format!(
            "no admin token with id `{id}`"
        ))),
    }
}
