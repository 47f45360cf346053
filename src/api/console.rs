//! The admin console: server-rendered HTML pages under `/ui/` for admins in
//! a browser. It is not part of the JSON API: the pages call the same
//! facade as the API routes (so every action is audited the same way,
//! with the `channel` detail `ui`), hold the admin in a session cookie
//! instead of a bearer header, and need no JavaScript.
//!
//! Every answer under `/ui/` carries a strict Content-Security-Policy (no
//! inline script or style), `X-Frame-Options: DENY`, `Referrer-Policy:
//! no-referrer` and `Cache-Control: no-store` ([`headers`]). With
//! `ui.enabled` off, `/ui/` answers 404.

mod audit;
mod chart;
mod connections;
mod error;
mod fix;
mod form;
mod layout;
mod session;
mod tokens;
mod webhooks;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse, ResponseError};

use super::ApiError;
use crate::service::VaultService;

pub use session::{back_to_console, return_to_console};

/// The Content-Security-Policy of every console answer: only this
/// origin's stylesheet and images, no script at all. No `form-action`:
/// browsers apply it to the redirect after a form is sent, and the
/// browser-flow forms answer with a redirect to Zoho's accounts server.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// The console's one stylesheet, built into the binary.
const STYLESHEET: &str = include_str!("../../static/console.css");

/// The console's routes (all under `/ui`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/ui")
            .wrap(from_fn(headers))
            .service(page("").route(web::get().to(session::to_home)))
            .service(page("/").route(web::get().to(session::home)))
            .service(
                page("/login")
                    .route(web::post().to(session::login))
                    // A reloaded or bookmarked login URL shows the form.
                    .route(web::get().to(session::to_home)),
            )
            .service(page("/logout").route(web::post().to(session::logout)))
            .service(page("/static/console.css").route(web::get().to(stylesheet)))
            .configure(connections::routes)
            .configure(tokens::routes)
            .configure(audit::routes)
            .configure(webhooks::routes),
    );
}

/// A console resource: a panic in its handler answers 500 (see
/// [`super::middleware::catch_panics`]). Not recorded among the API's
/// route templates: these pages are not part of the JSON API.
fn page(
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
> {
    web::resource(path).wrap(from_fn(super::middleware::catch_panics))
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(STYLESHEET)
}

/// 404 when the console is off; the security headers on every answer.
async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let enabled = req
        .app_data::<web::Data<VaultService>>()
        .is_some_and(|s| s.settings().ui.enabled_for(&s.settings().listen));
    let mut res = if enabled {
        next.call(req).await?.map_into_boxed_body()
    } else {
        let (http, _) = req.into_parts();
        ServiceResponse::new(
            http,
            ApiError::not_found("the admin console is off (ui.enabled)").error_response(),
        )
    };
    let h = res.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
    ] {
        h.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(res)
}

/// An action or read that the facade refused: the page says what happened
/// and the fix in console words, with the API's status.
pub(crate) struct Failure {
    status: actix_web::http::StatusCode,
    code: &'static str,
    message: String,
    fix: Option<String>,
}

impl From<crate::service::ServiceError> for Failure {
    fn from(e: crate::service::ServiceError) -> Self {
        let api = ApiError::from(e);
        let fix = api
            .fix()
            .map(fix::console_words)
            .or_else(|| api.hint().map(str::to_string));
        Self {
            status: api.status_code(),
            code: api.code(),
            message: api.message().to_string(),
            fix,
        }
    }
}

impl Failure {
    /// A form the console itself refuses (400), before any facade call.
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: actix_web::http::StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
            fix: None,
        }
    }

    /// The page titled `title` with this error and `body` under it.
    fn page(&self, ui: &session::Ui, title: &str, body: maud::Markup) -> HttpResponse {
        let message = capitalised(&self.message);
        let note = layout::Note::Error(&message, self.fix.as_deref());
        layout::html(
            self.status,
            layout::page(&ui.session, title, Some(note), body),
        )
    }

    /// Audits a refused admin action, as the API does for its routes.
    async fn record(
        &self,
        service: &VaultService,
        ui: &session::Ui,
        action: crate::audit::AuditAction,
        connection: Option<&crate::model::ConnectionName>,
    ) {
        if matches!(self.status.as_u16(), 401 | 403 | 429) {
            return;
        }
        service
            .record_refusal(
                action,
                &ui.session.principal,
                connection.map(|n| n.as_str()),
                self.status.as_u16(),
                self.code,
                &ui.ctx,
            )
            .await;
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
