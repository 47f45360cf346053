//! The closed vocabulary of the trail: what happened, how it ended, and the
//! typed details an event may carry.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What happened. WARNING: the snake_case names are stored, indexed and
/// hashed; never rename a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// An access token was handed to a caller.
    TokenIssued,
    /// A request was refused with 401 or 403.
    AccessDenied,
    /// An unseal attempt (success or failure).
    Unseal,
    /// The vault was sealed.
    Seal,
    /// The passphrase was changed.
    Rekey,
    /// A connection was created (code exchange, import or redirect flow).
    ConnectionCreated,
    /// A connection's access token was refreshed at Zoho.
    ConnectionRefreshed,
    /// Zoho refused the refresh token; the connection needs re-authorisation.
    ConnectionNeedsReauth,
    /// A connection was deleted.
    ConnectionDeleted,
    /// A service token was created.
    ServiceTokenCreated,
    /// A service token was revoked.
    ServiceTokenRevoked,
    /// The audit trail was read (query, verify, export, fingerprint lookup).
    AuditRead,
    /// A prefix of the audit trail was pruned after an export.
    AuditPruned,
    /// An admin token was created.
    AdminTokenCreated,
    /// An admin token was revoked.
    AdminTokenRevoked,
    /// A backup of the store was taken (online, or offline by the operator).
    BackupTaken,
    /// The vault was created (`init` or `serve --init`): the first event.
    VaultInitialized,
    /// Denials from one address beyond the first few in a window, counted
    /// instead of written one by one.
    AuthDeniedSummary,
    /// A request is about to be proxied to Zoho (written before it leaves).
    ProxyRequest,
    /// A proxied request ended (Zoho's status, bytes, duration).
    ProxyCompleted,
}

impl AuditAction {
    /// Every action, for parsing and docs.
    pub const ALL: [AuditAction; 20] = [
        AuditAction::TokenIssued,
        AuditAction::AccessDenied,
        AuditAction::Unseal,
        AuditAction::Seal,
        AuditAction::Rekey,
        AuditAction::ConnectionCreated,
        AuditAction::ConnectionRefreshed,
        AuditAction::ConnectionNeedsReauth,
        AuditAction::ConnectionDeleted,
        AuditAction::ServiceTokenCreated,
        AuditAction::ServiceTokenRevoked,
        AuditAction::AuditRead,
        AuditAction::AuditPruned,
        AuditAction::AdminTokenCreated,
        AuditAction::AdminTokenRevoked,
        AuditAction::BackupTaken,
        // Appended only: the position is the stored byte.
        AuditAction::VaultInitialized,
        AuditAction::AuthDeniedSummary,
        AuditAction::ProxyRequest,
        AuditAction::ProxyCompleted,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::TokenIssued => "token_issued",
            AuditAction::AccessDenied => "access_denied",
            AuditAction::Unseal => "unseal",
            AuditAction::Seal => "seal",
            AuditAction::Rekey => "rekey",
            AuditAction::ConnectionCreated => "connection_created",
            AuditAction::ConnectionRefreshed => "connection_refreshed",
            AuditAction::ConnectionNeedsReauth => "connection_needs_reauth",
            AuditAction::ConnectionDeleted => "connection_deleted",
            AuditAction::ServiceTokenCreated => "service_token_created",
            AuditAction::ServiceTokenRevoked => "service_token_revoked",
            AuditAction::AuditRead => "audit_read",
            AuditAction::AuditPruned => "audit_pruned",
            AuditAction::AdminTokenCreated => "admin_token_created",
            AuditAction::AdminTokenRevoked => "admin_token_revoked",
            AuditAction::BackupTaken => "backup_taken",
            AuditAction::VaultInitialized => "vault_initialized",
            AuditAction::AuthDeniedSummary => "auth_denied_summary",
            AuditAction::ProxyRequest => "proxy_request",
            AuditAction::ProxyCompleted => "proxy_completed",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Tried and failed (wrong passphrase, upstream refusal).
    Failure,
    /// Refused by authorisation (401/403).
    Denied,
}

/// One detail value: small and typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Detail {
    /// A flag.
    Bool(bool),
    /// A count, status code or sequence number.
    Int(i64),
    /// A short text (ids, names, RFC 3339 times, fingerprints).
    Text(String),
}

/// The details of an event, sorted by key (so the canonical bytes are
/// stable).
pub type Details = BTreeMap<String, Detail>;

/// How a connection was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMethod {
    /// A self-client code was exchanged.
    Exchange,
    /// An existing refresh token was imported.
    Import,
    /// The browser redirect flow finished.
    Redirect,
}

/// Where an issued access token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The shared cached token was still valid.
    Cached,
    /// The token was refreshed at Zoho for this request.
    Refreshed,
}

/// What kind of audit read happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// `GET /v1/audit`.
    Query,
    /// `GET /v1/audit/verify` or `POST /v1/audit/verify-export`.
    Verify,
    /// `GET /v1/audit/export`.
    Export,
    /// `POST /v1/audit/fingerprint`.
    Fingerprint,
}

impl ReadKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ReadKind::Query => "query",
            ReadKind::Verify => "verify",
            ReadKind::Export => "export",
            ReadKind::Fingerprint => "fingerprint",
        }
    }
}
