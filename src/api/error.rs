//! The one JSON error shape: `{"error": {"code", "message", "hint"?}}`.
//!
//! Every layer's error maps here once, choosing the status and a stable
//! snake_case code. Server-side failures are logged with their cause chain
//! and answered with a generic message, so no internal detail (let alone a
//! secret) reaches the client.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::audit::AuditError;
use crate::auth::AuthError;
use crate::connections::{ConnectionError, ZohoOp};
use crate::service::{ServiceAuthError, ServiceError, UnsealError};
use crate::store::StoreError;
use crate::vault::VaultError;
use crate::zoho::{ErrorClass, ZohoError};

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    hint: Option<String>,
    retry_after: Option<u64>,
}

/// The one error shape, as sent (and as the OpenAPI document describes it).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": {"code": "needs_reauth", "message": "connection acme needs re-authorization", "hint": "generate a new code in Zoho's API console and upload the self_client.json again"}}))]
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
}

impl ApiError {
    /// An error with a status, stable code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            hint: None,
            retry_after: None,
        }
    }

    /// Adds what the caller can do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
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
        builder.json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                hint: self.hint.as_deref(),
            },
        })
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Sealed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sealed",
                "the vault is sealed",
            )
            .with_hint("unseal it with POST /v1/sys/unseal or `zoho-vault unseal`"),
            VaultError::NotInitialized => Self::new(
                StatusCode::CONFLICT,
                "not_initialized",
                "the vault is not initialised",
            )
            .with_hint("run `zoho-vault init` on the server"),
            VaultError::AlreadyInitialized => {
                Self::new(StatusCode::CONFLICT, "already_initialized", e.to_string())
            }
            VaultError::WrongPassphrase => Self::new(
                StatusCode::UNAUTHORIZED,
                "wrong_passphrase",
                "the passphrase does not unseal this vault",
            ),
            VaultError::Crypto(_) | VaultError::CorruptHeader | VaultError::Store(_) => {
                Self::internal(&e)
            }
        }
    }
}

/// What an operator does about a full disk.
const DISK_FULL_HINT: &str =
    "disk full: free space on the data directory's filesystem; the vault resumes by itself";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let unauthorized = |code, msg: &str| {
            Self::new(StatusCode::UNAUTHORIZED, code, msg)
                .with_hint("send `Authorization: Bearer zva_...` (admin) or `zvs_...` (service)")
        };
        match e {
            AuthError::Missing => unauthorized("missing_token", "this route needs a bearer token"),
            AuthError::Malformed => unauthorized("invalid_token", "the bearer token is malformed"),
            AuthError::Unknown => {
                unauthorized("invalid_token", "the bearer token is unknown or revoked")
            }
            AuthError::Expired => unauthorized("token_expired", "the bearer token has expired"),
            AuthError::Forbidden(msg) => Self::new(StatusCode::FORBIDDEN, "forbidden", msg),
            AuthError::Store(inner) => Self::internal(&inner),
        }
    }
}

