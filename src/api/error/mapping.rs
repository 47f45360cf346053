//! How each layer's error becomes an [`ApiError`]: the status, the stable
//! code, and the fix. Domain errors say which fix applies
//! ([`ConnectionError::fix`]); the words are [`super::fix::http_words`]
//! unless a hint here says more about this particular failure.

use actix_web::http::StatusCode;

use super::ApiError;
use crate::audit::AuditError;
use crate::auth::AuthError;
use crate::connections::{ConnectionError, ZohoOp};
use crate::model::Fix;
use crate::service::{ServiceAuthError, ServiceError, UnsealError};
use crate::store::StoreError;
use crate::vault::VaultError;
use crate::zoho::{ErrorClass, ZohoError};

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Sealed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sealed",
                "the vault is sealed",
            )
            .with_fix(Some(Fix::Unseal)),
            VaultError::NotInitialized => Self::new(
                StatusCode::CONFLICT,
                "not_initialized",
                "the vault is not initialised",
            )
            .with_fix(Some(Fix::Init)),
            VaultError::AlreadyInitialized => {
                Self::new(StatusCode::CONFLICT, "already_initialized", e.to_string())
            }
            VaultError::WrongPassphrase => Self::new(
                StatusCode::UNAUTHORIZED,
                "wrong_passphrase",
                "the passphrase does not unseal this vault",
            )
            .with_hint("check the passphrase; each wrong one doubles how long this address must wait before it may try again"),
            VaultError::UnsealThrottled { retry_after } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "unseal_rate_limited",
                "too many unseal attempts from this address",
            )
            .with_hint("each failed attempt doubles this address's wait; retry after the Retry-After delay")
            .with_fix(Some(Fix::WaitAndRetry {
                after_secs: Some(retry_after),
            }))
            .with_retry_after(retry_after),
            VaultError::UnsealBusy => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "unseal_busy",
                "other unseal attempts are running",
            )
            .with_hint("retry after the Retry-After delay")
            .with_retry_after(1),
            VaultError::Store(store @ StoreError::Unreachable(_)) => store.into(),
            VaultError::Crypto(_) | VaultError::CorruptHeader | VaultError::Store(_) => {
                Self::internal(&e)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unreachable(_) => {
                tracing::error!(error = %e, "the store is unreachable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e.to_string())
                    .with_hint("the vault's database cannot be reached; retry shortly: the vault reconnects by itself, and the server log says why")
            }
            _ => Self::internal(&e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let unauthorized = |code, msg: &str| {
            Self::new(StatusCode::UNAUTHORIZED, code, msg).with_fix(Some(Fix::SendBearerToken))
        };
        match e {
            AuthError::Missing => unauthorized("missing_token", "this route needs a bearer token"),
            AuthError::Malformed => unauthorized("invalid_token", "the bearer token is malformed"),
            AuthError::Unknown => {
                unauthorized("invalid_token", "the bearer token is unknown or revoked")
            }
            AuthError::Expired => unauthorized("token_expired", "the bearer token has expired"),
            AuthError::Forbidden(msg) => Self::new(StatusCode::FORBIDDEN, "forbidden", msg),
            AuthError::NotGranted(ref name) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()).with_hint(format!(
                    "a service token's connections cannot be changed: an admin creates a token granted `{name}` (POST /v1/service-tokens with \"connections\": [\"{name}\"], or `zoho-vault service-token create --name NAME --connection {name}`) and revokes this one"
                ))
            }
            AuthError::ProxyOnly(ref name) => {
                Self::new(StatusCode::FORBIDDEN, "proxy_only", e.to_string()).with_hint(format!(
                    "send the Zoho request to /v1/proxy/{name}/<API path> instead; the vault adds the access token"
                ))
            }
            AuthError::Store(inner) => inner.into(),
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
            ServiceError::Proxy(p) => p.into(),
            ServiceError::Webhook(w) => w.into(),
        }
    }
}

