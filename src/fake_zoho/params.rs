//! Reading request parameters the way Zoho accepts them (§0 "Param
//! location"): the query string, an urlencoded body, a multipart body, or a
//! JSON body (Invoice API), merged into one bag. Bodies are size-limited.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

/// Largest body the fake reads; Zoho requests are tiny.
const MAX_BODY: usize = 256 * 1024;

/// The parameters of one request. Body values shadow query values.
#[derive(Debug, Default, Clone)]
pub struct Params {
    body: Vec<(String, String)>,
    query: Vec<(String, String)>,
    /// A raw JSON body, when the request was `application/json`.
    pub json: Option<serde_json::Value>,
}

/// The body could not be read (too big, broken multipart, bad JSON).
#[derive(Debug, thiserror::Error)]
#[error("unreadable request body: {0}")]
pub struct BodyError(pub String);

impl Params {
    /// The first non-empty value of `name`, body first, then query.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.body
            .iter()
            .chain(self.query.iter())
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Only the query string (for callers that must not read a body).
    pub fn from_query(req: &HttpRequest) -> Self {
        Self {
            query: parse_urlencoded(req.query_string().as_bytes()),
            ..Self::default()
        }
    }

    /// Reads the query string and the body, whatever its content type.
    pub async fn read(req: &HttpRequest, payload: web::Payload) -> Result<Self, BodyError> {
        let mut params = Self::from_query(req);
        let content_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            params.body = read_multipart(req, payload).await?;
            return Ok(params);
        }
        let bytes = read_bytes(payload).await?;
        if content_type.starts_with("application/json") {
            let value = serde_json::from_slice(&bytes).map_err(|e| BodyError(e.to_string()))?;
            params.json = Some(value);
        } else {
            // Urlencoded, or no content type at all: some clients omit it.
            params.body = parse_urlencoded(&bytes);
        }
        Ok(params)
    }
}

fn parse_urlencoded(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

async fn read_bytes(mut payload: web::Payload) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError(e.to_string()))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(BodyError("body too large".to_owned()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_multipart(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Vec<(String, String)>, BodyError> {
    let mut multipart = Multipart::new(req.headers(), payload);
    let mut fields = Vec::new();
    let mut total = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| BodyError(e.to_string()))?;
        let name = field.name().unwrap_or_default().to_owned();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| BodyError(e.to_string()))?;
            total += chunk.len();
            if total > MAX_BODY {
                return Err(BodyError("body too large".to_owned()));
            }
            value.extend_from_slice(&chunk);
        }
        fields.push((name, String::from_utf8_lossy(&value).into_owned()));
    }
    Ok(fields)
}