impl From<ServiceAuthError> for ApiError {
    fn from(e: ServiceAuthError) -> Self {
        match e {
            ServiceAuthError::Vault(v) => v.into(),
            ServiceAuthError::Auth(a) => a.into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Vault(v) => v.into(),
            ServiceError::Auth(a) => a.into(),
            ServiceError::Connection(c) => c.into(),
            ServiceError::Store(s) => s.into(),
            ServiceError::Invalid(msg) => Self::bad_request("invalid_request", msg),
            ServiceError::Audit(a) => a.into(),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Unavailable(_) => {
                tracing::error!(error = %e, "refusing: the audit trail cannot be written");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit_unavailable",
                    "the audit trail cannot be written, so nothing was done",
                )
                .with_hint("retry shortly; the server log says why the audit write failed")
            }
            AuditError::DiskFull => {
                tracing::error!(error = %e, "refusing: the audit trail cannot be written");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit_unavailable",
                    "the audit trail cannot be written, so nothing was done",
                )
                .with_hint(DISK_FULL_HINT)
            }
            AuditError::InvalidQuery(msg) => Self::bad_request("invalid_query", msg),
            AuditError::InvalidPrune(msg) => Self::new(StatusCode::CONFLICT, "invalid_prune", msg),
            AuditError::Store(_) | AuditError::Damaged { .. } => Self::internal(&e),
        }
    }
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        use StatusCode as S;
        match e {
            ConnectionError::Invalid(msg) => Self::bad_request("invalid_request", msg),
            // Errors never quote the request: the name came from the path.
            ConnectionError::NotFound(_) => Self::not_found("no connection with this name"),
            ConnectionError::Exists(ref name) => Self::new(S::CONFLICT, "connection_exists", e.to_string())
                .with_hint(format!("delete it first (DELETE /v1/connections/{name}) or choose another name")),
            ConnectionError::CustomUrlDisabled => Self::bad_request("custom_accounts_url_disabled", e.to_string())
                .with_hint("name a `data_center` instead, or set zoho.allow_custom_accounts_url = true"),
            ConnectionError::CodeExpired(_) => Self::new(S::UNPROCESSABLE_ENTITY, "code_expired", e.to_string())
                .with_hint("generate a new code in Zoho's API console (Self Client > Generate Code) and upload the new self_client.json within its lifetime"),
            ConnectionError::Zoho { op, err } => zoho_error(op, err),
            ConnectionError::NeedsReauth { ref fix, .. } => {
                let fix = fix.clone();
                Self::new(S::CONFLICT, "needs_reauth", e.to_string()).with_hint(fix)
            }
            ConnectionError::Throttled { retry_after, .. } => {
                Self::new(S::TOO_MANY_REQUESTS, "upstream_throttled", e.to_string())
                    .with_hint("Zoho limits access tokens to 10 per refresh token per 10 minutes; the vault waits before asking again")
                    .with_retry_after(retry_after)
            }
            ConnectionError::BudgetExhausted { retry_after, .. } => {
                Self::new(S::TOO_MANY_REQUESTS, "refresh_budget_exhausted", e.to_string())
                    .with_hint("ask without `min_valid_secs` to get the cached token, or retry after the Retry-After delay")
                    .with_retry_after(retry_after)
            }
            ConnectionError::PendingAuthorization { ref name } => {
                let fix = crate::connections::fix_pending(name);
                Self::new(S::CONFLICT, "pending_authorization", e.to_string()).with_hint(fix)
            }
            ConnectionError::NoRedirectUri(_) => Self::new(S::CONFLICT, "redirect_uri_missing", e.to_string())
                .with_hint("the browser flow needs a server-based client: register one in Zoho's API console with the vault's callback URL (https://<vault>/v1/oauth/callback) as redirect URI, then create the connection with `client_id`, `client_secret`, `scope` and that `redirect_uri`"),
            ConnectionError::Store(s) => s.into(),
        }
    }
}

impl From<UnsealError> for ApiError {
    fn from(e: UnsealError) -> Self {
        match e {
            UnsealError::Vault(v) => v.into(),
            UnsealError::Audit(a) => a.into(),
        }
    }
}

/// Zoho's answers, explained for the admin.
fn zoho_error(op: ZohoOp, err: ZohoError) -> ApiError {
    use StatusCode as S;
    let msg = err.to_string();
    match (&err, op) {
        (ZohoError::InvalidCode, ZohoOp::Exchange) => ApiError::new(S::UNPROCESSABLE_ENTITY, "code_invalid", "Zoho refused the code: it has expired or was already used (invalid_code)")
            .with_hint("generate a new code in Zoho's API console (Self Client > Generate Code) and upload the new self_client.json within its lifetime; each code works once"),
        (ZohoError::InvalidCode, _) => ApiError::new(S::UNPROCESSABLE_ENTITY, "refresh_token_invalid", "Zoho refused the refresh token: it was revoked or evicted (invalid_code)")
            .with_hint("generate a new code in Zoho's API console and upload the self_client.json instead"),
        (ZohoError::InvalidClient, _) => ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_client", msg)
            .with_hint("check `client_id`, and that `data_center` is where the self client was created (com, eu, in, com.au, jp, ca, sa, uk, com.cn); a wrong data center looks the same to Zoho"),
        (ZohoError::InvalidClientSecret, _) => ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_client_secret", msg)
            .with_hint("copy the client secret again from the API console (Self Client > Client Secret)"),
        (ZohoError::InvalidRedirectUri, _) => ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_redirect_uri", msg)
            .with_hint("the redirect URI must equal the one registered for the client; self-client uploads need none"),
        (ZohoError::Throttled { .. } | ZohoError::AccessDenied, _) => ApiError::new(S::TOO_MANY_REQUESTS, "upstream_throttled", msg)
            .with_hint("Zoho blocks further tokens for about 10 minutes; try again later")
            .with_retry_after(600),
        (ZohoError::Rejected { .. }, ZohoOp::Exchange | ZohoOp::Import) => ApiError::new(S::UNPROCESSABLE_ENTITY, "upstream_rejected", format!("Zoho refused the upload with an answer the vault does not know: {msg}"))
            .with_hint("check the client id, secret, data center and code in Zoho's API console, then upload again"),
        (ZohoError::Timeout, _) => ApiError::new(S::GATEWAY_TIMEOUT, "upstream_timeout", msg)
            .with_hint("Zoho did not answer in time after retries; try again shortly"),
        _ if err.class() == ErrorClass::Transient => ApiError::new(S::BAD_GATEWAY, "upstream_unavailable", msg)
            .with_hint("Zoho's accounts server failed or gave an answer the vault cannot use; this is treated as temporary: try again shortly"),
        _ => ApiError::new(S::BAD_GATEWAY, "upstream_error", msg),
    }
}

