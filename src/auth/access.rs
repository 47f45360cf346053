//! What a service token may do with its connections: fetch access tokens
//! (and use the proxy), or only call Zoho through the proxy, optionally
//! within a list of path prefixes.

use serde::{Deserialize, Serialize};

/// Longest `proxy_paths` list, and longest prefix in it.
const MAX_PREFIXES: usize = 64;
const MAX_PREFIX_LEN: usize = 256;

/// How a service token reaches Zoho.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenAccess {
    /// May fetch access tokens and use the proxy (records from before this
    /// field read as this).
    #[default]
    Token,
    /// May only use the proxy: the access token never leaves the vault.
    Proxy,
}

impl TokenAccess {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Proxy => "proxy",
        }
    }
}

/// Checks a `proxy_paths` list: each prefix starts with `/`, holds no
/// `..`, `//`, `%`, `?`, `#`, backslash or control characters (so a prefix
/// is compared with the normalised target path byte by byte).
pub fn check_proxy_paths(paths: &[String]) -> Result<(), String> {
    if paths.len() > MAX_PREFIXES {
        return Err(format!(
            "`proxy_paths` may list at most {MAX_PREFIXES} prefixes"
        ));
    }
    for p in paths {
        let bad = !p.starts_with('/')
            || p.len() > MAX_PREFIX_LEN
            || p.contains("//")
            || p.split('/').any(|s| s == ".." || s == ".")
            || p.chars()
                .any(|c| c.is_control() || matches!(c, '%' | '?' | '#' | '\\' | ' '));
        if bad {
            return Err(format!(
                "`proxy_paths`: `{}` must be a plain path prefix such as `/invoice/v3/` (starts with `/`, no `..`, `//`, `%`, `?` or `#`, at most {MAX_PREFIX_LEN} bytes)",
                p.chars().take(64).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// Whether `path` (a normalised target path) lies under one of `prefixes`;
/// an empty list allows every path.
pub fn path_allowed(prefixes: &[String], path: &str) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| path.starts_with(p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_be_plain_absolute_paths() {
        for bad in [
            "invoice/", "/a/../b", "//evil", "/a%2f", "/a?x", "/a#", "/a\\b", "/./a",
        ] {
            assert!(check_proxy_paths(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(check_proxy_paths(&["/invoice/v3/".into(), "/crm/v2/Leads".into()]).is_ok());
    }

    #[test]
    fn an_empty_list_allows_every_path_and_a_prefix_only_its_own() {
        assert!(path_allowed(&[], "/anything"));
        let p = vec!["/invoice/v3/".to_string()];
        assert!(path_allowed(&p, "/invoice/v3/invoices"));
        assert!(!path_allowed(&p, "/invoice/v30/x"));
        assert!(!path_allowed(&p, "/crm/v2/Leads"));
    }
}
