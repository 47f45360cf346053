//! Where a request came from, as recorded with each event.

/// Where a request came from; both fields are optional because offline
/// commands have neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id (from `X-Request-Id` when well-formed, else generated).
    pub request_id: Option<String>,
    /// The client's IP address: the TCP peer, or the address a trusted
    /// proxy's `X-Forwarded-For` names (`http.trusted_proxies`).
    pub source: Option<String>,
    /// Which interface the request came through, when not the JSON API:
    /// `ui` for the admin console. Recorded as the `channel` detail.
    pub channel: Option<&'static str>,
}

impl RequestContext {
    /// A context for commands run on the host (no request, no peer).
    pub fn local() -> Self {
        Self::default()
    }
}
