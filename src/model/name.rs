//! The connection name, parsed once at the edge (HTTP path, CLI, CSV
//! import, service-token grants); everything below takes the type.

use std::fmt;

/// Longest accepted connection name.
pub const MAX_NAME_LEN: usize = 128;

/// A valid connection name: 1 to 128 of `A-Z a-z 0-9 . _ -`, not `.` or
/// `..` (so it is safe in a URL path segment and a file name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionName(String);

impl ConnectionName {
    /// Checks `name`; the `Err` says which rule it breaks (without quoting
    /// it, since a mistyped name may be a secret pasted in the wrong place).
    pub fn parse(name: impl Into<String>) -> Result<Self, String> {
        let name = name.into();
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(format!(
                "a connection name has 1 to {MAX_NAME_LEN} characters"
            ));
        }
        if name == "." || name == ".." {
            return Err("`.` and `..` are not connection names".into());
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err("a connection name may only hold letters, digits, `.`, `_` and `-`".into());
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a store key.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The name, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::ops::Deref for ConnectionName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ConnectionName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ConnectionName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_digits_dot_underscore_and_dash_are_accepted() {
        for ok in ["acme", "a", "ACME-eu_2.prod", "...", "-", &"x".repeat(128)] {
            let name = ConnectionName::parse(ok).expect(ok);
            assert_eq!(name.as_str(), ok);
        }
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        assert!(ConnectionName::parse("").is_err());
        let err = ConnectionName::parse("x".repeat(129)).expect_err("129");
        assert!(err.contains("1 to 128"), "{err}");
    }

    #[test]
    fn dot_and_dot_dot_are_refused() {
        for bad in [".", ".."] {
            let err = ConnectionName::parse(bad).expect_err(bad);
            assert!(err.contains("`.` and `..`"), "{err}");
        }
    }

    #[test]
    fn other_characters_are_refused_without_quoting_the_input() {
        for bad in ["a b", "a/b", "a%2Fb", "é", "a\n", "zvs_secret!", "a\0"] {
            let err = ConnectionName::parse(bad).expect_err(bad);
            assert!(!err.contains(bad), "{err}");
        }
    }

    #[test]
    fn the_length_limit_counts_bytes_not_characters() {
        // Multi-byte characters are refused anyway; the limit is on bytes.
        assert!(ConnectionName::parse("ü".repeat(10)).is_err());
    }

    #[test]
    fn names_follow_the_contract() {
        for ok in ["acme", "tenant-42", "a.b_c", &"x".repeat(128)] {
            assert!(ConnectionName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(ConnectionName::parse(bad).is_err(), "{bad}");
        }
    }
}
