//! Builds the HTTP server around a [`VaultService`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::api;
use crate::service::VaultService;

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
}

impl Application {
    /// Binds the configured address (port 0 picks a free port).
    pub fn build(service: Arc<VaultService>) -> std::io::Result<Self> {
        let settings = service.settings().clone();
        let listener = TcpListener::bind(&settings.listen)?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening on a non-loopback address without TLS: tokens cross the network in clear text");
        }
        let data = web::Data::from(service);
        let body_limit = settings.http.body_limit_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(api::configure(body_limit))
                .default_service(web::to(api::error::not_found))
        })
        .listen(listener)?;
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        Ok(Self {
            server: server.shutdown_timeout(10).run(),
            addr,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until Ctrl-C / SIGTERM (actix handles both signals).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
