//! Failures of the extractors (JSON body, path, query string), answered in
//! the one error shape without quoting the request.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};

use super::ApiError;

/// serde_json messages can quote the offending input; keep the structure
/// of the message (field names are in backticks) but drop quoted values.
pub(super) fn redact_quoted(message: &str) -> String {
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
