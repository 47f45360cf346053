//! The proxy: a caller's request goes to the connection's Zoho API with the
//! connection's access token, and Zoho's answer comes back; the token never
//! leaves the vault. Audit first, fail closed: the `proxy_request` event is
//! durable before anything is sent to Zoho (else 503 and Zoho never hears
//! of it); a `proxy_completed` event with the same request id follows when
//! the answer's body has been passed back (or broke off), written in
//! batches a little later ([`super::proxy_completions`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use secrecy::SecretString;

use crate::audit::event::ProxyOutcome;
use crate::audit::{AuditEvent, RequestContext};
use crate::auth::{AuthError, Principal};
use crate::broker::Issued;
use crate::connections::ConnectionError;
use crate::model::ConnectionName;
use crate::proxy::body::Prepared;
use crate::proxy::dead::{is_dead_token, PEEK_LIMIT};
use crate::proxy::{
    method_class, status_class, IncomingBody, Limiter, ProxyError, ProxyTarget, ResponseBody,
    Upstream,
};
use crate::vault::Keyring;

use super::proxy_completions::{Completions, Queued, LINGER};
use super::{ServiceError, VaultService};

/// What the proxy needs besides the rest of the service.
pub(super) struct ProxyParts {
    upstream: Upstream,
    limiter: Limiter,
    completions: Completions,
}

impl ProxyParts {
    pub(super) fn new(settings: &crate::config::Settings) -> Result<Self, ProxyError> {
        let p = &settings.proxy;
        Ok(Self {
            upstream: Upstream::new(p, settings.zoho.allow_custom_accounts_url)?,
            limiter: Limiter::new(
                p.max_concurrent_per_connection,
                std::time::Duration::from_millis(p.queue_wait_ms),
            ),
            completions: Completions::default(),
        })
    }
}

/// A request to send through the proxy, parsed at the edge.
pub struct ProxyCall {
    /// The connection whose token and API host are used.
    pub connection: ConnectionName,
    /// The method, as the caller sent it.
    pub method: reqwest::Method,
    /// The checked path and query.
    pub target: ProxyTarget,
    /// The caller's headers (filtered before they go to Zoho).
    pub headers: HeaderMap,
    /// The caller's body.
    pub body: IncomingBody,
}

/// Zoho's answer, on its way back.
pub struct ProxyAnswer {
    /// Zoho's status.
    pub status: u16,
    /// Zoho's end-to-end headers.
    pub headers: HeaderMap,
    /// The body's length when Zoho declared it.
    pub content_length: Option<u64>,
    /// The body, streamed.
    pub body: ResponseBody,
}

/// Writes `proxy_completed` and counts the request, once.
struct Completion {
    service: Arc<VaultService>,
    caller: Principal,
    connection: String,
    ctx: RequestContext,
    started: Instant,
    method: &'static str,
    request_bytes: Arc<AtomicU64>,
    retried: bool,
}

impl Completion {
    fn finish(self, status: u16, upstream_answered: bool, response_bytes: u64) {
        let outcome = ProxyOutcome {
            status,
            upstream_answered,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            request_bytes: self.request_bytes.load(Ordering::Relaxed),
            response_bytes,
            retried: self.retried,
        };
        let m = &self.service.metrics.proxy;
        m.requests
            .with_label_values(&[&self.connection, self.method, status_class(status)])
            .inc();
        let event = AuditEvent::proxy_completed(&self.caller, &self.connection, outcome, &self.ctx);
        let service = self.service;
        match service.proxy.completions.push(event) {
            Queued::First => {
                tokio::spawn(async move {
                    tokio::time::sleep(LINGER).await;
                    service.flush_proxy_completions().await;
                });
            }
            Queued::Full => {
                tokio::spawn(async move { service.flush_proxy_completions().await });
            }
            Queued::Waiting => {}
        }
    }
}

/// The status the caller gets for a failure (as the HTTP edge maps it),
/// for the trail and the metrics.
fn failure_status(e: &ServiceError) -> u16 {
    match e {
        ServiceError::Proxy(p) => p.status(),
        ServiceError::Connection(c) => match c {
            ConnectionError::NotFound(_) => 404,
            ConnectionError::NeedsReauth { .. } | ConnectionError::PendingAuthorization { .. } => {
                409
            }
            ConnectionError::Throttled { .. } | ConnectionError::BudgetExhausted { .. } => 429,
            ConnectionError::Invalid(_) => 400,
            _ => 502,
        },
        ServiceError::Auth(_) => 403,
        ServiceError::Vault(_) | ServiceError::Audit(_) => 503,
        ServiceError::Invalid(_) => 400,
        _ => 500,
    }
}

