//! Wiring: the shared state behind one mutex, the route table, and the
//! [`FakeZoho`] handle that runs the server on its own thread and actix
//! system, so it works from `#[tokio::test]`, from plain `#[test]` and from
//! the `fake-zoho` binary alike.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};

use super::config::{ConfigError, ConfigPatch, FakeZohoConfig};
use super::model::{
    Client, ClientSpec, CodeSpec, Counters, FaultKind, FaultSpec, SelfClientJson, DEFAULT_USER,
};
use super::state::{ControlError, State};
use super::{accounts, consent, control, data, invoice};

/// What every handler shares: the state and the fake's own base URL.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) base_url: String,
    /// Data API calls in flight (the per-organization concurrency limit).
    pub(crate) in_flight: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// Locks the state. A panic elsewhere cannot leave it half-updated in a
    /// way that matters to a test fixture, so a poisoned lock is recovered.
    /// Never hold the guard across an `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A JSON answer with the headers Zoho sends (§1.2: `Server: ZGS`).
pub(crate) fn zoho_json(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Content-Type", "application/json;charset=UTF-8"))
        .insert_header(("Server", "ZGS"))
        .body(body.to_string())
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(accounts::routes)
        .configure(consent::routes)
        .configure(invoice::routes)
        .configure(data::routes)
        .configure(control::routes);
}

/// A running fake Zoho server (accounts server, Invoice API and the
/// `/_fake/` control API on one port). Dropping it stops the server.
///
/// The methods below act on the server's state directly (no HTTP round
/// trip), so they are synchronous, infallible for valid input and usable
/// from async and sync tests alike; the control API routes do the same
/// things over HTTP for scripts and the binary.
#[derive(Debug)]
pub struct FakeZoho {
    addr: SocketAddr,
    shared: web::Data<Shared>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl FakeZoho {
    /// Starts on `127.0.0.1:0` (a random free port) and returns once the
    /// socket is listening.
    pub fn start(config: FakeZohoConfig) -> std::io::Result<FakeZoho> {
        Self::start_on("127.0.0.1:0", config, 1)
    }

    /// Starts on `addr` with `workers` actix worker threads (at least 1).
    pub fn start_on(
        addr: impl ToSocketAddrs,
        config: FakeZohoConfig,
        workers: usize,
    ) -> std::io::Result<FakeZoho> {
        config.validate().map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = web::Data::new(Shared {
            state: Mutex::new(State::new(config)),
            base_url: format!("http://{addr}"),
            in_flight: Default::default(),
        });
        let data = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("fake-zoho".to_owned())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                let ready = tx.clone();
                let run = system.block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new().app_data(data.clone()).configure(routes)
                    })
                    .workers(workers.max(1))
                    // The binary and the handle stop it; a held "timeout"
                    // fault must not delay that.
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener)?
                    .run();
                    let _ = ready.send(Ok(server.handle()));
                    server.await
                });
                if let Err(e) = run {
                    let _ = tx.send(Err(e));
                }
            })?;
        let handle = rx
            .recv()
            .map_err(|_| std::io::Error::other("fake-zoho server thread ended early"))??;
        Ok(FakeZoho {
            addr,
            shared,
            handle,
            thread: Some(thread),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`: the accounts server and,
    /// by default, the `api_domain` too.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `{base_url}/oauth/v2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/v2/token", self.shared.base_url)
    }

    /// Registers a self client with a random id and secret.
    pub fn register_client(&self) -> Client {
        self.register_client_with(ClientSpec::default())
            .expect("a generated client spec is always valid")
    }

    /// Registers a client with the given fields (the others generated).
    pub fn register_client_with(&self, spec: ClientSpec) -> Result<Client, ControlError> {
        self.shared.lock().register_client(spec)
    }

    /// Registers a web (server-based) client with a redirect URI.
    pub fn register_web_client(&self, redirect_uri: &str) -> Result<Client, ControlError> {
        self.register_client_with(ClientSpec {
            redirect_uri: Some(redirect_uri.to_owned()),
            ..ClientSpec::default()
        })
    }

    /// Issues a code for `client` and answers the `self_client.json` Zoho's
    /// console would download. `ttl_secs` may be negative for an expired code.
    pub fn self_client_json(
        &self,
        client: &Client,
        scopes: &[&str],
        ttl_secs: i64,
    ) -> Result<SelfClientJson, ControlError> {
        self.issue_code(CodeSpec {
            client_id: client.client_id.clone(),
            scope: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ttl_secs,
            user: None,
        })
    }

    /// Issues a code with every option of `POST /_fake/codes`.
    pub fn issue_code(&self, spec: CodeSpec) -> Result<SelfClientJson, ControlError> {
        let mut state = self.shared.lock();
        let now = state.now_ms();
        state.issue_code(spec, now)
    }

    /// Creates a refresh token for `client` directly (no exchange, no mint
    /// counted), e.g. to test importing a refresh token.
    pub fn mint_refresh_token(
        &self,
        client: &Client,
        scopes: &[&str],
    ) -> Result<String, ControlError> {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.shared
            .lock()
            .mint_refresh_token(&client.client_id, scopes, DEFAULT_USER)
    }

    /// Revokes a refresh or access token; `false` if it was unknown.
    pub fn revoke(&self, token: &str) -> bool {
        self.shared.lock().revoke(token)
    }

    /// Whether `token` is a live access token right now.
    pub fn is_access_token_live(&self, token: &str) -> bool {
        let state = self.shared.lock();
        state.access_token_scopes(token, state.now_ms()).is_some()
    }

    /// Whether `token` is a live refresh token.
    pub fn is_refresh_token_live(&self, token: &str) -> bool {
        self.shared.lock().is_refresh_token_live(token)
    }

    /// Makes one access token dead at once (as if revoked at Zoho); the
    /// data APIs then answer 401. `false` if the token is unknown.
    pub fn revoke_access_token(&self, token: &str) -> bool {
        self.shared.lock().revoke_access_token(token)
    }

    /// Makes the next `count` calls to the data endpoints of `data.rs`
    /// (CRM, echo) answer 401 `INVALID_TOKEN`, whatever their token.
    pub fn refuse_data_calls(&self, count: u32) {
        self.shared.lock().data_refusals = count;
    }

    /// Data API calls in flight right now (the echo and CRM endpoints).
    pub fn data_calls_in_flight(&self) -> usize {
        self.shared
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes every current access token dead (Invoice API answers code 57).
    pub fn expire_access_tokens(&self) {
        let mut state = self.shared.lock();
        let now = state.now_ms();
        state.expire_access_tokens(now);
    }

    /// Moves the fake's clock forward: codes, access tokens and the mint
    /// window age without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.shared.lock().advance_clock(secs);
    }

    /// Makes the next `count` token-endpoint requests fail as `kind`.
    pub fn inject_fault(&self, kind: FaultKind, count: u32) {
        self.shared.lock().push_fault(FaultSpec { kind, count });
    }

    /// The current settings.
    pub fn config(&self) -> FakeZohoConfig {
        self.shared.lock().config.clone()
    }

    /// Changes some settings; nothing changes if the patch is invalid.
    pub fn update_config(&self, patch: ConfigPatch) -> Result<(), ConfigError> {
        self.shared.lock().config.apply(patch)
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        let state = self.shared.lock();
        state.counters(state.now_ms())
    }

    /// Forgets all clients, codes, tokens, faults and counters and restores
    /// the start-up config and clock.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }
}

impl Drop for FakeZoho {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits
        // for completion, which joining the thread does instead.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
