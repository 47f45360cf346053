//! `/v1/connections`: upload, list, show, delete, token issue, and the
//! start of the browser redirect flow (`authorize`).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::extract::{Admin, Caller, ConnectionName, Ctx};
use super::{optional_json, resource, ApiError};
use crate::connections::rfc3339;
use crate::connections::upload::UploadRequest;
use crate::service::VaultService;

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/connections").route(web::get().to(list)))
        .service(
            resource("/connections/{name}")
                .route(web::put().to(upload))
                .route(web::get().to(show))
                .route(web::delete().to(delete)),
        )
        .service(resource("/connections/{name}/token").route(web::post().to(issue)))
        .service(resource("/connections/{name}/authorize").route(web::post().to(authorize)));
}

/// `authorize` takes no parameters; an empty body or `{}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {}

#[tracing::instrument(skip_all, fields(connection = %name))]
async fn authorize(
    service: web::Data<VaultService>,
    admin: Admin,
    name: ConnectionName,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let _: Option<AuthorizeBody> = optional_json(&body)?;
    let auth = service.authorize_connection(&admin.0, &name).await?;
    tracing::info!("authorization link made");
    // The URL carries the state, the callback's only credential.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "url": auth.url.as_str(),
            "state_expires_at": rfc3339(auth.state_expires_at),
        })))
}

#[tracing::instrument(skip_all, fields(connection = %name))]
async fn upload(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    name: ConnectionName,
    body: web::Json<UploadRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = service
        .create_connection(&admin.0, &name, body.into_inner(), &ctx.0)
        .await?;
    tracing::info!(source = ?view.source, "connection created");
    Ok(HttpResponse::Created().json(view))
}

#[tracing::instrument(skip_all)]
async fn list(service: web::Data<VaultService>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let connections = service.connections().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "connections": connections })))
}

#[tracing::instrument(skip_all, fields(connection = %name))]
async fn show(
    service: web::Data<VaultService>,
    _admin: Admin,
    name: ConnectionName,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service.connection(&name).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    revoke: Option<bool>,
}

#[tracing::instrument(skip_all, fields(connection = %name))]
async fn delete(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    name: ConnectionName,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let revoke = query.revoke.unwrap_or(true);
    let revoked = service
        .delete_connection(&admin.0, &name, revoke, &ctx.0)
        .await?;
    tracing::info!(revoked, "connection deleted");
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "deleted": name.as_str(),
        "revoked_upstream": revoked,
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    min_valid_secs: Option<u64>,
}

#[derive(Serialize)]
struct TokenAnswer<'a> {
    access_token: &'a str,
    token_type: &'static str,
    api_domain: &'a str,
    expires_at: String,
    expires_in: i64,
}

#[tracing::instrument(skip_all, fields(connection = %name, actor = %caller.0.actor()))]
async fn issue(
    service: web::Data<VaultService>,
    caller: Caller,
    ctx: Ctx,
    name: ConnectionName,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: IssueBody = optional_json(&body)?.unwrap_or_default();
    // A 403 decided in the service (connection not granted) is audited by
    // the guard middleware, like every refusal past the extractors.
    let issued = service
        .issue_token(&caller.0, &name, body.min_valid_secs, &ctx.0)
        .await?;
    tracing::debug!(refreshed = issued.refreshed, "token issued");
    let expires_in = (issued.expires_at - OffsetDateTime::now_utc())
        .whole_seconds()
        .max(0);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenAnswer {
            access_token: issued.access_token.expose_secret(),
            token_type: "Zoho-oauthtoken",
            api_domain: &issued.api_domain,
            expires_at: rfc3339(issued.expires_at),
            expires_in,
        }))
}
