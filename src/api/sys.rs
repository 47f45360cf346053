//! `/v1/sys`: health, unseal, seal.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::context::request_context;
use super::error::ErrorBody;
use super::extract::Admin;
use super::{resource, ApiError};
use crate::service::{Health, VaultService};
use crate::vault::Unsealed;

/// `GET /v1/sys/health`: anyone, sealed or not.
pub fn health() -> impl actix_web::dev::HttpServiceFactory {
    resource("/sys/health").route(web::get().to(health_handler))
}

/// Status-code overrides of `GET /v1/sys/health`, as Vault has them.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HealthQuery {
    /// Status answered while sealed (default 503).
    sealedcode: Option<u16>,
    /// Status answered while not initialised (default 501).
    uninitcode: Option<u16>,
}

/// The vault's state
///
/// Whether the vault is initialized and sealed, and the server's version.
/// Anyone may ask, sealed or not. The status is for probes and load
/// balancers: 200 only when initialised and unsealed, 503 while sealed,
/// 501 when not initialised (the body is the same in every case).
/// `sealedcode` and `uninitcode` replace those two codes (e.g.
/// `?sealedcode=200` for a liveness probe).
#[utoipa::path(
    get,
    path = "/v1/sys/health",
    tag = "sys",
    operation_id = "health",
    params(HealthQuery),
    responses(
        (status = 200, description = "Initialised and unsealed", body = Health),
        (status = 501, description = "Not initialised (or `uninitcode`)", body = Health),
        (status = 503, description = "Sealed (or `sealedcode`)", body = Health),
    )
)]
#[tracing::instrument(skip_all)]
async fn health_handler(
    service: web::Data<VaultService>,
    query: web::Query<HealthQuery>,
) -> Result<HttpResponse, ApiError> {
    let health = service.health().await?;
    let code = if !health.initialized {
        query.uninitcode.unwrap_or(501)
    } else if health.sealed {
        query.sealedcode.unwrap_or(503)
    } else {
        200
    };
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|s| s.as_u16() >= 200)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                "sealedcode and uninitcode must be HTTP status codes (200 to 999)",
            )
        })?;
    Ok(HttpResponse::build(status).json(health))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UnsealBody {
    /// The operator's passphrase.
    #[schema(value_type = String, format = Password)]
    passphrase: SecretString,
}

#[derive(Serialize, ToSchema)]
struct UnsealAnswer {
    /// Always `false`: the vault is unsealed.
    sealed: bool,
    /// It was unsealed already before this request.
    already_unsealed: bool,
}

/// `POST /v1/sys/unseal`: anyone; each address's failed attempts slow
/// that address down.
pub fn unseal() -> impl actix_web::dev::HttpServiceFactory {
    resource("/sys/unseal").route(web::post().to(unseal_handler))
}

/// Unseal the vault
///
/// Derives the key from the passphrase and opens the data key. Anyone may
/// try. After a wrong passphrase the client's address must wait before its
/// next attempt, the wait doubling with each consecutive failure (capped);
/// attempts inside that wait, or while the address's previous attempt is
/// still running, are refused at once with 429 `unseal_rate_limited` and
/// `Retry-After`, without looking at the passphrase. Other addresses are
/// not slowed: at most one key derivation runs and a small queue waits for
/// it; beyond that, 429 `unseal_busy`. Every checked attempt is audited.
#[utoipa::path(
    post,
    path = "/v1/sys/unseal",
    tag = "sys",
    operation_id = "unseal",
    request_body = UnsealBody,
    responses(
        (status = 200, description = "Unsealed (or already was)", body = UnsealAnswer),
        (status = 401, description = "`wrong_passphrase`: nothing changed", body = ErrorBody<'_>),
        (status = 409, description = "`not_initialized`: run `zoho-vault init` first", body = ErrorBody<'_>),
        (status = 429, description = "`unseal_rate_limited`: this address must wait (`Retry-After`); `unseal_busy`: other attempts fill the queue. Nothing was checked", body = ErrorBody<'_>),
        (status = 503, description = "`audit_unavailable`: the attempt could not be audited", body = ErrorBody<'_>),
    )
)]
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
    Ok(HttpResponse::Ok().json(UnsealAnswer {
        sealed: false,
        already_unsealed: outcome == Unsealed::Already,
    }))
}

/// `POST /v1/sys/seal`: admin.
pub fn seal() -> impl actix_web::dev::HttpServiceFactory {
    resource("/sys/seal").route(web::post().to(seal_handler))
}

#[derive(Serialize, ToSchema)]
struct SealAnswer {
    /// Always `true`.
    sealed: bool,
}

/// Seal the vault
///
/// Drops the keys and cached tokens from memory; until the next unseal
/// only health and unseal are answered.
#[utoipa::path(
    post,
    path = "/v1/sys/seal",
    tag = "sys",
    operation_id = "seal",
    security(("admin" = [])),
    responses((status = 200, description = "Sealed", body = SealAnswer))
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn seal_handler(
    req: HttpRequest,
    service: web::Data<VaultService>,
    admin: Admin,
) -> HttpResponse {
    service.seal(&admin.0, &request_context(&req)).await;
    tracing::warn!("vault sealed by admin request");
    HttpResponse::Ok().json(SealAnswer { sealed: true })
}
