//! Login, logout and the session extractor ([`Ui`]).
//!
//! The session cookie (`zv_session`) holds a random id, never the admin
//! token: `HttpOnly; SameSite=Strict; Path=/ui`, `Secure` when the vault
//! serves TLS, and a `Max-Age` of `ui.session_ttl`. A failed login is
//! refused and audited like a failed API authentication (an
//! `access_denied` event, counted per address; past
//! `ratelimit.anonymous_*` the answer is 429).

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};

use super::error::ConsoleError;
use super::form::Fields;
use super::layout;
use crate::api::context::{client_addr, record_denial, request_context};
use crate::api::ApiError;
use crate::audit::RequestContext;
use crate::ratelimit::AddressLimiter;
use crate::service::{ServiceAuthError, Session, VaultService};
use crate::vault::VaultError;

/// The session cookie's name.
const SESSION_COOKIE: &str = "zv_session";

/// The cookie that marks a browser flow started from the console, so that
/// the callback sends the browser back to the connection's page.
const FLOW_COOKIE: &str = "zv_ui_flow";

/// A logged-in admin, from the session cookie. Without a live session the
/// request is sent to the login page (303 to `/ui/`).
pub struct Ui {
    pub session: Session,
    pub ctx: RequestContext,
    /// The session's id (from the cookie), for the session's flash.
    pub id: String,
}

impl Ui {
    /// Checks a form's CSRF token against the session's (403 otherwise).
    pub fn check_csrf(&self, fields: &Fields) -> Result<(), ConsoleError> {
        match fields.get("csrf") {
            Some(given) if self.session.csrf_matches(given) => Ok(()),
            _ => Err(ConsoleError::Csrf),
        }
    }
}

fn session_id(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The audit context of a console request: the request's, with the
/// channel `ui`.
pub fn ui_context(req: &HttpRequest) -> RequestContext {
    RequestContext {
        channel: Some("ui"),
        ..request_context(req)
    }
}

fn service(req: &HttpRequest) -> Result<web::Data<VaultService>, ConsoleError> {
    req.app_data::<web::Data<VaultService>>()
        .cloned()
        .ok_or(ConsoleError::Internal)
}

impl FromRequest for Ui {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let service = service(&req)?;
            if service.is_sealed() {
                return Err(ConsoleError::Sealed);
            }
            let id = session_id(&req).ok_or(ConsoleError::Login)?;
            let session = service
                .console_session(&id)
                .await
                .ok_or(ConsoleError::Login)?;
            // For the audit of a refusal decided later (a CSRF failure).
            req.extensions_mut().insert(session.principal.clone());
            Ok(Ui {
                session,
                ctx: ui_context(&req),
                id,
            })
        })
    }
}

/// `GET /ui/`: the login page, or the connections for a logged-in admin.
pub async fn home(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let service = service(&req)?;
    if service.is_sealed() {
        return Err(ConsoleError::Sealed);
    }
    if let Some(id) = session_id(&req) {
        if service.console_session(&id).await.is_some() {
            return Ok(see_other("/ui/connections"));
        }
    }
    Ok(layout::html(StatusCode::OK, layout::login(None)))
}

/// `GET /ui`: the console's home is `/ui/` (the cookie's path).
pub async fn to_home() -> HttpResponse {
    see_other("/ui/")
}

/// `POST /ui/login` (form field `token`).
pub async fn login(req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    let service = service(&req)?;
    if service.is_sealed() {
        return Err(ConsoleError::Sealed);
    }
    let fields = Fields::parse(&body);
    let token = fields.get("token").unwrap_or_default().trim();
    let (id, session) = match service.console_login(token).await {
        Ok(ok) => ok,
        // The token was good but the session could not be saved: not a
        // refusal to audit.
        Err((ServiceAuthError::Vault(VaultError::Store(e)), None)) => {
            tracing::error!(error = %e, "cannot start a console session");
            return Err(ConsoleError::Internal);
        }
        Err((e, who)) => return Ok(refused(&req, &service, e, who).await),
    };
    tracing::info!(actor = %session.principal.actor(), "console login");
    let secure = service.settings().tls.cert_file.is_some();
    let ttl = service.settings().ui.session_ttl.0.as_secs();
    let cookie = Cookie::build(SESSION_COOKIE, id)
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(ttl).unwrap_or(i64::MAX),
        ))
        .finish();
    let mut res = see_other("/ui/connections");
    res.add_cookie(&cookie)
        .map_err(|_| ConsoleError::Internal)?;
    Ok(res)
}

