//! Data API endpoints for the vault's proxy tests, beside the Invoice API:
//! a CRM-shaped record list, and echo endpoints that show what arrived
//! (method, path, query, header names), take an upload of any size, send
//! a download of N bytes, redirect, or never answer. A dead access token
//! (expired, revoked, evicted or unknown) gets Zoho CRM's 401
//! `INVALID_TOKEN` body; past `max_concurrent_per_org` calls in flight,
//! Zoho's 429 body. Bodies are streamed, never held whole.
//!
//! - `GET /crm/v2/Leads`
//! - `ANY /echo/v1/headers`
//! - `POST|PUT /echo/v1/upload` answers `{"code":0,"bytes":N}`
//! - `GET /echo/v1/download?bytes=N`
//! - `GET /echo/v1/redirect` answers 302 to another host
//! - `ANY /echo/v1/hang` never answers (timeouts, concurrency)

use std::sync::atomic::Ordering;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;

use super::params::Params;
use super::server::{zoho_json, Shared};

/// Download chunk size.
const CHUNK: usize = 64 * 1024;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/crm/v2/Leads", web::get().to(leads))
        .route("/echo/v1/headers", web::route().to(headers))
        .route("/echo/v1/upload", web::post().to(upload))
        .route("/echo/v1/upload", web::put().to(upload))
        .route("/echo/v1/download", web::get().to(download))
        .route("/echo/v1/redirect", web::get().to(redirect))
        .route("/echo/v1/hang", web::route().to(hang));
}

/// One call in flight against the organization's concurrency limit.
struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a data call was refused.
enum Refused {
    DeadToken,
    Busy,
}

impl Refused {
    /// Zoho CRM's answer.
    fn answer(self) -> HttpResponse {
        match self {
            Self::DeadToken => zoho_json(
                StatusCode::UNAUTHORIZED,
                &json!({"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}),
            ),
            Self::Busy => zoho_json(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"code": "TOO_MANY_REQUESTS", "details": {}, "message": "concurrency limit exceeded", "status": "error"}),
            ),
        }
    }
}

/// Checks the token and the concurrency limit.
fn admit<'a>(req: &HttpRequest, shared: &'a Shared) -> Result<InFlight<'a>, Refused> {
    let limit = {
        let mut state = shared.lock();
        state.count_invoice_call();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Zoho-oauthtoken "))
            .unwrap_or_default()
            .trim()
            .to_string();
        if state.data_refusals > 0 {
            state.data_refusals -= 1;
            return Err(Refused::DeadToken);
        }
        if state.access_token_scopes(&token, state.now_ms()).is_none() {
            return Err(Refused::DeadToken);
        }
        state.config.max_concurrent_per_org
    };
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let guard = InFlight(shared);
    if limit > 0 && now > limit {
        return Err(Refused::Busy);
    }
    Ok(guard)
}

async fn leads(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let _in = match admit(&req, &shared) {
        Ok(g) => g,
        Err(refused) => return refused.answer(),
    };
    zoho_json(
        StatusCode::OK,
        &json!({"data": [{"id": "4150868000000224005", "Last_Name": "Fake"}], "info": {"count": 1, "more_records": false}}),
    )
}

async fn headers(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let _in = match admit(&req, &shared) {
        Ok(g) => g,
        Err(refused) => return refused.answer(),
    };
    let mut seen = serde_json::Map::new();
    for (name, value) in req.headers() {
        // Never echo the credential itself.
        let shown = if name == header::AUTHORIZATION {
            "[present]".to_string()
        } else {
            value.to_str().unwrap_or("[binary]").to_string()
        };
        seen.insert(name.as_str().to_string(), json!(shown));
    }
    zoho_json(
        StatusCode::OK,
        &json!({
            "code": 0,
            "method": req.method().as_str(),
            "path": req.path(),
            "query": req.query_string(),
            "headers": seen,
        }),
    )
}

async fn upload(
    req: HttpRequest,
    mut payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let _in = match admit(&req, &shared) {
        Ok(g) => g,
        Err(refused) => return refused.answer(),
    };
    let mut bytes = 0u64;
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) => bytes += chunk.len() as u64,
            Err(_) => {
                return zoho_json(
                    StatusCode::BAD_REQUEST,
                    &json!({"code": 2, "message": "broken body"}),
                )
            }
        }
    }
    zoho_json(StatusCode::OK, &json!({"code": 0, "bytes": bytes}))
}

async fn download(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    if let Err(refused) = admit(&req, &shared) {
        return refused.answer();
    }
    let total: u64 = Params::from_query(&req)
        .get("bytes")
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    let chunk = Bytes::from(vec![b'z'; CHUNK]);
    let chunks = futures_util::stream::unfold(total, move |left| {
        let chunk = chunk.clone();
        async move {
            if left == 0 {
                return None;
            }
            let n = left.min(CHUNK as u64);
            Some((Ok::<_, std::io::Error>(chunk.slice(..n as usize)), left - n))
        }
    });
    HttpResponse::Ok()
        .insert_header(("Content-Type", "application/octet-stream"))
        .insert_header(("Server", "ZGS"))
        .body(actix_web::body::SizedStream::new(total, chunks))
}

async fn redirect(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let _in = match admit(&req, &shared) {
        Ok(g) => g,
        Err(refused) => return refused.answer(),
    };
    HttpResponse::Found()
        .insert_header((header::LOCATION, "http://127.0.0.1:9/stolen"))
        .finish()
}

async fn hang(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let _in = match admit(&req, &shared) {
        Ok(g) => g,
        Err(refused) => return refused.answer(),
    };
    // Held until the caller gives up or the server stops.
    std::future::pending::<()>().await;
    HttpResponse::Ok().finish()
}
