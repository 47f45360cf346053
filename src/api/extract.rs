//! Bearer-token extractors: [`Caller`] (any valid token) and [`Admin`].
//! A sealed vault cannot check tokens, so both answer 503 while sealed.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::audit::request_context;
use super::ApiError;
use crate::audit::AuditEvent;
use crate::auth::{AuthError, Principal};
use crate::service::VaultService;

/// Any authenticated caller.
pub struct Caller(pub Principal);

/// An authenticated admin.
pub struct Admin(pub Principal);

fn bearer(req: &HttpRequest) -> Result<String, AuthError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim().to_string())
}

async fn authenticate(req: HttpRequest) -> Result<Principal, ApiError> {
    let service = req
        .app_data::<web::Data<VaultService>>()
        .cloned()
        .ok_or_else(|| {
            ApiError::internal(&AuthError::Forbidden("service not configured".into()))
        })?;
    // Sealed first: without keys no token can be checked, and the caller
    // should learn that rather than "unknown token".
    service.vault().keyring()?;
    let result = match bearer(&req) {
        Ok(token) => service.authenticate(&token).await.map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = &result {
        record_denial(&req, &service, e, None).await;
    }
    result
}

/// Audits a 401/403 (other errors are not denials). Best effort: a denial
/// stays a denial even when its event cannot be written; that is logged.
async fn record_denial(
    req: &HttpRequest,
    service: &VaultService,
    err: &ApiError,
    who: Option<&Principal>,
) {
    let status = actix_web::ResponseError::status_code(err).as_u16();
    if status != 401 && status != 403 {
        return;
    }
    let event =
        AuditEvent::access_denied(status, err.code(), who, req.path(), &request_context(req));
    if let Err(e) = service.audit().append(event).await {
        tracing::error!(error = %e, status, "cannot record an access denial in the audit trail");
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(Caller) })
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(req.clone()).await?;
            if !principal.is_admin() {
                let err: ApiError =
                    AuthError::Forbidden("this route needs an admin token".into()).into();
                if let Some(service) = req.app_data::<web::Data<VaultService>>() {
                    record_denial(&req, service, &err, Some(&principal)).await;
                }
                return Err(err);
            }
            Ok(Admin(principal))
        })
    }
}

/// The request's audit context (request id, client address).
pub struct Ctx(pub crate::audit::RequestContext);

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(Ctx(request_context(req))))
    }
}
