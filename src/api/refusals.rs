//! Refused admin actions, audited: an authenticated admin's attempt to
//! change the vault (create or delete a connection, create or revoke a
//! token, prune the trail) that was answered with an error is recorded
//! through [`VaultService::record_refusal`], with the connection's name
//! when the path holds a valid one and the answer's error code.
//!
//! Done here, once, on the answer, because a refusal can come from any
//! layer (the JSON body, the path, the vault, Zoho) and its error code is
//! only final in the answer; the facade writes the event. A 401/403 is an
//! `access_denied` instead ([`super::middleware`]), and `429 rate_limited`
//! is left out: it refuses traffic, not an action.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use actix_web::{web, HttpMessage};

use super::context::request_context;
use super::ApiError;
use crate::audit::AuditAction;
use crate::auth::Principal;
use crate::model::ConnectionName;
use crate::service::VaultService;

/// The action a route attempts, for the routes that change the vault.
fn attempted(method: &Method, pattern: &str) -> Option<AuditAction> {
    let action = match (method.as_str(), pattern) {
        ("PUT", "/v1/connections/{name}") => AuditAction::ConnectionCreated,
        ("DELETE", "/v1/connections/{name}") => AuditAction::ConnectionDeleted,
        ("POST", "/v1/service-tokens") => AuditAction::ServiceTokenCreated,
        ("DELETE", "/v1/service-tokens/{id}") => AuditAction::ServiceTokenRevoked,
        ("POST", "/v1/admin-tokens") => AuditAction::AdminTokenCreated,
        ("DELETE", "/v1/admin-tokens/{id}") => AuditAction::AdminTokenRevoked,
        ("POST", "/v1/audit/prune") => AuditAction::AuditPruned,
        ("POST", "/v1/webhooks") => AuditAction::WebhookCreated,
        ("DELETE", "/v1/webhooks/{id}") => AuditAction::WebhookDeleted,
        _ => return None,
    };
    Some(action)
}

/// Records the answer as a refused admin action when it is one.
pub(crate) async fn audit_refused_admin_action(res: &ServiceResponse<BoxBody>) {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return;
    }
    let status = status.as_u16();
    if matches!(status, 401 | 403) {
        return;
    }
    let req = res.request();
    let Some(action) = req
        .match_pattern()
        .and_then(|pattern| attempted(req.method(), &pattern))
    else {
        return;
    };
    // Only an authenticated admin's attempt: anyone else was refused
    // before the action was looked at (and audited as a denial).
    let Some(admin) = req
        .extensions()
        .get::<Principal>()
        .filter(|p| p.is_admin())
        .cloned()
    else {
        return;
    };
    let code = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .map_or("error", ApiError::code);
    if code == "rate_limited" {
        return;
    }
    let Some(service) = req.app_data::<web::Data<VaultService>>() else {
        return;
    };
    let connection = req
        .match_info()
        .get("name")
        .and_then(|n| ConnectionName::parse(n.to_string()).ok());
    service
        .record_refusal(
            action,
            &admin,
            connection.as_ref().map(|n| n.as_str()),
            status,
            code,
            &request_context(req),
        )
        .await;
}
