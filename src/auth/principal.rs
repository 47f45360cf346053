//! Who is calling: the principal a verified bearer token stands for.

use super::record::{TokenRecord, ALL_CONNECTIONS};
use crate::crypto::token::TokenKind;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Public token id.
    pub token_id: String,
    /// Token name.
    pub name: String,
    /// Admin or service.
    pub kind: TokenKind,
    /// Granted connections (service tokens).
    pub connections: Vec<String>,
    /// Token or proxy-only access.
    pub access: super::TokenAccess,
    /// Proxy path prefixes (none: every path).
    pub proxy_paths: Vec<String>,
}

impl Principal {
    pub(crate) fn from_record(r: &TokenRecord) -> Self {
        Self {
            token_id: r.id.clone(),
            name: r.name.clone(),
            kind: r.kind,
            connections: r.connections.clone(),
            access: r.access,
            proxy_paths: r.proxy_paths.clone(),
        }
    }

    /// Whether this caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.kind == TokenKind::Admin
    }

    /// Whether this caller may get tokens for `connection`.
    pub fn may_use(&self, connection: &str) -> bool {
        self.is_admin()
            || self
                .connections
                .iter()
                .any(|c| c == ALL_CONNECTIONS || c == connection)
    }

    /// Whether this caller may receive access tokens (not proxy-only).
    pub fn may_fetch_tokens(&self) -> bool {
        self.is_admin() || self.access == super::TokenAccess::Token
    }

    /// Whether the proxy may send this caller's request to `path`.
    pub fn may_proxy_path(&self, path: &str) -> bool {
        self.is_admin() || super::access::path_allowed(&self.proxy_paths, path)
    }

    /// `admin:<id>` or `service:<id>`, for audit and logs.
    pub fn actor(&self) -> String {
        let kind = match self.kind {
            TokenKind::Admin => "admin",
            TokenKind::Service => "service",
        };
        format!("{kind}:{}", self.token_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(connections: &[&str]) -> Principal {
        Principal {
            token_id: "tok_0000000000000001".into(),
            name: "backend".into(),
            kind: TokenKind::Service,
            connections: connections.iter().map(|c| c.to_string()).collect(),
            access: crate::auth::TokenAccess::Token,
            proxy_paths: vec![],
        }
    }

    #[test]
    fn a_grant_opens_exactly_the_named_connection() {
        let p = service(&["acme"]);
        assert!(p.may_use("acme"));
        for other in ["acme2", "acm", "acme.eu", "ACME", "", "globex", "*"] {
            assert!(!p.may_use(other), "a grant for acme opened {other:?}");
        }
    }

    #[test]
    fn only_the_star_grant_opens_every_connection() {
        assert!(service(&["*"]).may_use("anything"));
        assert!(!service(&["a*"]).may_use("acme"));
        assert!(!service(&[]).may_use("acme"));
    }

    #[test]
    fn admins_may_use_every_connection() {
        let admin = Principal {
            kind: TokenKind::Admin,
            connections: vec![],
            ..service(&[])
        };
        assert!(admin.may_use("acme"));
    }
}
