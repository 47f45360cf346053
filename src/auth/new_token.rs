//! What a new token should be, validated from what the caller asked for.

use super::access::{check_proxy_paths, TokenAccess};
use super::record::ALL_CONNECTIONS;
use crate::crypto::token::TokenKind;
use crate::model::ConnectionName;

/// Longest token lifetime (`ttl_secs`).
const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;

/// What a new token should be.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Admin or service.
    pub kind: TokenKind,
    /// Human name.
    pub name: String,
    /// Granted connections (service tokens).
    pub connections: Vec<String>,
    /// Lifetime; `None` for no expiry.
    pub ttl: Option<time::Duration>,
    /// Token or proxy access (service tokens).
    pub access: TokenAccess,
    /// Proxy path prefixes (service tokens; none: every path).
    pub proxy_paths: Vec<String>,
}

impl NewToken {
    /// Validates a service token request; the `Err` is a message for a 400.
    pub fn service(
        name: String,
        connections: Vec<String>,
        ttl_secs: Option<u64>,
    ) -> Result<Self, String> {
        let name = check_token_name(name)?;
        if connections.is_empty() {
            return Err(
                "`connections` must name at least one connection, or be [\"*\"] for all".into(),
            );
        }
        for c in &connections {
            if c != ALL_CONNECTIONS {
                ConnectionName::parse(c.as_str()).map_err(|e| format!("`connections`: {e}"))?;
            }
        }
        Ok(Self {
            kind: TokenKind::Service,
            name,
            connections,
            ttl: check_ttl(ttl_secs)?,
            access: TokenAccess::Token,
            proxy_paths: Vec::new(),
        })
    }

    /// Sets a service token's access and proxy path prefixes, validated;
    /// the `Err` is a message for a 400.
    pub fn with_access(
        mut self,
        access: TokenAccess,
        proxy_paths: Vec<String>,
    ) -> Result<Self, String> {
        check_proxy_paths(&proxy_paths)?;
        self.access = access;
        self.proxy_paths = proxy_paths;
        Ok(self)
    }

    /// Validates an admin token request; the `Err` is a message for a 400.
    pub fn admin(name: String, ttl_secs: Option<u64>) -> Result<Self, String> {
        Ok(Self {
            kind: TokenKind::Admin,
            name: check_token_name(name)?,
            connections: Vec::new(),
            ttl: check_ttl(ttl_secs)?,
            access: TokenAccess::Token,
            proxy_paths: Vec::new(),
        })
    }
}

fn check_token_name(name: String) -> Result<String, String> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 128 {
        return Err("`name` must have 1 to 128 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("`name` may not hold control characters".into());
    }
    Ok(name)
}

fn check_ttl(ttl_secs: Option<u64>) -> Result<Option<time::Duration>, String> {
    match ttl_secs {
        Some(0) => Err("`ttl_secs` must be positive".into()),
        Some(secs) if secs > TEN_YEARS => Err("`ttl_secs` may be at most ten years".into()),
        // At most ten years, so the cast cannot wrap.
        Some(secs) => Ok(Some(time::Duration::seconds(secs as i64))),
        None => Ok(None),
    }
}
