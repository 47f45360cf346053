//! `/v1/audit`: query, verify, export, fingerprint lookup, prune; and the
//! `POST /v1/sys/audit-faults` test knob (only with `audit.fault_injection`).
//!
//! Every read is itself audited (`audit_read`) before it is answered, and
//! fails closed: no audit, no answer (503).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{guard, web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::extract::Admin;
use super::{resource, ApiError};
use crate::audit::query::{parse_time, MAX_EXPORT_LIMIT};
use crate::audit::{
    verify_export, AuditEvent, ChainKey, Query, QueryParams, ReadKind, RequestContext,
};
use crate::service::VaultService;

/// Largest export accepted by `POST /v1/audit/verify-export`.
pub const MAX_EXPORT_UPLOAD: usize = 64 * 1024 * 1024;
/// Header carrying an export page's cursor.
pub const NEXT_HEADER: &str = "x-audit-next";

/// Who and where, for audit events: the `X-Request-Id` header when it is a
/// short token (else a fresh random id) and the TCP peer's IP.
pub fn request_context(req: &HttpRequest) -> RequestContext {
    // The guard middleware gives every request its id; the fallback only
    // serves requests built without it (unit tests).
    let request_id = req
        .extensions()
        .get::<super::middleware::RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    RequestContext {
        request_id: Some(request_id),
        source: req.peer_addr().map(|a| a.ip().to_string()),
    }
}

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
            web::resource("/sys/audit-faults")
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
    let event = AuditEvent::audit_read(&admin.0, kind, filter, &request_context(req));
    service.audit().append(event).await?;
    Ok(())
}

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
    Ok(HttpResponse::Ok().json(service.audit().query(query).await?))
}

#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn verify(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
) -> Result<HttpResponse, ApiError> {
    let keyring = service.vault().keyring()?;
    audited_read(&service, &req, &admin, ReadKind::Verify, None).await?;
    let report = service.audit().verify(keyring).await?;
    if !report.ok {
        tracing::error!(broken = ?report.broken, "the audit chain does not verify");
    }
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    after: Option<u64>,
    until: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/audit/export?after=&until=&limit=`: JSON lines in seq order;
/// `X-Audit-Next` carries the `after` of the next page when more may follow.
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
    let (records, next) = service.audit().export_page(p.after, until, limit).await?;
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

/// `POST /v1/audit/verify-export`: the body is an export (JSON lines).
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn verify_uploaded(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let keyring = service.vault().keyring()?;
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
    let key: Arc<dyn ChainKey> = keyring;
    let report = web::block(move || verify_export(&text, key.as_ref()))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintBody {
    token: SecretString,
}

/// `POST /v1/audit/fingerprint` `{"token"}` → `{"fingerprint"}`.
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn fingerprint(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
    body: web::Json<FingerprintBody>,
) -> Result<HttpResponse, ApiError> {
    let keyring = service.vault().keyring()?;
    audited_read(&service, &req, &admin, ReadKind::Fingerprint, None).await?;
    let fp = keyring.fingerprint(body.token.expose_secret());
    Ok(HttpResponse::Ok().json(serde_json::json!({ "fingerprint": fp })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PruneBody {
    until_seq: u64,
}

/// `POST /v1/audit/prune` `{"until_seq"}` → `{"checkpoint": {seq, hash}}`.
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
async fn prune(
    req: HttpRequest,
    admin: Admin,
    service: web::Data<VaultService>,
    body: web::Json<PruneBody>,
) -> Result<HttpResponse, ApiError> {
    let until = body.until_seq;
    // Audited first (fail closed); the event lands after `until`, so the
    // prune never removes its own record.
    let event = AuditEvent::audit_pruned(&admin.0, until, &request_context(&req));
    service.audit().append(event).await?;
    let checkpoint = service.audit().prune(until).await?;
    tracing::warn!(until_seq = until, "audit trail pruned");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "checkpoint": checkpoint })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    fail_next: u64,
}

/// `POST /v1/sys/audit-faults` `{"fail_next": n}` (test knob).
#[tracing::instrument(skip_all, fields(actor = %_admin.0.actor()))]
async fn faults(
    _admin: Admin,
    service: web::Data<VaultService>,
    body: web::Json<FaultsBody>,
) -> HttpResponse {
    service.audit().inject_write_failures(body.fail_next);
    tracing::warn!(fail_next = body.fail_next, "audit fault injection armed");
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "fail_next": body.fail_next }))
}
