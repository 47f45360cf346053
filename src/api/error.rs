//! The one JSON error shape: `{"error": {"code", "message", "hint"?, "fix"?}}`.
//!
//! Every layer's error maps here once ([`mapping`]), choosing the status
//! and a stable snake_case code. Server-side failures are logged with their
//! cause chain and answered with a generic message, so no internal detail
//! (let alone a secret) reaches the client. A domain [`Fix`] is sent as
//! data (`fix`) and, unless the mapping words it itself, as the `hint` in
//! HTTP words ([`fix::http_words`]). Extractor failures are in [`payload`].

mod fix;
mod mapping;
mod payload;
#[cfg(test)]
mod tests;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::model::Fix;

pub(crate) use fix::http_words;
pub use payload::json_error;
pub(crate) use payload::{json_config, path_config, query_config};

/// What an operator does about a full disk.
pub(crate) const DISK_FULL_HINT: &str =
    "disk full: free space on the data directory's filesystem; the vault resumes by itself";

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    hint: Option<String>,
    fix: Option<Fix>,
    retry_after: Option<u64>,
}

/// The one error shape, as sent (and as the OpenAPI document describes it).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": {"code": "needs_reauth", "message": "connection `acme` needs re-authorization: the refresh token no longer works", "hint": "generate a new code in Zoho's API console (Self Client > Generate Code, same scopes) and upload it again: PUT /v1/connections/acme with the new self_client.json (or a fresh refresh token) replaces the dead credentials in place, keeping the name and its grants; no delete needed", "fix": {"code": "reauthorize", "connection": "acme"}}}))]
pub(crate) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail<'a> {
    /// A stable snake_case code, e.g. `not_found`, `sealed`, `needs_reauth`.
    code: &'a str,
    /// What happened, for people; never quotes the request or a secret.
    message: &'a str,
    /// What to do about it, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
    /// The same fix as data, for programs: `code` names it (e.g.
    /// `reauthorize`, `delete_first`, `unseal`), other fields say what it
    /// applies to (e.g. `connection`). Absent when there is nothing to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'a Fix>,
}

impl ApiError {
    /// An error with a status, stable code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            hint: None,
            fix: None,
            retry_after: None,
        }
    }

    /// Adds what the caller can do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds the machine-readable fix. It is also the hint, in HTTP words,
    /// unless [`ApiError::with_hint`] words it for this error.
    pub fn with_fix(mut self, fix: Option<Fix>) -> Self {
        self.fix = fix;
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 400 with code `bad_request` or a more specific one.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A 500 whose cause is logged, not sent.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        if crate::store::disk::is_disk_full(cause) {
            tracing::error!(error = %cause, "refusing: the data directory's filesystem is full");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the store cannot be written, so nothing was done",
            )
            .with_hint(DISK_FULL_HINT);
        }
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What happened, for people (never a secret).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What to do about it, when the error carries its own hint.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The machine-readable fix, if any.
    pub fn fix(&self) -> Option<&Fix> {
        self.fix.as_ref()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let worded = match (&self.hint, &self.fix) {
            (Some(hint), _) => Some(hint.clone()),
            (None, Some(fix)) => Some(fix::http_words(fix)),
            (None, None) => None,
        };
        builder.json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                hint: worded.as_deref(),
                fix: self.fix.as_ref(),
            },
        })
    }
}

/// 404 for every unknown route. Errors never quote the request: a path can
/// hold a token pasted there by mistake.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}

/// 405 for a known route with another method (nor the method nor the path
/// is quoted, see [`not_found`]).
pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this route",
    ))
}
