//! `/v1/audit`: query, verify, export, fingerprint lookup, prune; and the
//! `POST /v1/sys/audit-faults` test knob (only with `audit.fault_injection`).
//!
//! Every read is itself audited (`audit_read`) before it is answered, and
//! fails closed: no audit, no answer (503).

use actix_web::http::header;
use actix_web::{guard, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::context::request_context;
use super::error::ErrorBody;
use super::extract::Admin;
use super::{resource, ApiError};
use crate::audit::query::{parse_time, Page, MAX_EXPORT_LIMIT};
use crate::audit::{Checkpoint, Query, QueryParams, ReadKind, VerifyReport};
use crate::service::VaultService;

/// Largest export accepted by `POST /v1/audit/verify-export`.
pub const MAX_EXPORT_UPLOAD: usize = 64 * 1024 * 1024;
/// Header carrying an export page's cursor.
pub const NEXT_HEADER: &str = "x-audit-next";

/// Registers the audit routes (inside the `/v1` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/audit").route(web::get().to(list)))
        .service(resource("/audit/verify").route(web::get().to(verify)))
        .service(resource("/audit/export").route(web::get().to(export)))
        .service(resource("/audit/verify-export").route(web::post().to(verify_uploaded)))
        .service(resource("/audit/fingerprint").route(web::post().to(fingerprint)))
        .service(resource("/audit/prune").route(web::post().to(prune)))
        .service(
            // Exists only when the test knob is on; otherwise the path is
            // as unknown as any other (404).
            resource("/sys/audit-faults")
                .guard(guard::fn_guard(|ctx| {
                    ctx.app_data::<web::Data<VaultService>>()
                        .is_some_and(|s| s.settings().audit.fault_injection)
                }))
                .route(web::post().to(faults)),
        );
}

async fn audited_read(
    service: &VaultService,
    req: &HttpRequest,
    admin: &Admin,
    kind: ReadKind,
    filter: Option<&str>,
) -> Result<(), ApiError> {
    service
        .audit_read(&admin.0, kind, filter, &request_context(req))
        .await?;
    Ok(())
}

