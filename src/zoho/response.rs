//! Pure functions that turn the accounts server's (status, body) into a
//! result, so the mapping is unit-tested without any network.
//!
//! Zoho answers errors with HTTP 200 and an `error` field, so the body is
//! parsed whatever the status: a token answer is a success iff it carries
//! `access_token` (exactly like Zoho's official SDKs). Mapping order:
//! 1. known `error` codes (`invalid_code`/`invalid_grant`, `invalid_client`,
//!    `invalid_client_secret`, `invalid_redirect_uri`, `access_denied`);
//! 2. throttle signals: `"status":"failure"`, an `error_description`, an
//!    `error` of `Access Denied` (any case), or HTTP 429; the `error` text may
//!    be localized, so the English text is only one signal among several;
//! 3. any other `error` → `Rejected`;
//! 4. no usable body: 2xx → `InvalidResponse`, else `UpstreamStatus`.
//!
//! A 5xx is `UpstreamStatus` whatever its body says: a failing server's
//! claim that the credentials are dead is not believed (it is retried).
//! A token answer whose lifetime leaves no usable time is `InvalidResponse`.
//! Only the recognised Zoho errors of step 1 and 2 are verdicts; everything
//! else is [`ErrorClass::Transient`](super::ErrorClass::Transient).

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::error::sanitize;
use super::grant::{compute_expires_at, normalise_lifetime, Grant};
use super::ZohoError;

type Object = Map<String, Value>;

/// Parses an answer of `POST /oauth/v2/token` (code exchange or refresh).
/// `sent_at` is when the request was sent; `margin` is the expiry margin.
pub fn parse_token_response(
    status: u16,
    body: &[u8],
    sent_at: OffsetDateTime,
    margin: Duration,
) -> Result<Grant, ZohoError> {
    let Some(obj) = json_object(body) else {
        return Err(no_usable_body(status, "the answer is not a JSON object"));
    };
    if obj.contains_key("access_token") {
        return grant_from(&obj, sent_at, margin);
    }
    Err(error_from_body(status, &obj)
        .unwrap_or_else(|| no_usable_body(status, "the answer has neither access_token nor error")))
}

/// Parses an answer of `POST /oauth/v2/token/revoke`: success is a 2xx with
/// `"status":"success"`; HTTP 400 is `RevokeRejected` unless the body is a
/// throttle with an `error_description`.
pub fn parse_revoke_response(status: u16, body: &[u8]) -> Result<(), ZohoError> {
    let obj = json_object(body);
    let error = obj.as_ref().and_then(|o| error_from_body(status, o));
    match status {
        200..=299 => {
            let success = obj
                .as_ref()
                .and_then(|o| o.get("status"))
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("success"));
            if success {
                return Ok(());
            }
            Err(error.unwrap_or_else(|| {
                ZohoError::InvalidResponse("revoke answer lacks \"status\":\"success\"".into())
            }))
        }
        // Zoho's "invalid token" 400 may well say `"status":"failure"`, so on
        // a 400 only a body with an `error_description` counts as a throttle.
        400 => {
            let described = obj
                .as_ref()
                .is_some_and(|o| o.contains_key("error_description"));
            match error {
                Some(throttled @ ZohoError::Throttled { .. }) if described => Err(throttled),
                _ => Err(ZohoError::RevokeRejected),
            }
        }
        _ => Err(error.unwrap_or_else(|| no_usable_body(status, "unexpected revoke answer"))),
    }
}

fn json_object(body: &[u8]) -> Option<Object> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Some(obj),
        _ => None,
    }
}

fn no_usable_body(status: u16, what: &str) -> ZohoError {
    match status {
        200..=299 => ZohoError::InvalidResponse(what.to_string()),
        429 => ZohoError::Throttled {
            description: "HTTP 429 Too Many Requests".into(),
        },
        _ => ZohoError::UpstreamStatus { status },
    }
}

/// Maps an error body to a variant, or `None` when it carries no error (or
/// comes with a 5xx, whose body is not believed).
fn error_from_body(status: u16, obj: &Object) -> Option<ZohoError> {
    if status >= 500 {
        return None;
    }
    let error = obj.get("error").map(|v| match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    });
    match error.as_deref() {
        Some("invalid_code" | "invalid_grant") => return Some(ZohoError::InvalidCode),
        Some("invalid_client") => return Some(ZohoError::InvalidClient),
        Some("invalid_client_secret") => return Some(ZohoError::InvalidClientSecret),
        Some("invalid_redirect_uri") => return Some(ZohoError::InvalidRedirectUri),
        Some("access_denied") => return Some(ZohoError::AccessDenied),
        _ => {}
    }
    let description = obj.get("error_description").and_then(Value::as_str);
    let failure = obj
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("failure"));
    let english_denied = error
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("access denied"));
    if failure || description.is_some() || english_denied || status == 429 {
        let text = description
            .or(error.as_deref())
            .filter(|t| !t.trim().is_empty())
            .unwrap_or("too many requests");
        return Some(ZohoError::Throttled {
            description: sanitize(text, 200),
        });
    }
    match error {
        Some(e) if !e.is_empty() => Some(ZohoError::Rejected {
            error: sanitize(&e, 64),
        }),
        _ => None,
    }
}

fn grant_from(obj: &Object, sent_at: OffsetDateTime, margin: Duration) -> Result<Grant, ZohoError> {
    let access_token = non_empty_str(obj, "access_token").ok_or_else(|| {
        ZohoError::InvalidResponse("access_token is not a non-empty string".into())
    })?;
    let expires_in = number(obj, "expires_in")?;
    let expires_in_sec = number(obj, "expires_in_sec")?;
    let lifetime = normalise_lifetime(expires_in, expires_in_sec);
    let expires_at = compute_expires_at(sent_at, lifetime, margin)
        .filter(|at| *at > sent_at)
        .ok_or_else(|| {
            ZohoError::InvalidResponse("the token's expires_in leaves no usable lifetime".into())
        })?;
    Ok(Grant {
        access_token: SecretString::from(access_token),
        refresh_token: non_empty_str(obj, "refresh_token").map(SecretString::from),
        api_domain: non_empty_str(obj, "api_domain").map(str::to_string),
        scope: scopes(obj.get("scope")),
        token_type: non_empty_str(obj, "token_type").map(str::to_string),
        expires_in: lifetime,
        expires_at,
    })
}

fn non_empty_str<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A non-negative number given as a JSON number or a numeric string, whole
/// seconds or milliseconds; huge values saturate (the lifetime is clamped
/// later, see `normalise_lifetime`).
fn number(obj: &Object, key: &str) -> Result<Option<u64>, ZohoError> {
    // `as` saturates: 1e300 becomes u64::MAX.
    let non_negative = |f: f64| (f.is_finite() && f >= 0.0).then_some(f as u64);
    let parsed = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().and_then(non_negative)),
        Some(Value::String(s)) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(non_negative))
        }
        Some(_) => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| ZohoError::InvalidResponse(format!("{key} is not a non-negative number")))
}

fn scopes(value: Option<&Value>) -> Option<Vec<String>> {
    let list: Vec<String> = match value? {
        Value::String(s) => s
            .split([' ', ','])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        _ => return None,
    };
    (!list.is_empty()).then_some(list)
}

#[cfg(test)]
mod tests;
