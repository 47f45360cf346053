//! The HTTP client to Zoho's APIs. It never follows a redirect (Zoho's
//! answer goes back to the caller as it is), sends only to the connection's
//! stored API host, and puts the access token in the one header Zoho reads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{ProxyError, ProxyTarget};
use crate::config::ProxySettings;
use crate::zoho::DataCenter;

/// API hosts remembered as checked; past this many the memory starts over
/// (only custom hosts could make that many).
const CHECKED_HOSTS: usize = 64;

/// Ids of upstreams, for [`CLIENTS`].
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Clients kept per thread; past this many the oldest goes (only a
/// process that builds many vaults, such as the tests, gets there).
const CLIENTS_PER_THREAD: usize = 8;

thread_local! {
    /// This thread's HTTP clients, by upstream id. A connection to Zoho is
    /// driven by a task on the runtime of the thread that opened it; with
    /// one client (and so one connection pool) per server worker thread,
    /// each exchange with Zoho stays on the worker serving the caller
    /// instead of waking another thread several times per request.
    static CLIENTS: RefCell<Vec<(u64, reqwest::Client)>> = const { RefCell::new(Vec::new()) };
}

/// The client to Zoho's APIs. Cheap to clone.
#[derive(Clone)]
pub struct Upstream {
    id: u64,
    timeout: Duration,
    allow_custom: bool,
    /// API hosts that passed [`Upstream::check_host`], parsed: the check
    /// and the parse are not redone for every request.
    checked: Arc<RwLock<HashMap<String, Url>>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstream")
    }
}

impl Upstream {
    /// A client with the proxy's timeout; `allow_custom` (the setting
    /// `zoho.allow_custom_accounts_url`) lets a connection's API host be
    /// other than Zoho's known data-center hosts.
    pub fn new(settings: &ProxySettings, allow_custom: bool) -> Result<Self, ProxyError> {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        // Built once here so that a client that cannot be built is an
        // error at start, not at the first request.
        build_client(timeout)?;
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            timeout,
            allow_custom,
            checked: Arc::default(),
        })
    }

    /// The full URL of `target` on `api_domain`, the connection's stored
    /// API host (checked here). The URL keeps the host and the path exactly.
    pub fn url(&self, api_domain: &str, target: &ProxyTarget) -> Result<Url, ProxyError> {
        let base = api_domain.trim_end_matches('/');
        let cached = self
            .checked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(base)
            .cloned();
        let host = match cached {
            Some(host) => host,
            None => {
                let host = self.check_host(base)?;
                let mut checked = self.checked.write().unwrap_or_else(|p| p.into_inner());
                if checked.len() >= CHECKED_HOSTS {
                    checked.clear();
                }
                checked.insert(base.to_string(), host.clone());
                host
            }
        };
        let url = Url::parse(&format!("{base}{}", target.path_and_query()))
            .map_err(|_| ProxyError::BadPath("the proxied path is not a valid URL path".into()))?;
        let same_origin = url.scheme() == host.scheme()
            && url.host() == host.host()
            && url.port_or_known_default() == host.port_or_known_default();
        if !same_origin || url.path() != target.path() {
            return Err(ProxyError::BadPath(
                "the proxied path would change on its way to Zoho; send it percent-encoded".into(),
            ));
        }
        Ok(url)
    }

    /// This thread's client (see [`CLIENTS`]).
    fn client(&self) -> Result<reqwest::Client, ProxyError> {
        CLIENTS.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some((_, client)) = clients.iter().find(|(id, _)| *id == self.id) {
                return Ok(client.clone());
            }
            let client = build_client(self.timeout)?;
            if clients.len() >= CLIENTS_PER_THREAD {
                clients.remove(0);
            }
            clients.push((self.id, client.clone()));
            Ok(client)
        })
    }

    /// `base` parsed, if it is a host the proxy may call: one of Zoho's
    /// data-center API hosts, or (with `allow_custom`) a plain origin.
    fn check_host(&self, base: &str) -> Result<Url, ProxyError> {
        let refused = || ProxyError::ApiDomain(base.chars().take(100).collect());
        let known = DataCenter::ALL.iter().any(|dc| dc.api_domain() == base);
        let host = Url::parse(base).map_err(|_| refused())?;
        let plain_origin = matches!(host.scheme(), "https" | "http")
            && host.host_str().is_some()
            && host.username().is_empty()
            && host.password().is_none()
            && host.path() == "/"
            && host.query().is_none()
            && host.fragment().is_none();
        if !(known || self.allow_custom && plain_origin) {
            return Err(refused());
        }
        Ok(host)
    }

    /// Sends one request with the access token. The answer's headers must
    /// arrive within the timeout; its body is read by the caller.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        mut headers: HeaderMap,
        token: &SecretString,
        body: reqwest::Body,
        content_length: Option<u64>,
    ) -> Result<reqwest::Response, ProxyError> {
        let mut auth = HeaderValue::from_str(&format!("Zoho-oauthtoken {}", token.expose_secret()))
            .map_err(|_| ProxyError::Upstream("the access token is not a valid header".into()))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        if let Some(len) = content_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        let request = self
            .client()?
            .request(method, url)
            .headers(headers)
            .body(body)
            .send();
        let ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        match tokio::time::timeout(self.timeout, request).await {
            Err(_) => Err(ProxyError::Timeout { ms }),
            Ok(Err(e)) if e.is_timeout() => Err(ProxyError::Timeout { ms }),
            // Without the URL: its query string may hold caller data.
            Ok(Err(e)) => Err(ProxyError::Upstream(e.without_url().to_string())),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// A client that never follows a redirect, with the proxy's timeouts.
fn build_client(timeout: Duration) -> Result<reqwest::Client, ProxyError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        // A stalled body (either way) counts against the same timeout.
        .read_timeout(timeout)
        .user_agent(crate::zoho::USER_AGENT)
        .build()
        .map_err(|e| ProxyError::Upstream(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(allow_custom: bool) -> Upstream {
        Upstream::new(&ProxySettings::default(), allow_custom).expect("client")
    }

    fn target(path: &str, query: Option<&str>) -> ProxyTarget {
        ProxyTarget::parse(path, query).expect("target")
    }

    #[test]
    fn the_target_is_the_stored_api_host_plus_the_path() {
        let url = upstream(false)
            .url(
                "https://www.zohoapis.eu",
                &target("/invoice/v3/invoices", Some("a=1")),
            )
            .expect("url");
        assert_eq!(
            url.as_str(),
            "https://www.zohoapis.eu/invoice/v3/invoices?a=1"
        );
    }

    #[test]
    fn only_zoho_api_hosts_unless_custom_hosts_are_allowed() {
        let t = target("/x", None);
        assert!(matches!(
            upstream(false).url("https://evil.example", &t),
            Err(ProxyError::ApiDomain(_))
        ));
        assert!(upstream(true).url("http://127.0.0.1:9", &t).is_ok());
        let remembering = upstream(true);
        assert!(remembering.url("http://127.0.0.1:9", &t).is_ok());
        assert!(
            remembering.url("http://127.0.0.1:9/", &t).is_ok(),
            "the same host, remembered"
        );
        for bad in [
            "https://u:p@evil.example",
            "https://evil.example/base",
            "file:///etc",
            "x",
        ] {
            assert!(upstream(true).url(bad, &t).is_err(), "{bad}");
        }
    }
}