/// serde_json messages can quote the offending input; keep the structure
/// of the message (field names are in backticks) but drop quoted values.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quote = false;
    for c in message.chars() {
        if c == '"' {
            if in_quote {
                out.push_str("\"…\"");
            }
            in_quote = !in_quote;
        } else if !in_quote {
            out.push(c);
        }
    }
    out
}

/// Maps JSON body extraction failures.
pub fn json_error(err: JsonPayloadError) -> ApiError {
    match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON",
        )
        .with_hint("send `Content-Type: application/json`"),
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(
            "invalid_body",
            format!("invalid JSON body: {}", redact_quoted(&e.to_string())),
        ),
        _ => ApiError::bad_request("invalid_body", "the request body could not be read"),
    }
}

pub(crate) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::bad_request(
            "invalid_path",
            format!(
                "invalid path parameter: {}",
                redact_quoted(&err.to_string())
            ),
        )
        .into()
    })
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::bad_request(
            "invalid_query",
            format!("invalid query string: {}", redact_quoted(&err.to_string())),
        )
        .into()
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_of(e: ApiError) -> (u16, serde_json::Value) {
        let resp = e.error_response();
        let status = resp.status().as_u16();
        let bytes = to_bytes(resp.into_body()).await.expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[actix_web::test]
    async fn status_mapping_is_pinned() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (VaultError::Sealed.into(), 503, "sealed"),
            (VaultError::WrongPassphrase.into(), 401, "wrong_passphrase"),
            (VaultError::NotInitialized.into(), 409, "not_initialized"),
            (AuthError::Missing.into(), 401, "missing_token"),
            (AuthError::Unknown.into(), 401, "invalid_token"),
            (AuthError::Expired.into(), 401, "token_expired"),
            (AuthError::Forbidden("no".into()).into(), 403, "forbidden"),
            (
                AuditError::Unavailable("disk on fire").into(),
                503,
                "audit_unavailable",
            ),
            (
                AuditError::InvalidQuery("bad".into()).into(),
                400,
                "invalid_query",
            ),
            (
                StoreError::Backend("disk on fire".into()).into(),
                500,
                "internal",
            ),
            (
                ConnectionError::PendingAuthorization {
                    name: "acme".into(),
                }
                .into(),
                409,
                "pending_authorization",
            ),
            (
                ConnectionError::NoRedirectUri("acme".into()).into(),
                409,
                "redirect_uri_missing",
            ),
        ];
        for (err, status, code) in cases {
            let (s, body) = body_of(err).await;
            assert_eq!(s, status);
            assert_eq!(body["error"]["code"], code);
            assert!(!body.to_string().contains("disk on fire"));
        }
    }

    #[test]
    fn quoted_input_is_redacted_from_serde_messages() {
        let msg = "invalid type: string \"hunter2\", expected u64 at line 1 column 20";
        let red = redact_quoted(msg);
        assert!(!red.contains("hunter2"));
        assert!(red.contains("expected u64"));
        let unknown = "unknown field `bogus`, expected one of `a`, `b`";
        assert_eq!(redact_quoted(unknown), unknown);
    }
}
