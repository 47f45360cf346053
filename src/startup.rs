//! Builds the HTTP server around a [`VaultService`]: the routes, the
//! hardening middleware ([`api::middleware::guard`]), the per-token rate
//! limiter, and TLS ([`crate::tls`]) when `tls.cert_file` and
//! `tls.key_file` are set; and runs it until SIGINT or SIGTERM, reloading
//! the TLS certificate on SIGHUP.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::api;
use crate::ratelimit::{AddressLimiter, RateLimiter};
use crate::service::VaultService;
use crate::tls::{tls_config, CertReloader};

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    tls: Option<Arc<CertReloader>>,
    signals: Signals,
}

/// Binds the listen address. Done first at start, before anything is
/// created or unsealed, so that a busy port changes nothing; the error
/// names the address and the setting to change.
pub fn bind(listen: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "another process holds the port; set ZOHO_VAULT_LISTEN, \
                 e.g. ZOHO_VAULT_LISTEN=127.0.0.1:8701"
            }
            std::io::ErrorKind::PermissionDenied => {
                "ports below 1024 need privileges; set ZOHO_VAULT_LISTEN to a higher port"
            }
            std::io::ErrorKind::InvalidInput => {
                "`listen` is an address and a port, e.g. ZOHO_VAULT_LISTEN=127.0.0.1:8700"
            }
            _ => "check `listen` (ZOHO_VAULT_LISTEN), e.g. 127.0.0.1:8700",
        };
        std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e} ({hint})"))
    })
}

impl Application {
    /// Binds the configured address (port 0 picks a free port).
    pub fn build(service: Arc<VaultService>) -> std::io::Result<Self> {
        let listener = bind(&service.settings().listen)?;
        Self::build_on(service, listener)
    }

    /// Builds the server on a listener bound by [`bind`].
    pub fn build_on(service: Arc<VaultService>, listener: TcpListener) -> std::io::Result<Self> {
        let settings = service.settings().clone();
        let tls = tls_config(&settings.tls)?;
        let addr = listener.local_addr()?;
        warn_if_clear_text(addr, tls.is_some());
        let data = web::Data::from(service);
        let limiter = RateLimiter::from_settings(&settings.ratelimit).map(web::Data::new);
        if limiter.is_none() {
            tracing::warn!("the per-token rate limit is off (ratelimit.per_token_per_sec = 0)");
        }
        let by_address = AddressLimiter::from_settings(&settings.ratelimit).map(web::Data::new);
        let body_limit = settings.http.body_limit_bytes;
        // Rendered once, served as is by every worker.
        let openapi = api::openapi::Document::build(&settings)
            .map(web::Data::new)
            .map_err(std::io::Error::other)?;
        let server = HttpServer::new(move || {
            let mut app = App::new().app_data(data.clone()).app_data(openapi.clone());
            if let Some(limiter) = &limiter {
                app = app.app_data(limiter.clone());
            }
            if let Some(by_address) = &by_address {
                app = app.app_data(by_address.clone());
            }
            app.configure(api::configure(body_limit))
                .default_service(web::to(api::error::not_found))
                .wrap(from_fn(api::middleware::guard))
        })
        // Signals are ours (run_until_stopped): actix would log a SIGINT
        // as a "forced shutdown" and cannot reload certificates.
        .disable_signals();
        let (mut server, reloader) = match tls {
            Some((config, reloader)) => {
                (server.listen_rustls_0_23(listener, config)?, Some(reloader))
            }
            None => (server.listen(listener)?, None),
        };
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        Ok(Self {
            server: server.shutdown_timeout(10).run(),
            addr,
            tls: reloader,
            // Registered now, before anyone learns the address: a signal
            // sent as soon as the server is up must find our handlers, not
            // the default action (which ends the process).
            signals: Signals::register()?,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use: `https://` with TLS, else `http://`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, then stops cleanly: no new
    /// connections, requests in flight get up to 10 s. SIGHUP reloads the
    /// TLS certificate and key.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = self.server;
        tokio::select! {
            done = &mut server => return done,
            signal = self.signals.stop(self.tls) => {
                tracing::info!(signal = signal?, "stopping: no new connections, requests in flight get up to 10 s");
            }

        }
        // The server's own loop runs inside `server`: keep polling it while
        // the stop command is carried out, or both wait for each other.
        let (_, done) = tokio::join!(handle.stop(true), server);
        done
    }
}

/// The signals the server acts on, registered when it is built.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for SIGINT or SIGTERM and answers its name; reloads the TLS
    /// certificate on every SIGHUP meanwhile.
    async fn stop(mut self, tls: Option<Arc<CertReloader>>) -> std::io::Result<&'static str> {
        loop {
            tokio::select! {
                _ = self.interrupt.recv() => return Ok("SIGINT"),
                _ = self.terminate.recv() => return Ok("SIGTERM"),
                _ = self.hangup.recv() => match &tls {
                    Some(reloader) => match reloader.reload() {
                        Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                        Err(e) => tracing::error!(error = %e, "SIGHUP: the new TLS certificate was refused; still serving the previous one"),
                    },
                    None => tracing::info!("SIGHUP: no TLS configured, nothing to reload"),
                },
            }
        }
    }
}

/// Ctrl-C elsewhere.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn register() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn stop(self, _tls: Option<Arc<CertReloader>>) -> std::io::Result<&'static str> {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl-C")
    }
}

/// Warns (and says so) when bearer tokens would cross a network in clear
/// text: a non-loopback address without TLS. An IPv4-mapped loopback
/// (`::ffff:127.0.0.1`) is loopback.
fn warn_if_clear_text(addr: SocketAddr, tls: bool) -> bool {
    let exposed = !addr.ip().to_canonical().is_loopback() && !tls;
    if exposed {
        tracing::warn!(%addr, "listening on a non-loopback address without TLS: tokens cross the network in clear text");
    }
    exposed
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines written while `f` runs, at every level.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("lock").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("utf8")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn a_busy_port_and_a_malformed_address_get_different_hints() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let busy = held.local_addr().expect("addr").to_string();
        let err = bind(&busy).expect_err("busy").to_string();
        assert!(err.contains("another process holds the port"), "{err}");
        let err = bind("nonsense").expect_err("malformed").to_string();
        assert!(err.contains("an address and a port"), "{err}");
        assert!(!err.contains("another process"), "{err}");
    }

    #[test]
    fn a_non_loopback_listener_without_tls_warns_loudly() {
        for a in [
            "0.0.0.0:8200",
            "192.0.2.7:8200",
            "[::]:8200",
            "[2001:db8::1]:8200",
        ] {
            let log = logged(|| assert!(warn_if_clear_text(addr(a), false), "{a}"));
            assert!(log.contains("WARN"), "{a}: {log}");
            assert!(log.contains("without TLS"), "{a}: {log}");
        }
    }

    #[test]
    fn tls_or_a_loopback_address_needs_no_warning() {
        for (a, tls) in [
            ("0.0.0.0:8200", true),
            ("127.0.0.1:8200", false),
            ("127.0.0.2:8200", false),
            ("[::1]:8200", false),
            ("[::ffff:127.0.0.1]:8200", false),
        ] {
            let log = logged(|| assert!(!warn_if_clear_text(addr(a), tls), "{a} tls={tls}"));
            assert!(!log.contains("without TLS"), "{a} tls={tls}: {log}");
        }
    }
}
