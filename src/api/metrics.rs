//! `GET /metrics`: Prometheus text, open or admin-only per `metrics.access`.

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};

use super::error::ErrorBody;
use super::extract::Admin;
use super::{root_resource, ApiError};
use crate::config::MetricsAccess;
use crate::service::VaultService;

/// The route (outside `/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(root_resource("/metrics").route(web::get().to(metrics)));
}

/// Whether `access` lets anyone read, for a server listening on `listen`.
fn is_open(access: MetricsAccess, listen: &str) -> bool {
    match access {
        MetricsAccess::Open => true,
        MetricsAccess::Admin | MetricsAccess::Off => false,
        MetricsAccess::Auto => listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback()),
    }
}

/// Prometheus metrics
///
/// The text exposition format. Who may read depends on `metrics.access`:
/// `open` anyone; `auto` (the default) anyone while the server listens on
/// loopback, else admins; `admin` admins only; `off` nobody (`404`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    security((), ("admin" = [])),
    responses(
        (status = 200, description = "The metrics", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 404, description = "`not_found`: metrics are turned off (`metrics.access = \"off\"`)", body = ErrorBody<'_>),
    )
)]
async fn metrics(
    service: web::Data<VaultService>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let settings = service.settings();
    if settings.metrics.access == MetricsAccess::Off {
        return Err(ApiError::not_found(
            "metrics are turned off (metrics.access = \"off\")",
        ));
    }
    if !is_open(settings.metrics.access, &settings.listen) {
        Admin::extract(&req).await?;
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(service.render_metrics().await))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_open_only_on_loopback() {
        assert!(is_open(MetricsAccess::Auto, "127.0.0.1:8700"));
        assert!(is_open(MetricsAccess::Auto, "[::1]:8700"));
        assert!(!is_open(MetricsAccess::Auto, "0.0.0.0:8700"));
        assert!(!is_open(MetricsAccess::Auto, "vault.internal:8700"));
        assert!(is_open(MetricsAccess::Open, "0.0.0.0:8700"));
        assert!(!is_open(MetricsAccess::Admin, "127.0.0.1:8700"));
    }
}
