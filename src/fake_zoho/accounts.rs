//! The accounts-server routes (docs/zoho.md):
//! `POST /oauth/v2/token`, `POST /oauth/v2/token/revoke` and
//! `GET /oauth/serverinfo`. Errors are HTTP 200 with an `error` body, as
//! Zoho does; injected faults and latency apply to the token route.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::config::FakeZohoConfig;
use super::model::FaultKind;
use super::params::Params;
use super::server::{zoho_json, Shared};
use super::state::{Grant, TokenError, TokenParams};

/// The throttle text Zoho sends (§2, "Access Denied" row).
pub const THROTTLE_DESCRIPTION: &str =
    "You have made too many requests continuously. Please try again after some time.";

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/v2/token", web::post().to(token))
        .route("/oauth/v2/token/revoke", web::post().to(revoke))
        .route("/oauth/serverinfo", web::get().to(serverinfo));
}

async fn token(req: HttpRequest, payload: web::Payload, shared: web::Data<Shared>) -> HttpResponse {
    let (latency_ms, timeout_secs) = {
        let mut state = shared.lock();
        state.count_token_request();
        (state.config.latency_ms, state.config.timeout_fault_secs)
    };
    // Read the whole request first so a "drop" fault hits a client that is
    // waiting for its answer, not one still sending.
    let params = Params::read(&req, payload).await;
    sleep_ms(latency_ms).await;
    let fault = shared.lock().take_fault();
    if let Some(kind) = fault {
        return fault_response(kind, timeout_secs).await;
    }
    let Ok(params) = params else {
        // A guess: Zoho's answer to an unreadable body is undocumented.
        return zoho_json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request"}),
        );
    };
    let params = TokenParams {
        grant_type: params.get("grant_type").map(str::to_owned),
        client_id: params.get("client_id").map(str::to_owned),
        client_secret: params.get("client_secret").map(str::to_owned),
        code: params.get("code").map(str::to_owned),
        redirect_uri: params.get("redirect_uri").map(str::to_owned),
        refresh_token: params.get("refresh_token").map(str::to_owned),
    };
    let mut state = shared.lock();
    let now = state.now_ms();
    match state.token(&params, now) {
        Ok(grant) => zoho_json(
            StatusCode::OK,
            &grant_body(&grant, &state.config, &shared.base_url),
        ),
        Err(TokenError::Throttled) => {
            let status =
                StatusCode::from_u16(state.config.throttle_http_status).unwrap_or(StatusCode::OK);
            zoho_json(status, &throttle_body())
        }
        Err(e) => zoho_json(StatusCode::OK, &json!({"error": e.to_string()})),
    }
}

/// The success body of §1.2 / §1.3, in the modern or legacy shape.
fn grant_body(grant: &Grant, config: &FakeZohoConfig, base_url: &str) -> Value {
    let mut body = json!({
        "access_token": grant.access_token,
        "api_domain": config.api_domain.as_deref().unwrap_or(base_url),
        "token_type": "Bearer",
    });
    if let Some(refresh_token) = &grant.refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    if config.include_scope {
        // Requests use commas, responses spaces (§1.2).
        body["scope"] = json!(grant.scopes.join(" "));
    }
    if config.legacy_expires {
        body["expires_in"] = json!(grant.expires_in_secs.saturating_mul(1000));
        body["expires_in_sec"] = json!(grant.expires_in_secs);
    } else {
        body["expires_in"] = json!(grant.expires_in_secs);
    }
    body
}

/// The "Access Denied" body of §2.
pub fn throttle_body() -> Value {
    json!({
        "error_description": THROTTLE_DESCRIPTION,
        "error": "Access Denied",
        "status": "failure",
    })
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn fault_response(kind: FaultKind, timeout_secs: u64) -> HttpResponse {
    let html = |status: StatusCode| {
        HttpResponse::build(status)
            .content_type("text/html")
            .body(format!("<html><body><h1>{status}</h1></body></html>"))
    };
    match kind {
        FaultKind::Status500 => html(StatusCode::INTERNAL_SERVER_ERROR),
        FaultKind::Status503 => html(StatusCode::SERVICE_UNAVAILABLE),
        FaultKind::Timeout => {
            // An async sleep holds only this request; others go on.
            tokio::time::sleep(Duration::from_secs(timeout_secs)).await;
            html(StatusCode::GATEWAY_TIMEOUT)
        }
        FaultKind::Drop => {
            // actix cannot close a socket without answering; a body stream
            // that fails makes it abort the connection after the head, so
            // the client sees a truncated response it cannot parse.
            let broken = futures_util::stream::once(async {
                Err::<web::Bytes, _>(std::io::Error::other("fake-zoho drop fault"))
            });
            HttpResponse::Ok()
                .insert_header(("Content-Type", "application/json;charset=UTF-8"))
                .streaming(broken)
        }
    }
}

async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let latency_ms = shared.lock().config.latency_ms;
    let params = Params::read(&req, payload)
        .await
        .unwrap_or_else(|_| Params::from_query(&req));
    sleep_ms(latency_ms).await;
    let token = params.get("token").unwrap_or_default();
    if shared.lock().revoke(token) {
        zoho_json(StatusCode::OK, &json!({"status": "success"}))
    } else {
        // HTTP 400 is documented (§4); the body is a guess.
        zoho_json(
            StatusCode::BAD_REQUEST,
            &json!({"status": "failure", "error": "invalid_token"}),
        )
    }
}

/// A guess at the shape (§1.1 says it is UNCONFIRMED): community code reads
/// `result` and `locations[<location>]`.
async fn serverinfo(shared: web::Data<Shared>) -> HttpResponse {
    let location = shared.lock().config.location.clone();
    zoho_json(
        StatusCode::OK,
        &json!({"result": "success", "locations": {location: shared.base_url}}),
    )
}