impl VaultService {
    /// Writes the `proxy_completed` events still waiting for a write to
    /// ride with (before the trail is read, at seal and at shutdown).
    pub async fn flush_proxy_completions(&self) {
        self.record_completions(self.proxy.completions.take()).await;
    }

    /// Appends `events` at once (they share a flush), in order.
    async fn record_completions(&self, events: Vec<AuditEvent>) {
        futures_util::future::join_all(events.into_iter().map(|e| self.record_done(e))).await;
    }

    /// Sends `call` to connection's Zoho API for `caller` and returns
    /// Zoho's answer (see the module documentation).
    pub async fn proxy(
        self: &Arc<Self>,
        caller: &Principal,
        call: ProxyCall,
        ctx: &RequestContext,
    ) -> Result<ProxyAnswer, ServiceError> {
        let keyring = self.vault.keyring()?;
        let name = &call.connection.clone();
        if !caller.may_use(name) {
            return Err(AuthError::NotGranted(name.to_string()).into());
        }
        if !caller.may_proxy_path(call.target.path()) {
            return Err(ProxyError::PathNotAllowed {
                path: call.target.path().to_string(),
                allowed: caller.proxy_paths.clone(),
            }
            .into());
        }
        let max = self.settings.proxy.max_body_bytes;
        if call.body.declared_len().is_some_and(|len| len > max) {
            return Err(ProxyError::TooLarge { limit: max }.into());
        }
        let event =
            AuditEvent::proxy_request(caller, name, call.method.as_str(), call.target.path(), ctx);
        self.audit.append(event).await?;
        let mut done = Completion {
            service: Arc::clone(self),
            caller: caller.clone(),
            connection: name.to_string(),
            ctx: ctx.clone(),
            started: Instant::now(),
            method: method_class(&call.method),
            request_bytes: Arc::new(AtomicU64::new(0)),
            retried: false,
        };
        match self.forward(&keyring, caller, call, &mut done, ctx).await {
            Ok(answer) => Ok(answer),
            Err((e, answered)) => {
                if matches!(e, ServiceError::Proxy(ProxyError::Busy { .. })) {
                    self.metrics
                        .proxy
                        .concurrency_rejections
                        .with_label_values(&[name.as_str()])
                        .inc();
                }
                done.finish(failure_status(&e), answered, 0);
                Err(e)
            }
        }
    }

    /// Everything after the `proxy_request` event. The `bool` of a failure
    /// says whether Zoho had answered.
    async fn forward(
        &self,
        keyring: &Keyring,
        caller: &Principal,
        call: ProxyCall,
        done: &mut Completion,
        ctx: &RequestContext,
    ) -> Result<ProxyAnswer, (ServiceError, bool)> {
        let fail = |e: ServiceError| (e, false);
        let ProxyCall {
            connection: name,
            method,
            target,
            headers,
            body,
        } = call;
        let settings = &self.settings.proxy;
        let permit = self
            .proxy
            .limiter
            .acquire(&name)
            .await
            .map_err(|e| fail(e.into()))?;
        let issued = self
            .proxy_token(keyring, caller, &name, None, ctx)
            .await
            .map_err(fail)?;
        let url = self
            .proxy
            .upstream
            .url(&issued.api_domain, &target)
            .map_err(|e| fail(e.into()))?;
        let headers = crate::proxy::headers::to_zoho(&headers);
        let body = body
            .prepare(
                settings.replay_limit_bytes,
                settings.max_body_bytes,
                Arc::clone(&done.request_bytes),
            )
            .await
            .map_err(|e| fail(e.into()))?;
        let send = |token: SecretString, body: reqwest::Body, len: Option<u64>| {
            let histogram = self
                .metrics
                .proxy
                .upstream_seconds
                .with_label_values(&[name.as_str()]);
            let upstream = &self.proxy.upstream;
            let (method, url, headers) = (method.clone(), url.clone(), headers.clone());
            async move {
                let started = Instant::now();
                let answer = upstream.send(method, url, headers, &token, body, len).await;
                histogram.observe(started.elapsed().as_secs_f64());
                answer
            }
        };
        let mut response = match &body {
            Prepared::Replayable(bytes) => {
                send(issued.access_token.clone(), bytes.clone().into(), None).await
            }
            Prepared::Streamed(_) => {
                let Prepared::Streamed(streamed) = body else {
                    unreachable!("matched above")
                };
                let over = streamed.over_cap();
                let len = streamed.declared_len();
                let sent = send(issued.access_token.clone(), streamed.into_body(), len).await;
                if over.load(Ordering::Relaxed) {
                    return Err(fail(
                        ProxyError::TooLarge {
                            limit: settings.max_body_bytes,
                        }
                        .into(),
                    ));
                }
                return self.answer(sent.map_err(|e| fail(e.into()))?, None, permit, done);
            }
        }
        .map_err(|e| fail(e.into()))?;
        if response.status().as_u16() != 401 {
            return self.answer(response, None, permit, done);
        }
        let (prefix, whole) = peek(&mut response).await;
        if !(whole && is_dead_token(401, &prefix)) {
            return self.answer(response, Some(prefix), permit, done);
        }
        // Zoho refused a token the vault thought valid: one refresh (shared
        // with every caller that saw the same token refused), one retry.
        drop(response);
        let Prepared::Replayable(bytes) = body else {
            unreachable!("streamed bodies returned above")
        };
        // A refresh that fails sends nothing again: not a retry.
        let fresh = self
            .proxy_token(keyring, caller, &name, Some(&issued.access_token), ctx)
            .await
            .map_err(|e| (e, false))?;
        done.retried = true;
        self.metrics
            .proxy
            .retries
            .with_label_values(&[name.as_str()])
            .inc();
        let response = send(fresh.access_token.clone(), bytes.into(), None)
            .await
            .map_err(|e| (e.into(), true))?;
        self.answer(response, None, permit, done)
    }

