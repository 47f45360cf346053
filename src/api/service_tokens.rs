//! `/v1/service-tokens`: create (the token is shown once), list, revoke.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::extract::{Admin, Ctx, TokenId};
use super::{resource, ApiError};
use crate::auth::{TokenAccess, TokenRecord};
use crate::service::VaultService;

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/service-tokens")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(resource("/service-tokens/{id}").route(web::delete().to(revoke)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ServiceTokenRequest)]
struct CreateBody {
    /// A name for people (e.g. the service that will hold it).
    name: String,
    /// Connection names it may get tokens for, or `["*"]` for all.
    connections: Vec<String>,
    /// Lifetime in seconds; none means no expiry.
    ttl_secs: Option<u64>,
    /// `token` (default: may fetch access tokens and use the proxy) or
    /// `proxy` (may only use `/v1/proxy/...`; the token route answers 403).
    #[serde(default)]
    access: TokenAccess,
    /// Path prefixes (e.g. `/invoice/v3/`) outside which the proxy answers
    /// 403; none means every path.
    #[serde(default)]
    #[schema(example = json!(["/invoice/v3/"]))]
    proxy_paths: Vec<String>,
}

/// A new service token: the token itself and its metadata.
#[derive(Serialize, ToSchema)]
#[schema(as = ServiceTokenCreated)]
struct Created<'a> {
    /// The bearer token (`zvs_...`), shown this once: it is stored only as a
    /// hash.
    token: &'a str,
    #[serde(flatten)]
    record: &'a TokenRecord,
}

/// Create a service token
///
/// The token is in this answer only (`Cache-Control: no-store`); the
/// vault keeps its hash. Audited before it is returned.
#[utoipa::path(
    post,
    path = "/v1/service-tokens",
    tag = "service-tokens",
    operation_id = "create_service_token",
    request_body = CreateBody,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Created", body = Created<'_>,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request` (no name, no or unknown connections, bad `ttl_secs` or `proxy_paths`) or `invalid_body`", body = ErrorBody<'_>),
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
        .create_service_token(
            &admin.0,
            body.name,
            body.connections,
            body.ttl_secs,
            (body.access, body.proxy_paths),
            &ctx.0,
        )
        .await?;
    tracing::info!(id = %record.id, "service token created");
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Created {
            token: plain.expose(),
            record: &record,
        }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = ServiceTokenList)]
struct TokenList {
    /// Every service token's metadata, without the tokens.
    service_tokens: Vec<TokenRecord>,
}

/// List service tokens
///
/// Metadata only (id, name, granted connections, creation, expiry, last use); never a token.
#[utoipa::path(
    get,
    path = "/v1/service-tokens",
    tag = "service-tokens",
    operation_id = "list_service_tokens",
    security(("admin" = [])),
    responses((status = 200, description = "Every service token", body = TokenList))
)]
#[tracing::instrument(skip_all)]
async fn list(service: web::Data<VaultService>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let service_tokens = service.service_tokens().await?;
    Ok(HttpResponse::Ok().json(TokenList { service_tokens }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = ServiceTokenRevoked)]
struct Revoked {
    /// The revoked token's id.
    revoked: String,
}

/// Revoke a service token
#[utoipa::path(
    delete,
    path = "/v1/service-tokens/{id}",
    tag = "service-tokens",
    operation_id = "revoke_service_token",
    params(TokenId),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 400, description = "`invalid_id`", body = ErrorBody<'_>),
        (status = 404, description = "`not_found`: no service token with that id", body = ErrorBody<'_>),
    )
)]
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
            Ok(HttpResponse::Ok().json(Revoked { revoked: record.id }))
        }
        None => Err(ApiError::not_found(format!(
            "no service token with id `{id}`"
        ))),
    }
}