impl From<crate::webhooks::WebhookError> for ApiError {
    fn from(e: crate::webhooks::WebhookError) -> Self {
        use crate::webhooks::WebhookError;
        match e {
            WebhookError::Invalid(msg) => Self::bad_request("invalid_request", msg),
            WebhookError::NotFound(_) => Self::not_found(e.to_string()),
            WebhookError::Store(s) => s.into(),
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
                .with_fix(Some(Fix::WaitAndRetry { after_secs: None }))
            }
            AuditError::DiskFull => {
                tracing::error!(error = %e, "refusing: the audit trail cannot be written");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit_unavailable",
                    "the audit trail cannot be written, so nothing was done",
                )
                .with_hint(super::DISK_FULL_HINT)
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
        let fix = e.fix();
        let err = match e {
            ConnectionError::Invalid(msg) => Self::bad_request("invalid_request", msg),
            // Errors never quote the request: the name came from the path.
            ConnectionError::NotFound(_) => Self::not_found("no connection with this name"),
            ConnectionError::Exists(_) => Self::new(S::CONFLICT, "connection_exists", e.to_string()),
            ConnectionError::CustomUrlDisabled => {
                Self::bad_request("custom_accounts_url_disabled", e.to_string())
            }
            ConnectionError::CodeExpired { .. } => {
                Self::new(S::UNPROCESSABLE_ENTITY, "code_expired", e.to_string())
            }
            ConnectionError::Zoho { op, err, .. } => zoho_error(op, err),
            ConnectionError::NeedsReauth { .. } => {
                Self::new(S::CONFLICT, "needs_reauth", e.to_string())
            }
            ConnectionError::Throttled { retry_after, .. } => {
                Self::new(S::TOO_MANY_REQUESTS, "upstream_throttled", e.to_string())
                    .with_hint("Zoho limits access tokens to 10 per refresh token per 10 minutes; the vault waits before asking again")
                    .with_retry_after(retry_after)
            }
            ConnectionError::BudgetExhausted { retry_after, .. } => {
                Self::new(S::TOO_MANY_REQUESTS, "refresh_budget_exhausted", e.to_string())
                    .with_retry_after(retry_after)
            }
            ConnectionError::PendingAuthorization { .. } => {
                Self::new(S::CONFLICT, "pending_authorization", e.to_string())
            }
            ConnectionError::NoRedirectUri(_) => {
                Self::new(S::CONFLICT, "redirect_uri_missing", e.to_string())
            }
            ConnectionError::Store(s) => return s.into(),
        };
        err.with_fix(fix)
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

/// Zoho's answers, explained for the admin (the fix, from
/// [`ConnectionError::fix`], says what to do).
fn zoho_error(op: ZohoOp, err: ZohoError) -> ApiError {
    use StatusCode as S;
    let msg = err.to_string();
    match (&err, op) {
        (ZohoError::InvalidCode, ZohoOp::Exchange) => ApiError::new(S::UNPROCESSABLE_ENTITY, "code_invalid", "Zoho refused the code: it has expired or was already used (invalid_code)"),
        (ZohoError::InvalidCode, _) => ApiError::new(S::UNPROCESSABLE_ENTITY, "refresh_token_invalid", "Zoho refused the refresh token: it was revoked or evicted (invalid_code)"),
        (ZohoError::InvalidClient, _) => ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_client", msg),
        (ZohoError::InvalidClientSecret, _) => ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_client_secret", msg),
        (ZohoError::InvalidRedirectUri, _) => ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_redirect_uri", msg),
        (ZohoError::Throttled { .. } | ZohoError::AccessDenied, _) => ApiError::new(S::TOO_MANY_REQUESTS, "upstream_throttled", msg)
            .with_hint("Zoho blocks further tokens for about 10 minutes; try again later")
            .with_retry_after(600),
        (ZohoError::Rejected { .. }, ZohoOp::Exchange | ZohoOp::Import) => ApiError::new(S::UNPROCESSABLE_ENTITY, "upstream_rejected", format!("Zoho refused the upload with an answer the vault does not know: {msg}")),
        (ZohoError::Timeout, _) => ApiError::new(S::GATEWAY_TIMEOUT, "upstream_timeout", msg)
            .with_hint("Zoho did not answer in time after retries; try again shortly"),
        _ if err.class() == ErrorClass::Transient => ApiError::new(S::BAD_GATEWAY, "upstream_unavailable", msg)
            .with_hint("Zoho's accounts server failed or gave an answer the vault cannot use; this is treated as temporary: try again shortly"),
        _ => ApiError::new(S::BAD_GATEWAY, "upstream_error", msg),
    }
}
