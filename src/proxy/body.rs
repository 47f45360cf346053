//! Bodies through the proxy. A request body up to `proxy.replay_limit_bytes`
//! is buffered, so the request can be sent again after Zoho refuses a dead
//! token; a larger one is streamed (and not retried). Both are capped at
//! `proxy.max_body_bytes`. Zoho's answer is streamed back through
//! [`ResponseBody`], which counts and caps it and reports how it ended.
//! Memory stays bounded either way: a few chunks in flight, never a whole
//! large body.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::sync::OwnedSemaphorePermit;

use super::ProxyError;

/// Chunks of the caller's body in flight between the HTTP edge and Zoho.
const CHANNEL_CHUNKS: usize = 8;

/// The caller's request body as it arrives.
pub struct IncomingBody {
    /// `None`: the request has no body (most reads), and nothing is pumped.
    rx: Option<mpsc::Receiver<Result<Bytes, std::io::Error>>>,
    declared_len: Option<u64>,
}

/// The sending side the HTTP edge feeds the caller's body into.
pub type BodySender = mpsc::Sender<Result<Bytes, std::io::Error>>;

impl IncomingBody {
    /// A body of `declared_len` bytes (its `Content-Length`, if any) and
    /// the sender to feed it through.
    pub fn channel(declared_len: Option<u64>) -> (BodySender, Self) {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let body = Self {
            rx: Some(rx),
            declared_len,
        };
        (tx, body)
    }

    /// A request without a body.
    pub fn none() -> Self {
        Self {
            rx: None,
            declared_len: Some(0),
        }
    }

    /// The body's declared length.
    pub fn declared_len(&self) -> Option<u64> {
        self.declared_len
    }

    /// Buffers the body when it fits in `replay_limit`, else starts
    /// streaming it; `sent` counts the bytes that go to Zoho.
    pub async fn prepare(
        mut self,
        replay_limit: u64,
        max: u64,
        sent: Arc<AtomicU64>,
    ) -> Result<Prepared, ProxyError> {
        if let Some(len) = self.declared_len {
            if len > max {
                return Err(ProxyError::TooLarge { limit: max });
            }
        }
        let Some(mut rx) = self.rx.take() else {
            return Ok(Prepared::Replayable(Bytes::new()));
        };
        let mut prefix: Vec<Bytes> = Vec::new();
        let mut size = 0u64;
        if self.declared_len.is_none_or(|len| len <= replay_limit) {
            loop {
                match rx.recv().await {
                    None => {
                        sent.store(size, Ordering::Relaxed);
                        return Ok(Prepared::Replayable(whole(prefix, size)));
                    }
                    Some(Err(e)) => return Err(broken(e)),
                    Some(Ok(chunk)) => {
                        size += chunk.len() as u64;
                        if size > max {
                            return Err(ProxyError::TooLarge { limit: max });
                        }
                        prefix.push(chunk);
                        if size > replay_limit {
                            break;
                        }
                    }
                }
            }
        }
        Ok(Prepared::Streamed(Streamed {
            prefix,
            rx,
            declared_len: self.declared_len,
            max,
            sent,
            over: Arc::new(AtomicBool::new(false)),
        }))
    }
}

/// The chunks of a small body as one buffer (a body of one chunk, the
/// usual case, is not copied).
fn whole(mut chunks: Vec<Bytes>, size: u64) -> Bytes {
    if chunks.len() <= 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut all = bytes::BytesMut::with_capacity(usize::try_from(size).unwrap_or(0));
    for chunk in &chunks {
        all.extend_from_slice(chunk);
    }
    all.freeze()
}

fn broken(e: std::io::Error) -> ProxyError {
    ProxyError::Upstream(format!("the request body broke off: {e}"))
}

/// A request body ready to send.
pub enum Prepared {
    /// Whole, in memory: may be sent twice.
    Replayable(Bytes),
    /// Streamed: sent once.
    Streamed(Streamed),
}

/// A streamed request body.
pub struct Streamed {
    prefix: Vec<Bytes>,
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    declared_len: Option<u64>,
    max: u64,
    sent: Arc<AtomicU64>,
    over: Arc<AtomicBool>,
}

impl Streamed {
    /// The declared length, to send as `Content-Length`.
    pub fn declared_len(&self) -> Option<u64> {
        self.declared_len
    }

    /// A flag set when the body went over the cap (the send then fails).
    pub fn over_cap(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.over)
    }

    /// The body for the HTTP client, counted and capped.
    pub fn into_body(self) -> reqwest::Body {
        let Streamed {
            prefix,
            rx,
            max,
            sent,
            over,
            ..
        } = self;
        let state = (prefix.into_iter(), rx, 0u64);
        let stream = futures_util::stream::unfold(state, move |(mut prefix, mut rx, total)| {
            let sent = Arc::clone(&sent);
            let over = Arc::clone(&over);
            async move {
                let next = match prefix.next() {
                    Some(chunk) => Ok(chunk),
                    None => rx.recv().await?,
                };
                let item = next.and_then(|chunk| {
                    let total = total + chunk.len() as u64;
                    if total > max {
                        over.store(true, Ordering::Relaxed);
                        Err(std::io::Error::other("request body over the proxy's cap"))
                    } else {
                        sent.store(total, Ordering::Relaxed);
                        Ok(chunk)
                    }
                });
                let total = sent.load(Ordering::Relaxed);
                Some((item, (prefix, rx, total)))
            }
        });
        reqwest::Body::wrap_stream(stream)
    }
}

/// Called once when an answer's body ends: the bytes passed back and
/// whether the body was passed back whole.
pub type OnDone = Box<dyn FnOnce(u64, bool) + Send>;

type Upstream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Zoho's answer body on its way to the caller: counted, capped at
/// `proxy.max_body_bytes` (the stream breaks off past it), holding the
/// connection's concurrency place until it ends.
pub struct ResponseBody {
    prefix: Option<Bytes>,
    inner: Option<Upstream>,
    passed: u64,
    limit: u64,
    done: Option<OnDone>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl ResponseBody {
    /// `prefix` (bytes already read, e.g. to look at a 401) then the rest
    /// of `response`.
    pub fn new(
        prefix: Option<Bytes>,
        response: Option<reqwest::Response>,
        limit: u64,
        permit: Option<OwnedSemaphorePermit>,
        done: OnDone,
    ) -> Self {
        Self {
            prefix: prefix.filter(|p| !p.is_empty()),
            inner: response.map(|r| Box::pin(r.bytes_stream()) as Upstream),
            passed: 0,
            limit,
            done: Some(done),
            _permit: permit,
        }
    }

    fn finish(&mut self, whole: bool) {
        self.inner = None;
        if let Some(done) = self.done.take() {
            done(self.passed, whole);
        }
    }

    fn pass(&mut self, chunk: Bytes) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.passed += chunk.len() as u64;
        if self.passed > self.limit {
            self.finish(false);
            return Poll::Ready(Some(Err(std::io::Error::other(
                "Zoho's answer is over the proxy's cap",
            ))));
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

impl Stream for ResponseBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(prefix) = this.prefix.take() {
            return this.pass(prefix);
        }
        let Some(inner) = this.inner.as_mut() else {
            this.finish(true);
            return Poll::Ready(None);
        };
        match inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => this.pass(chunk),
            Poll::Ready(Some(Err(e))) => {
                this.finish(false);
                Poll::Ready(Some(Err(std::io::Error::other(e.without_url()))))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // The caller went away before the end.
        self.finish(false);
    }
}
