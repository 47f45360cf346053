//! Whether Zoho's answer says the access token is dead, so one refresh and
//! retry can help. Only HTTP 401 with Zoho's dead-token body counts:
//! Invoice/Books `{"code":57}` (invalid or expired token) or `{"code":14}`
//! (not authenticated), CRM `{"code":"INVALID_TOKEN"}` or
//! `"AUTHENTICATION_FAILURE"`. Code 57 also comes with HTTP 400 for a
//! missing scope, which a new token does not fix: not dead.

/// The most of a 401 body read to decide (dead-token bodies are tiny).
pub const PEEK_LIMIT: usize = 16 * 1024;

/// Whether `status` and `body` are Zoho's answer to a dead access token.
pub fn is_dead_token(status: u16, body: &[u8]) -> bool {
    if status != 401 {
        return false;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    match &value["code"] {
        serde_json::Value::Number(n) => matches!(n.as_i64(), Some(57 | 14)),
        serde_json::Value::String(s) => s == "INVALID_TOKEN" || s == "AUTHENTICATION_FAILURE",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoho_dead_token_bodies_with_401_are_dead() {
        for body in [
            r#"{"code":57,"message":"You are not authorized to perform this operation"}"#,
            r#"{"code":14,"message":"The request could not be authenticated"}"#,
            r#"{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}"#,
            r#"{"code":"AUTHENTICATION_FAILURE","details":{},"message":"x","status":"error"}"#,
        ] {
            assert!(is_dead_token(401, body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn a_missing_scope_or_another_answer_is_not_dead() {
        let scope = br#"{"code":57,"message":"You are not authorized to perform this operation"}"#;
        assert!(!is_dead_token(400, scope));
        assert!(!is_dead_token(403, scope));
        assert!(!is_dead_token(401, br#"{"code":"OAUTH_SCOPE_MISMATCH"}"#));
        assert!(!is_dead_token(401, br#"{"code":1002}"#));
        assert!(!is_dead_token(401, b"<html>unauthorized</html>"));
    }
}
