//! `ZohoClient`: code exchange, refresh and revocation against a Zoho
//! accounts server, with timeouts, bounded retries and secret hygiene.
//!
//! Parameters travel as an urlencoded POST body (never in the query string),
//! built in exactly one place (`form.rs`, `FormRequest::encode`), the only
//! code that exposes credentials. Redirects are not followed: a 3xx is reported as
//! `UpstreamStatus`, so a secret is never re-sent to another host.
//!
//! Caveat: a timed-out code exchange is retried like any transient failure; if
//! Zoho had in fact consumed the code, the retry answers `InvalidCode`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::SecretString;
use time::OffsetDateTime;
use url::Url;
use zeroize::Zeroizing;

use super::error::sanitize;
use super::form::{ClientCredentials, FormRequest};
use super::grant::unexpired_at;
use super::response::{parse_revoke_response, parse_token_response};
use super::retry::{backoff_ceiling, full_jitter};
use super::{Grant, ZohoError};

/// Sent on every request.
pub const USER_AGENT: &str = concat!("zoho-vault/", env!("CARGO_PKG_VERSION"));

/// Answers larger than this are refused (a token answer is well under 1 KiB).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Tuning of [`ZohoClient`]; `Default` gives the production values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZohoClientConfig {
    /// Whole-request timeout, per attempt (default 10 s).
    pub timeout: Duration,
    /// TCP/TLS connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// Attempts per call, counting the first (default 3; 0 is treated as 1).
    pub max_attempts: u32,
    /// Backoff ceiling before the first retry, doubled each retry (default 200 ms).
    pub backoff_base: Duration,
    /// Cap of the backoff ceiling (default 2 s).
    pub backoff_max: Duration,
    /// Subtracted from a token's lifetime (default 60 s); see [`Grant`].
    pub expiry_margin: Duration,
}

impl Default for ZohoClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            expiry_margin: Duration::from_secs(60),
        }
    }
}

