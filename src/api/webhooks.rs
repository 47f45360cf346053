//! `/v1/webhooks`: outgoing webhook endpoints (admin). Create answers the
//! signing secret once; lists show the URL redacted (it may carry
//! credentials) and flag endpoints failing for over an hour.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::extract::{Admin, Ctx};
use super::{resource, ApiError};
use crate::service::VaultService;
use crate::webhooks::admin::DeliveryLog;
use crate::webhooks::{CreateEndpoint, EndpointView};

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/webhooks")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        resource("/webhooks/{id}")
            .route(web::get().to(show))
            .route(web::delete().to(delete)),
    )
    .service(resource("/webhooks/{id}/test").route(web::post().to(test)))
    .service(resource("/webhooks/{id}/deliveries").route(web::get().to(deliveries)));
}

/// A new endpoint and its signing secret.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookCreated)]
struct Created<'a> {
    /// The Standard Webhooks signing secret (`whsec_` + base64), shown this
    /// once.
    secret: &'a str,
    #[serde(flatten)]
    endpoint: &'a EndpointView,
}

/// Create a webhook endpoint
///
/// The URL must be `https` (unless `webhooks.allow_http`); it is stored
/// sealed and shown redacted. The signing secret is in this answer only
/// (`Cache-Control: no-store`). Audited before it is returned.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body = CreateEndpoint,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Created", body = Created<'_>,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request` (the reason: a URL that is not https, an unknown event type) or `invalid_body`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn create(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    body: web::Json<CreateEndpoint>,
) -> Result<HttpResponse, ApiError> {
    let created = service
        .create_webhook(&admin.0, body.into_inner(), &ctx.0)
        .await?;
    tracing::info!(id = %created.view.id, url = %created.view.url, "webhook endpoint created");
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Created {
            secret: created.secret.expose_secret(),
            endpoint: &created.view,
        }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookList)]
struct EndpointList {
    /// Every endpoint, URLs redacted.
    webhooks: Vec<EndpointView>,
}

/// List webhook endpoints
///
/// URLs redacted; `last_error`, `failing_since` and `failing` (over an
/// hour) tell which receivers are down.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    security(("admin" = [])),
    responses((status = 200, description = "Every endpoint", body = EndpointList))
)]
#[tracing::instrument(skip_all)]
async fn list(service: web::Data<VaultService>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let webhooks = service.webhooks().await?;
    Ok(HttpResponse::Ok().json(EndpointList { webhooks }))
}

/// Show a webhook endpoint
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "show_webhook",
    params(("id" = String, Path, description = "The endpoint's id (`wh_...`)")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "`not_found`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all)]
async fn show(
    service: web::Data<VaultService>,
    _admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service.webhook(&id).await?))
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookDeleted)]
struct Deleted {
    /// The deleted endpoint's id.
    deleted: String,
}

/// Delete a webhook endpoint
///
/// Its queued deliveries and kept attempts go with it. Audited.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = String, Path, description = "The endpoint's id (`wh_...`)")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 404, description = "`not_found`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all)]
async fn delete(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = service.delete_webhook(&admin.0, &id, &ctx.0).await?;
    tracing::info!(id = %view.id, "webhook endpoint deleted");
    Ok(HttpResponse::Ok().json(Deleted { deleted: view.id }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookTestQueued)]
struct Queued {
    /// The test event's id (its `webhook-id`).
    event_id: String,
}

/// Send a test event
///
/// Queues a `webhook.test` event for this endpoint alone; watch
/// `GET /v1/webhooks/{id}/deliveries` for the outcome.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    tag = "webhooks",
    operation_id = "test_webhook",
    params(("id" = String, Path, description = "The endpoint's id (`wh_...`)")),
    security(("admin" = [])),
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 404, description = "`not_found`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all)]
async fn test(
    service: web::Data<VaultService>,
    _admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let event_id = service.test_webhook(&id).await?;
    Ok(HttpResponse::Accepted().json(Queued { event_id }))
}

/// Recent deliveries of an endpoint
///
/// The kept attempts (newest first: event id, type, attempt, status code
/// or error, time, next attempt) and the deliveries not finished yet.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "webhook_deliveries",
    params(("id" = String, Path, description = "The endpoint's id (`wh_...`)")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Attempts and pending deliveries", body = DeliveryLog),
        (status = 404, description = "`not_found`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all)]
async fn deliveries(
    service: web::Data<VaultService>,
    _admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service.webhook_deliveries(&id).await?))
}