/// Query the audit trail
///
/// Filters combine; pages follow a cursor (`next` as `after`). The read is
/// itself audited before it is answered.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    operation_id = "query_audit",
    params(QueryParams),
    security(("admin" = [])),
    responses(
        (status = 200, description = "One page of events", body = Page),
        (status = 400, description = "`invalid_query`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn list(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
    params: web::Query<QueryParams>,
) -> Result<HttpResponse, ApiError> {
    let query = Query::try_from(params.into_inner())?;
    audited_read(
        &service,
        &req,
        &admin,
        ReadKind::Query,
        Some(&query.describe()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(service.audit_query(query).await?))
}

/// Verify the audit chain
///
/// Walks the whole chain from its anchor and reports the first broken
/// event, if any (still `200`: check `ok`).
#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    tag = "audit",
    operation_id = "verify_audit",
    security(("admin" = [])),
    responses((status = 200, description = "The verification report", body = VerifyReport))
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn verify(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
) -> Result<HttpResponse, ApiError> {
    audited_read(&service, &req, &admin, ReadKind::Verify, None).await?;
    let report = service.audit_verify().await?;
    if !report.ok {
        tracing::error!(broken = ?report.broken, "the audit chain does not verify");
    }
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportParams {
    /// Events after this sequence number (default 0: from the start).
    after: Option<u64>,
    /// Stop at the first event after this RFC 3339 time.
    until: Option<String>,
    /// Events per page, 1 to 10000 (default 1000).
    limit: Option<usize>,
}

/// Export the audit trail
///
/// `GET /v1/audit/export?after=&until=&limit=`: JSON lines in seq order;
/// `X-Audit-Next` carries the `after` of the next page when more may follow.
#[utoipa::path(
    get,
    path = "/v1/audit/export",
    tag = "audit",
    operation_id = "export_audit",
    params(ExportParams),
    security(("admin" = [])),
    responses(
        (status = 200, description = "JSON lines: one `AuditRecord` per line, in sequence order", body = String,
            content_type = "application/x-ndjson",
            headers(("X-Audit-Next" = u64, description = "The `after` of the next page, when more may follow"))),
        (status = 400, description = "`invalid_query`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn export(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let until = p
        .until
        .as_deref()
        .map(|u| parse_time("until", u))
        .transpose()?;
    let limit = p.limit.unwrap_or(1000);
    if !(1..=MAX_EXPORT_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`limit` must be between 1 and {MAX_EXPORT_LIMIT}"),
        ));
    }
    let mut filter = format!("after={}", p.after.unwrap_or(0));
    if let Some(u) = &p.until {
        filter.push_str(&format!(" until={u}"));
    }
    audited_read(&service, &req, &admin, ReadKind::Export, Some(&filter)).await?;
    let (records, next) = service.audit_export_page(p.after, until, limit).await?;
    let mut body = String::new();
    for r in &records {
        body.push_str(&serde_json::to_string(r).map_err(|e| ApiError::internal(&e))?);
        body.push('\n');
    }
    let mut resp = HttpResponse::Ok();
    resp.content_type("application/x-ndjson");
    if let Some(n) = next {
        resp.insert_header((NEXT_HEADER, n.to_string()));
    }
    Ok(resp.body(body))
}

/// Verify an export
///
/// `POST /v1/audit/verify-export`: the body is an export (JSON lines).
/// The vault checks it with its audit key; `broken.line` names the line.
#[utoipa::path(
    post,
    path = "/v1/audit/verify-export",
    tag = "audit",
    operation_id = "verify_audit_export",
    request_body(content = String, content_type = "application/x-ndjson",
        description = "An export as `GET /v1/audit/export` wrote it (at most 64 MiB)"),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The verification report", body = VerifyReport),
        (status = 400, description = "`invalid_body`: not UTF-8 text, or unreadable", body = ErrorBody<'_>),
        (status = 413, description = "`payload_too_large`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn verify_uploaded(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Sealed: answered before the upload is read.
    service.require_unsealed()?;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request("invalid_body", "the request body could not be read")
        })?;
        if body.len() + chunk.len() > MAX_EXPORT_UPLOAD {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("an export larger than {MAX_EXPORT_UPLOAD} bytes cannot be verified here"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("invalid_body", "the export is not UTF-8 text"))?;
    audited_read(&service, &req, &admin, ReadKind::Verify, Some("export")).await?;
    let report = service.audit_verify_export(text).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FingerprintBody {
    /// An access or bearer token.
    #[schema(value_type = String, format = Password)]
    token: SecretString,
}

#[derive(Serialize, ToSchema)]
struct FingerprintAnswer {
    /// `fp_...`: what audit events carry instead of the token; filter with
    /// `GET /v1/audit?fingerprint=`.
    fingerprint: String,
}

/// Fingerprint a token
///
/// `POST /v1/audit/fingerprint` `{"token"}` → `{"fingerprint"}`.
#[utoipa::path(
    post,
    path = "/v1/audit/fingerprint",
    tag = "audit",
    operation_id = "fingerprint_token",
    request_body = FingerprintBody,
    security(("admin" = [])),
    responses((status = 200, description = "The fingerprint", body = FingerprintAnswer))
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn fingerprint(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
    body: web::Json<FingerprintBody>,
) -> Result<HttpResponse, ApiError> {
    audited_read(&service, &req, &admin, ReadKind::Fingerprint, None).await?;
    let fp = service.fingerprint(&body.token)?;
    Ok(HttpResponse::Ok().json(FingerprintAnswer { fingerprint: fp }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PruneBody {
    /// Remove events up to and including this sequence number.
    until_seq: u64,
}

#[derive(Serialize, ToSchema)]
struct PruneAnswer {
    /// The new anchor of the chain.
    checkpoint: Checkpoint,
}

/// Prune the audit trail
///
/// `POST /v1/audit/prune` `{"until_seq"}` → `{"checkpoint": {seq, hash}}`.
/// Export first: the pruned events are gone. Audited before it happens.
#[utoipa::path(
    post,
    path = "/v1/audit/prune",
    tag = "audit",
    operation_id = "prune_audit",
    request_body = PruneBody,
    security(("admin" = [])),
    responses(
        (status = 200, description = "Pruned", body = PruneAnswer),
        (status = 409, description = "`invalid_prune`: already pruned, or no such event", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn prune(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
    body: web::Json<PruneBody>,
) -> Result<HttpResponse, ApiError> {
    let until = body.until_seq;
    // Audited first (fail closed), by the facade.
    let checkpoint = service
        .audit_prune(&admin.0, until, &request_context(&req))
        .await?;
    tracing::warn!(until_seq = until, "audit trail pruned");
    Ok(HttpResponse::Ok().json(PruneAnswer { checkpoint }))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    /// How many of the next batch writes fail.
    #[serde(default)]
    fail_next: u64,
    /// Close every window of counted denials now, writing their
    /// `auth_denied_summary` events (as at shutdown).
    #[serde(default)]
    close_denial_windows: bool,
}

/// Arm audit write failures (test knob)
///
/// `POST /v1/sys/audit-faults` `{"fail_next": n}`: the next `n` batch
/// writes of the audit trail fail as if the disk had.
/// `{"close_denial_windows": true}` writes the summaries of counted
/// denials now instead of when their windows close. Exists only with
/// `audit.fault_injection` on (never in production); otherwise `404`.
#[utoipa::path(
    post,
    path = "/v1/sys/audit-faults",
    tag = "sys",
    operation_id = "arm_audit_faults",
    request_body = FaultsBody,
    security(("admin" = [])),
    responses((status = 200, description = "Armed; echoes the count", body = FaultsBody))
)]
#[tracing::instrument(skip_all, fields(actor = %_admin.0.actor()))]
async fn faults(
    _admin: Admin,
    service: web::Data<VaultService>,
    body: web::Json<FaultsBody>,
) -> HttpResponse {
    if body.close_denial_windows {
        service.close_denial_windows().await;
    }
    service.audit_inject_write_failures(body.fail_next);
    tracing::warn!(fail_next = body.fail_next, "audit fault injection armed");
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(FaultsBody {
            fail_next: body.fail_next,
            close_denial_windows: body.close_denial_windows,
        })
}