    /// The connection's token; with `dead`, one to use instead of it.
    /// A refresh is audited like any other (`connection_refreshed`).
    async fn proxy_token(
        &self,
        keyring: &Keyring,
        caller: &Principal,
        name: &ConnectionName,
        dead: Option<&SecretString>,
        ctx: &RequestContext,
    ) -> Result<Issued, ServiceError> {
        let issued = match dead {
            None => {
                let min_valid = self.broker.demand(None)?;
                self.broker.issue(keyring, name, min_valid).await
            }
            Some(dead) => self.broker.replace_dead(keyring, name, dead).await,
        };
        let issued = match issued {
            Ok(issued) => issued,
            Err(e) => {
                if let ConnectionError::NeedsReauth {
                    fresh: true, code, ..
                } = &e
                {
                    let event = AuditEvent::connection_needs_reauth(Some(caller), name, code, ctx);
                    self.record_done(event).await;
                }
                return Err(e.into());
            }
        };
        if issued.refreshed {
            let event = AuditEvent::connection_refreshed(
                Some(caller),
                name,
                issued.expires_at,
                issued.rotated,
                ctx,
            );
            self.audit.append(event).await?;
        }
        Ok(issued)
    }

    /// Zoho's answer, streamed back; `prefix` is what was read of it.
    fn answer(
        &self,
        response: reqwest::Response,
        prefix: Option<Bytes>,
        permit: tokio::sync::OwnedSemaphorePermit,
        done: &mut Completion,
    ) -> Result<ProxyAnswer, (ServiceError, bool)> {
        let limit = self.settings.proxy.max_body_bytes;
        let status = response.status().as_u16();
        let content_length = match &prefix {
            Some(_) => None,
            None => response.content_length(),
        };
        if content_length.is_some_and(|len| len > limit) {
            return Err((ProxyError::ResponseTooLarge { limit }.into(), true));
        }
        let headers = crate::proxy::headers::to_caller(response.headers());
        let completion = Completion {
            service: Arc::clone(&done.service),
            caller: done.caller.clone(),
            connection: done.connection.clone(),
            ctx: done.ctx.clone(),
            started: done.started,
            method: done.method,
            request_bytes: Arc::clone(&done.request_bytes),
            retried: done.retried,
        };
        let on_done = Box::new(move |bytes: u64, _whole: bool| {
            completion.finish(status, true, bytes);
        });
        Ok(ProxyAnswer {
            status,
            headers,
            content_length,
            body: ResponseBody::new(prefix, Some(response), limit, Some(permit), on_done),
        })
    }
}

/// Reads up to [`PEEK_LIMIT`] bytes of an answer; `true` when that was all.
async fn peek(response: &mut reqwest::Response) -> (Bytes, bool) {
    let mut buf = Vec::new();
    while buf.len() <= PEEK_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) => return (Bytes::from(buf), true),
            Err(_) => return (Bytes::from(buf), false),
        }
    }
    (Bytes::from(buf), false)
}
