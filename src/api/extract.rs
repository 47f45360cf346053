//! Request extractors: bearer tokens ([`Caller`]: any valid token,
//! [`Admin`]), validated path parameters ([`ConnectionName`], [`TokenId`])
//! and the audit context ([`Ctx`]).
//!
//! A sealed vault cannot check tokens, so the token extractors answer 503
//! while sealed. Every refusal they make (401, 403) is audited (see
//! [`super::context`]); an authenticated caller's [`Principal`] is left in
//! the request's extensions so that a 401/403 decided later (e.g. a
//! connection the token was not granted) is audited by
//! [`super::middleware`] with the caller's identity.
//! A valid token over its rate limit gets `429 rate_limited`, and so does
//! an address that keeps failing to authenticate ([`AddressLimiter`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::Deserialize;

use super::context::{record_denial, request_context};
use super::ApiError;
use crate::auth::{is_token_id, AuthError, Principal};
use crate::crypto::token::parse_bearer;
use crate::ratelimit::{AddressLimiter, RateLimiter};
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
    service.require_unsealed()?;
    let result = match bearer(&req) {
        Ok(token) => service.authenticate(&token).await.map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    let principal = match result {
        Ok(p) => p,
        Err(e) => {
            record_denial(&req, &service, &e, None).await;
            return Err(over_address_limit(&req).unwrap_or(e));
        }
    };
    req.extensions_mut().insert(principal.clone());
    if let Some(limiter) = req.app_data::<web::Data<RateLimiter>>() {
        if let Err(retry_after) = limiter.check(&principal.token_id) {
            tracing::warn!(token_id = %principal.token_id, "request over the token's rate limit");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "this token sent more requests than its rate limit allows",
            )
            .with_hint("slow down and retry after the Retry-After delay; access tokens are valid for up to an hour, so cache them")
            .with_retry_after(retry_after));
        }
    }
    Ok(principal)
}

/// `429` when the client's address has failed to authenticate more often
/// than `ratelimit.anonymous_*` allows (the failure is counted either way).
fn over_address_limit(req: &HttpRequest) -> Option<ApiError> {
    let limiter = req.app_data::<web::Data<AddressLimiter>>()?;
    let addr = super::context::client_addr(req)?;
    let retry_after = limiter.check(addr).err()?;
    tracing::warn!(client = %addr, "too many failed authentications from this address");
    Some(
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests without a valid token from this address",
        )
        .with_hint("send a valid bearer token; retry after the Retry-After delay")
        .with_retry_after(retry_after),
    )
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

/// The client's address as the vault believes it (see
/// [`super::context::ClientAddr`]): what per-address limits and back-offs
/// key on. `None` only for a request without a peer (unit tests).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl FromRequest for ClientAddr {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(ClientAddr(super::context::client_addr(req))))
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

#[derive(Deserialize)]
struct NameParam {
    name: String,
}

#[derive(Deserialize)]
struct IdParam {
    id: String,
}

/// The `{name}` path segment, checked against the connection-name rules
/// (`[A-Za-z0-9._-]`, 1 to 128 characters, not `.` or `..`) after
/// percent-decoding; anything else is `400 invalid_name`, before any
/// lookup and without echoing the input.
#[derive(Debug, Clone)]
pub struct ConnectionName(crate::model::ConnectionName);

impl ConnectionName {
    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The name, owned.
    pub fn into_inner(self) -> String {
        self.0.into_inner()
    }
}

impl std::ops::Deref for ConnectionName {
    type Target = crate::model::ConnectionName;

    fn deref(&self) -> &crate::model::ConnectionName {
        &self.0
    }
}

impl std::fmt::Display for ConnectionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromRequest for ConnectionName {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let result = web::Path::<NameParam>::extract(req)
            .into_inner()
            .and_then(|p| {
                let name = p.into_inner().name;
                if parse_bearer(&name).is_some() {
                    return Err(ApiError::bad_request(
                        "invalid_name",
                        "this looks like a bearer token, not a connection name",
                    )
                    .with_hint("never put tokens in URLs; send them in the Authorization header")
                    .into());
                }
                match crate::model::ConnectionName::parse(name) {
                    Ok(name) => Ok(ConnectionName(name)),
                    Err(msg) => Err(ApiError::bad_request("invalid_name", msg)
                        .with_hint(
                            "a connection name is 1 to 128 of `A-Z a-z 0-9 . _ -`, not `.` or `..`",
                        )
                        .into()),
                }
            });
        std::future::ready(result)
    }
}

/// The `{id}` path segment of a bearer token (`tok_` + 16 hex digits);
/// anything else is `400 invalid_id` without echoing the input.
#[derive(Debug, Clone)]
pub struct TokenId(String);

impl std::ops::Deref for TokenId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromRequest for TokenId {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let result = web::Path::<IdParam>::extract(req)
            .into_inner()
            .and_then(|p| {
                let id = p.into_inner().id;
                if is_token_id(&id) {
                    Ok(TokenId(id))
                } else {
                    Err(ApiError::bad_request(
                        "invalid_id",
                        "a token id is `tok_` followed by 16 hexadecimal digits",
                    )
                    .into())
                }
            });
        std::future::ready(result)
    }
}