/// Called after every accounts-server call (retries included) with the
/// operation (`exchange_code`, `refresh`, `revoke`) and how long it took: the
/// hook metrics hang on, so this module needs no metrics library.
#[derive(Clone)]
pub struct CallObserver(pub Arc<dyn Fn(&'static str, Duration) + Send + Sync>);

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

/// A client for Zoho accounts servers. Cheap to clone (shares one pool).
#[derive(Debug, Clone)]
pub struct ZohoClient {
    http: reqwest::Client,
    config: ZohoClientConfig,
    observer: Option<CallObserver>,
}

impl ZohoClient {
    /// Builds the HTTP client: rustls, the configured timeouts, the
    /// `zoho-vault/<version>` user agent, and no redirects followed.
    pub fn new(config: ZohoClientConfig) -> Result<Self, ZohoError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| ZohoError::Setup(sanitize(&e.to_string(), 200)))?;
        Ok(Self {
            http,
            config,
            observer: None,
        })
    }

    /// Reports the duration of every call to `observer`.
    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ZohoClientConfig {
        &self.config
    }

    /// Exchanges a grant code (`grant_type=authorization_code`) at
    /// `{accounts_url}/oauth/v2/token`. Pass `redirect_uri: None` for a self
    /// client: the parameter is then left out of the request.
    pub async fn exchange_code(
        &self,
        accounts_url: &Url,
        creds: &ClientCredentials,
        code: &SecretString,
        redirect_uri: Option<&str>,
    ) -> Result<Grant, ZohoError> {
        let req = FormRequest::Exchange {
            creds,
            code,
            redirect_uri,
        };
        self.token_call(accounts_url, &req).await
    }

    /// Mints an access token from a refresh token (`grant_type=refresh_token`).
    /// `InvalidCode` here means the refresh token is revoked or evicted.
    pub async fn refresh(
        &self,
        accounts_url: &Url,
        creds: &ClientCredentials,
        refresh_token: &SecretString,
    ) -> Result<Grant, ZohoError> {
        let req = FormRequest::Refresh {
            creds,
            refresh_token,
        };
        self.token_call(accounts_url, &req).await
    }

    /// Revokes a refresh or access token at `{accounts_url}/oauth/v2/token/revoke`.
    /// HTTP 400 (unknown or already revoked token) is `RevokeRejected`.
    pub async fn revoke(&self, accounts_url: &Url, token: &SecretString) -> Result<(), ZohoError> {
        let url = endpoint(accounts_url, &["oauth", "v2", "token", "revoke"])?;
        let req = FormRequest::Revoke { token };
        self.call(&url, &req, |status, body, _| {
            parse_revoke_response(status, body)
        })
        .await
    }

    async fn token_call(
        &self,
        accounts_url: &Url,
        req: &FormRequest<'_>,
    ) -> Result<Grant, ZohoError> {
        let url = endpoint(accounts_url, &["oauth", "v2", "token"])?;
        let margin = self.config.expiry_margin;
        self.call(&url, req, |status, body, sent_at| {
            let grant = parse_token_response(status, body, sent_at, margin)?;
            unexpired_at(grant, crate::clock::now())
        })
        .await
    }

    /// Sends `req` up to `max_attempts` times, retrying only retryable errors.
    async fn call<T>(
        &self,
        url: &Url,
        req: &FormRequest<'_>,
        parse: impl Fn(u16, &[u8], OffsetDateTime) -> Result<T, ZohoError>,
    ) -> Result<T, ZohoError> {
        let started = std::time::Instant::now();
        let result = self.call_with_retries(url, req, parse).await;
        if let Some(observer) = &self.observer {
            (observer.0)(req.operation(), started.elapsed());
        }
        result
    }

    async fn call_with_retries<T>(
        &self,
        url: &Url,
        req: &FormRequest<'_>,
        parse: impl Fn(u16, &[u8], OffsetDateTime) -> Result<T, ZohoError>,
    ) -> Result<T, ZohoError> {
        let body = req.encode();
        let max_attempts = self.config.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = match self.send_once(url, &body).await {
                Ok((status, answer, sent_at)) => parse(status, &answer, sent_at),
                Err(err) => Err(err),
            };
            match result {
                Err(err) if err.is_retryable() && attempt < max_attempts => {
                    let ceiling =
                        backoff_ceiling(self.config.backoff_base, self.config.backoff_max, attempt);
                    let delay = full_jitter(ceiling, &mut rand::thread_rng());
                    tracing::warn!(
                        operation = req.operation(),
                        accounts_server = %url.origin().ascii_serialization(),
                        attempt,
                        max_attempts,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %err,
                        "Zoho accounts call failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One attempt: returns the status, the (size-capped) body and the
    /// instant the request was sent.
    async fn send_once(
        &self,
        url: &Url,
        body: &Zeroizing<String>,
    ) -> Result<(u16, Zeroizing<Vec<u8>>, OffsetDateTime), ZohoError> {
        let request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body.as_str().to_owned());
        let sent_at = crate::clock::now();
        let mut response = request.send().await.map_err(ZohoError::from_reqwest)?;
        let status = response.status().as_u16();
        let mut answer = Zeroizing::new(Vec::new());
        while let Some(chunk) = response.chunk().await.map_err(ZohoError::from_reqwest)? {
            if answer.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ZohoError::InvalidResponse(
                    "answer larger than 64 KiB".into(),
                ));
            }
            answer.extend_from_slice(&chunk);
        }
        Ok((status, answer, sent_at))
    }
}

/// `base` with `segments` appended to its path (query and fragment dropped).
/// Accepts a custom base such as `http://127.0.0.1:1234` or a gateway prefix.
fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, ZohoError> {
    if !matches!(base.scheme(), "http" | "https")
        || !base.username().is_empty()
        || base.password().is_some()
    {
        return Err(ZohoError::InvalidAccountsUrl);
    }
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| ZohoError::InvalidAccountsUrl)?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The broker spawns these calls on a multi-threaded runtime.
    #[test]
    fn futures_are_send() {
        let client = ZohoClient::new(ZohoClientConfig::default()).expect("client");
        let url = Url::parse("https://accounts.zoho.com").expect("url");
        let creds = ClientCredentials {
            client_id: "id".into(),
            client_secret: SecretString::from("s"),
        };
        let token = SecretString::from("t");
        assert_send(&client.exchange_code(&url, &creds, &token, None));
        assert_send(&client.refresh(&url, &creds, &token));
        assert_send(&client.revoke(&url, &token));
    }

    #[test]
    fn endpoints() {
        let url = |s: &str| Url::parse(s).expect("url");
        let token = ["oauth", "v2", "token"];
        assert_eq!(
            endpoint(&url("https://accounts.zoho.eu"), &token)
                .expect("ok")
                .as_str(),
            "https://accounts.zoho.eu/oauth/v2/token"
        );
        assert_eq!(
            endpoint(&url("http://127.0.0.1:1234/"), &token)
                .expect("ok")
                .as_str(),
            "http://127.0.0.1:1234/oauth/v2/token"
        );
        assert_eq!(
            endpoint(&url("https://gw.example/zoho/?x=1#f"), &token)
                .expect("ok")
                .as_str(),
            "https://gw.example/zoho/oauth/v2/token"
        );
        for bad in [
            "ftp://accounts.zoho.eu",
            "https://u:p@accounts.zoho.eu",
            "mailto:a@b",
        ] {
            assert_eq!(
                endpoint(&url(bad), &token),
                Err(ZohoError::InvalidAccountsUrl),
                "{bad}"
            );
        }
    }
}
