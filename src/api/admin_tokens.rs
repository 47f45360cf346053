//! `/v1/admin-tokens`: create (the token is shown once), list, revoke. An
//! addition to the design contract (docs/http-api.md, "Additions").

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::extract::{Admin, Ctx, TokenId};
use super::{resource, ApiError};
use crate::auth::TokenRecord;
use crate::service::{AdminTokenError, VaultService};

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/admin-tokens")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(resource("/admin-tokens/{id}").route(web::delete().to(revoke)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AdminTokenRequest)]
struct CreateBody {
    /// A name for people (e.g. the service that will hold it).
    name: String,
    /// Lifetime in seconds; none means no expiry.
    ttl_secs: Option<u64>,
}

/// A new admin token: the token itself and its metadata.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminTokenCreated)]
struct Created<'a> {
    /// The bearer token (`zva_...`), shown this once: it is stored only as a
    /// hash.
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
                    .with_fix(Some(crate::model::Fix::CreateAdminToken))
            }
        }
    }
}

/// Create an admin token
///
/// The token is in this answer only (`Cache-Control: no-store`); the
/// vault keeps its hash. Audited before it is returned.
#[utoipa::path(
    post,
    path = "/v1/admin-tokens",
    tag = "admin-tokens",
    operation_id = "create_admin_token",
    request_body = CreateBody,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Created", body = Created<'_>,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request` (no name, bad `ttl_secs`) or `invalid_body`", body = ErrorBody<'_>),
    )
)]
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

#[derive(Serialize, ToSchema)]
#[schema(as = AdminTokenList)]
struct TokenList {
    /// Every admin token's metadata, without the tokens.
    admin_tokens: Vec<TokenRecord>,
}

/// List admin tokens
///
/// Metadata only (id, name, creation, expiry, last use); never a token.
#[utoipa::path(
    get,
    path = "/v1/admin-tokens",
    tag = "admin-tokens",
    operation_id = "list_admin_tokens",
    security(("admin" = [])),
    responses((status = 200, description = "Every admin token", body = TokenList))
)]
#[tracing::instrument(skip_all)]
async fn list(service: web::Data<VaultService>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let admin_tokens = service.admin_tokens().await?;
    Ok(HttpResponse::Ok().json(TokenList { admin_tokens }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminTokenRevoked)]
struct Revoked {
    /// The revoked token's id.
    revoked: String,
}

/// Revoke an admin token
#[utoipa::path(
    delete,
    path = "/v1/admin-tokens/{id}",
    tag = "admin-tokens",
    operation_id = "revoke_admin_token",
    params(TokenId),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 400, description = "`invalid_id`", body = ErrorBody<'_>),
        (status = 404, description = "`not_found`: no admin token with that id", body = ErrorBody<'_>),
        (status = 409, description = "`last_admin_token`: no other valid admin token would remain", body = ErrorBody<'_>),
    )
)]
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
            Ok(HttpResponse::Ok().json(Revoked { revoked: record.id }))
        }
        None => Err(ApiError::not_found(format!(
            "no admin token with id `{id}`"
        ))),
    }
}
