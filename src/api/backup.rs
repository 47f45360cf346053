//! `GET /v1/sys/backup` (admin): the whole store, still encrypted, as a
//! download. An addition to the design contract (docs/http-api.md,
//! "Additions"; the format is in [`crate::backup`]).
//!
//! The backup is audited (`backup_taken`) before the first byte is sent:
//! if the event cannot be written the answer is 503 and nothing is backed
//! up. The body is streamed from the blocking pool through a bounded
//! channel, so a slow client slows the backup down instead of making the
//! server hold a copy of the store. A failure mid-way cuts the connection
//! (the file then has no trailer and is refused by `verify` and `restore`).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use time::OffsetDateTime;

use super::extract::{Admin, Ctx};
use super::{resource, ApiError};
use crate::service::VaultService;

/// The media type of a backup (JSON lines).
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// The routes of this resource (inside the `/v1` scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/sys/backup").route(web::get().to(backup)));
}

/// Download a backup of the store
///
/// Every entry of every record kind, still encrypted (the data key stays
/// wrapped by the passphrase), as JSON lines with a checksummed trailer.
/// Audited (`backup_taken`) before the first byte; restore it offline with
/// `zoho-vault restore FILE`.
#[utoipa::path(
    get,
    path = "/v1/sys/backup",
    tag = "sys",
    operation_id = "backup",
    security(("admin" = [])),
    responses(
        (status = 200, description = "The backup, streamed: a header line, one line per entry, and a trailer with the entry count and SHA-256", body = String,
            content_type = "application/x-ndjson",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"zoho-vault-<UTC time>.backup\"`"))),
    )
)]
#[tracing::instrument(skip_all, fields(actor = %admin.0.actor()))]
pub(crate) async fn backup(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
) -> Result<HttpResponse, ApiError> {
    let rx = service.backup(&admin.0, &ctx.0).await?;
    let name = crate::backup::file_name(OffsetDateTime::now_utc());
    tracing::info!(file = %name, "backup started");
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (chunk.map(web::Bytes::from), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}