/// A refused login: audited as an API authentication failure; 401 with
/// the login page, 429 (with `Retry-After`) past the per-address limit of
/// failed attempts.
async fn refused(
    req: &HttpRequest,
    service: &VaultService,
    e: ServiceAuthError,
    who: Option<crate::auth::Principal>,
) -> HttpResponse {
    let err = ApiError::from(e);
    record_denial(req, service, &err, who.as_ref()).await;
    let wait = who
        .is_none()
        .then(|| {
            req.app_data::<web::Data<AddressLimiter>>()
                .zip(client_addr(req))
        })
        .flatten()
        .and_then(|(limiter, addr)| limiter.check(addr).err());
    if let Some(secs) = wait {
        tracing::warn!("too many failed console logins from this address");
        let mut res = layout::html(
            StatusCode::TOO_MANY_REQUESTS,
            layout::login(Some(
                "Too many failed logins from this address. Wait a minute, then try again.",
            )),
        );
        if let Ok(v) = header::HeaderValue::from_str(&secs.max(1).to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    // The same words and status for a service token as for a token that
    // does not exist: the login form must not tell anyone which service
    // tokens are valid. The audit trail keeps the difference (403 / 401).
    layout::html(
        StatusCode::UNAUTHORIZED,
        layout::login(Some(
            "This token was not accepted: the console needs an admin token (zva_...).",
        )),
    )
}

/// `POST /ui/logout`: ends the session (CSRF-checked) and clears the
/// cookie.
pub async fn logout(
    req: HttpRequest,
    ui: Ui,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    ui.check_csrf(&Fields::parse(&body))?;
    let service = service(&req)?;
    if let Some(id) = session_id(&req) {
        if let Err(e) = service.console_logout(&id).await {
            tracing::error!(error = %e, "cannot end a console session");
            return Err(ConsoleError::Internal);
        }
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "")
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    gone.make_removal();
    let mut res = see_other("/ui/");
    res.add_cookie(&gone).map_err(|_| ConsoleError::Internal)?;
    Ok(res)
}

/// A 303 to a console path.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The cookie set when the console starts a browser flow for `name`:
/// sent back only to the callback route, for the 15 minutes a link lives
/// at most. `SameSite=Lax`: the callback is a top-level navigation from
/// Zoho's site.
pub fn flow_cookie(name: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(FLOW_COOKIE, name.to_string())
        .path("/v1/oauth/callback")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::minutes(15))
        .finish()
}

/// Where the callback should send the browser after connecting `name`:
/// the console's page of that connection when the flow was started from
/// the console (its cookie names the same connection), else nowhere.
pub fn return_to_console(req: &HttpRequest, name: &str) -> Option<String> {
    let marked = req.cookie(FLOW_COOKIE)?;
    (marked.value() == name)
        .then(|| format!("/ui/connections/{}", super::layout::path_segment(name)))
}

/// The callback's answer for a flow started from the console: a 303 to
/// the connection's page, clearing the flow's cookie.
pub fn back_to_console(to: &str) -> HttpResponse {
    let mut gone = Cookie::build(FLOW_COOKIE, "")
        .path("/v1/oauth/callback")
        .finish();
    gone.make_removal();
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{to}?done=connected")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish();
    if res.add_cookie(&gone).is_err() {
        tracing::error!("cannot clear the console's browser-flow cookie");
    }
    res
}
