//! The control API for tests and scripts, under `/_fake/` (JSON in and out).
//! Every route does what the matching [`crate::fake_zoho::FakeZoho`] method
//! does in-process. Errors are `{"error": "<message>"}` with 400 or 404.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::config::ConfigPatch;
use super::model::{ClientSpec, CodeSpec, FaultSpec, DEFAULT_USER};
use super::server::{zoho_json, Shared};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_fake")
            .route("/clients", web::post().to(register_client))
            .route("/codes", web::post().to(issue_code))
            .route("/refresh-tokens", web::post().to(mint_refresh_token))
            .route("/refresh-tokens/{token}/revoke", web::post().to(revoke))
            .route(
                "/expire-access-tokens",
                web::post().to(expire_access_tokens),
            )
            .route(
                "/access-tokens/{token}/revoke",
                web::post().to(revoke_access_token),
            )
            .route("/data-refusals", web::post().to(refuse_data_calls))
            .route("/config", web::get().to(get_config))
            .route("/config", web::put().to(put_config))
            .route("/faults", web::post().to(push_fault))
            .route("/counters", web::get().to(counters))
            .route("/clock/advance", web::post().to(advance_clock))
            .route("/reset", web::post().to(reset)),
    );
}

fn bad(status: StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    zoho_json(status, &json!({"error": message.to_string()}))
}

/// Parses a JSON body; an empty body means `T::default()`-like `{}`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
}

fn ok(value: impl serde::Serialize) -> HttpResponse {
    match serde_json::to_value(value) {
        Ok(value) => zoho_json(StatusCode::OK, &value),
        Err(e) => bad(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn register_client(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let spec: ClientSpec = match parse(&body) {
        Ok(spec) => spec,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    match shared.lock().register_client(spec) {
        Ok(client) => ok(client),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn issue_code(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let spec: CodeSpec = match parse(&body) {
        Ok(spec) => spec,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let mut state = shared.lock();
    let now = state.now_ms();
    match state.issue_code(spec, now) {
        Ok(file) => ok(file),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshTokenSpec {
    client_id: String,
    #[serde(default)]
    scope: Vec<String>,
    #[serde(default)]
    user: Option<String>,
}

async fn mint_refresh_token(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let spec: RefreshTokenSpec = match parse(&body) {
        Ok(spec) => spec,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let user = spec.user.as_deref().unwrap_or(DEFAULT_USER);
    match shared
        .lock()
        .mint_refresh_token(&spec.client_id, spec.scope, user)
    {
        Ok(token) => ok(json!({"refresh_token": token})),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn revoke(token: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    if shared.lock().revoke(&token) {
        ok(json!({"status": "success"}))
    } else {
        bad(StatusCode::NOT_FOUND, "unknown token")
    }
}

async fn revoke_access_token(token: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    if shared.lock().revoke_access_token(&token) {
        ok(json!({"status": "success"}))
    } else {
        bad(StatusCode::NOT_FOUND, "unknown token")
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Refusals {
    count: u32,
}

async fn refuse_data_calls(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    match parse::<Refusals>(&body) {
        Ok(r) => {
            shared.lock().data_refusals = r.count;
            ok(json!({"count": r.count}))
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn expire_access_tokens(shared: web::Data<Shared>) -> HttpResponse {
    let mut state = shared.lock();
    let now = state.now_ms();
    state.expire_access_tokens(now);
    ok(json!({"status": "success"}))
}

async fn get_config(shared: web::Data<Shared>) -> HttpResponse {
    let config = shared.lock().config.clone();
    ok(config)
}

async fn put_config(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let patch: ConfigPatch = match parse(&body) {
        Ok(patch) => patch,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    let mut state = shared.lock();
    match state.config.apply(patch) {
        Ok(()) => ok(&state.config),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn push_fault(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let spec: FaultSpec = match parse(&body) {
        Ok(spec) => spec,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    shared.lock().push_fault(spec);
    ok(json!({"status": "success"}))
}

async fn counters(shared: web::Data<Shared>) -> HttpResponse {
    let state = shared.lock();
    ok(state.counters(state.now_ms()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockSpec {
    secs: i64,
}

async fn advance_clock(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let spec: ClockSpec = match parse(&body) {
        Ok(spec) => spec,
        Err(e) => return bad(StatusCode::BAD_REQUEST, e),
    };
    if spec.secs < 0 {
        return bad(StatusCode::BAD_REQUEST, "secs must not be negative");
    }
    shared.lock().advance_clock(spec.secs);
    ok(json!({"status": "success"}))
}

async fn reset(shared: web::Data<Shared>) -> HttpResponse {
    shared.lock().reset();
    ok(json!({"status": "success"}))
}
