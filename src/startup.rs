//! Builds the HTTP server around a [`VaultService`]: the routes, the
//! hardening middleware ([`api::middleware::guard`]), the per-token rate
//! limiter, and TLS (rustls, ring provider) when `tls.cert_file` and
//! `tls.key_file` are set.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::api;
use crate::config::TlsSettings;
use crate::ratelimit::RateLimiter;
use crate::service::VaultService;

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    tls: bool,
}

impl Application {
    /// Binds the configured address (port 0 picks a free port).
    pub fn build(service: Arc<VaultService>) -> std::io::Result<Self> {
        let settings = service.settings().clone();
        let tls = tls_config(&settings.tls)?;
        let listener = TcpListener::bind(&settings.listen)?;
        let addr = listener.local_addr()?;
        warn_if_clear_text(addr, tls.is_some());
        let data = web::Data::from(service);
        let limiter = RateLimiter::from_settings(&settings.ratelimit).map(web::Data::new);
        if limiter.is_none() {
            tracing::warn!("the per-token rate limit is off (ratelimit.per_token_per_sec = 0)");
        }
        let body_limit = settings.http.body_limit_bytes;
        // Rendered once, served as is by every worker.
        let openapi = api::openapi::Document::build(&settings)
            .map(web::Data::new)
            .map_err(std::io::Error::other)?;
        let with_tls = tls.is_some();
        let server = HttpServer::new(move || {
            let mut app = App::new().app_data(data.clone()).app_data(openapi.clone());
            if let Some(limiter) = &limiter {
                app = app.app_data(limiter.clone());
            }
            app.configure(api::configure(body_limit))
                .default_service(web::to(api::error::not_found))
                .wrap(from_fn(api::middleware::guard))
        });
        let mut server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        };
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        Ok(Self {
            server: server.shutdown_timeout(10).run(),
            addr,
            tls: with_tls,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use: `https://` with TLS, else `http://`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Serves until Ctrl-C / SIGTERM (actix handles both signals).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

/// The rustls server configuration, or `None` when TLS is not configured.
/// Only the ring provider is used (no aws-lc-rs in the build); TLS 1.2 and
/// 1.3 with rustls' safe defaults; no client certificates.
pub fn tls_config(tls: &TlsSettings) -> std::io::Result<Option<rustls::ServerConfig>> {
    let (cert_file, key_file) = match (&tls.cert_file, &tls.key_file) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(invalid(
                "tls.cert_file and tls.key_file go together: set both for HTTPS, or neither".into(),
            ))
        }
    };
    let certs = load_certs(cert_file)?;
    // The key's parse error is never printed: it could quote key bytes.
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|_| {
        invalid(format!(
            "tls.key_file {}: no readable PEM private key (PKCS#8, PKCS#1 or SEC1)",
            key_file.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            invalid(format!(
                "tls.cert_file / tls.key_file do not make a usable pair: {e}"
            ))
        })?;
    tracing::info!(cert = %cert_file.display(), "TLS enabled");
    Ok(Some(config))
}

fn load_certs(path: &Path) -> std::io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("tls.cert_file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "tls.cert_file {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
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
