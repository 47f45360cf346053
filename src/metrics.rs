//! Prometheus metrics: what operators watch on a dashboard.
//!
//! Labels are low-cardinality on purpose (no connection names): a vault
//! with 10,000 connections must not produce 10,000 series per metric.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric the vault exports.
pub struct Metrics {
    registry: Registry,
    /// Tokens handed out, by `source` (`cached`, `refreshed`).
    pub token_issues: IntCounterVec,
    /// Refresh attempts by `outcome` (`ok`, `throttled`, `needs_reauth`,
    /// `transient`, `budget`).
    pub refreshes: IntCounterVec,
    /// Latency of calls to Zoho's accounts server, by `op`
    /// (`exchange_code`, `refresh`, `revoke`).
    pub upstream_seconds: HistogramVec,
    /// Latency of durable audit batch writes.
    pub audit_flush_seconds: Histogram,
    /// 1 while sealed.
    pub sealed: IntGauge,
    /// Connections by health `state`, refreshed at scrape time.
    pub connections: IntGaugeVec,
    /// Failed storage writes by `kind` (`disk_full`).
    pub storage_errors: IntCounterVec,
    /// The proxy's metrics.
    pub proxy: ProxyMetrics,
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("zoho_vault".into()), None)?;
        let token_issues = IntCounterVec::new(
            Opts::new("token_issues_total", "Access tokens handed to callers"),
            &["source"],
        )?;
        let refreshes = IntCounterVec::new(
            Opts::new(
                "refreshes_total",
                "Access-token refresh attempts by outcome",
            ),
            &["outcome"],
        )?;
        let upstream_seconds = HistogramVec::new(
            HistogramOpts::new(
                "upstream_seconds",
                "Latency of calls to Zoho's accounts server",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["op"],
        )?;
        let audit_flush_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "audit_flush_seconds",
                "Latency of durable audit batch writes",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
            ]),
        )?;
        let sealed = IntGauge::new("sealed", "1 while the vault is sealed")?;
        let connections = IntGaugeVec::new(
            Opts::new("connections", "Connections by health state"),
            &["state"],
        )?;
        let storage_errors = IntCounterVec::new(
            Opts::new(
                "storage_errors_total",
                "Failed writes to the store or the audit log, by kind",
            ),
            &["kind"],
        )?;
        // Exported at 0 from the start, so an alert can watch its rate.
        storage_errors.with_label_values(&["disk_full"]);
        registry.register(Box::new(storage_errors.clone()))?;
        registry.register(Box::new(token_issues.clone()))?;
        registry.register(Box::new(refreshes.clone()))?;
        registry.register(Box::new(upstream_seconds.clone()))?;
        registry.register(Box::new(audit_flush_seconds.clone()))?;
        registry.register(Box::new(sealed.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        let proxy = ProxyMetrics::register(&registry)?;
        Ok(Self {
            proxy,
            registry,
            token_issues,
            refreshes,
            upstream_seconds,
            audit_flush_seconds,
            sealed,
            connections,
            storage_errors,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What the proxy (`/v1/proxy/...`) counts.
#[derive(Clone)]
pub struct ProxyMetrics {
    /// Proxied requests by `connection`, `method` class (`read`: GET, HEAD,
    /// OPTIONS; `write`: the rest) and `status` class (`2xx` ... `5xx`).
    pub requests: IntCounterVec,
    /// Time from sending to Zoho to its answer's headers, by `connection`.
    pub upstream_seconds: HistogramVec,
    /// Refresh-and-retry after Zoho refused a dead token, by `connection`.
    pub retries: IntCounterVec,
    /// Requests refused with 429 by the per-connection concurrency cap.
    pub concurrency_rejections: IntCounterVec,
}

impl ProxyMetrics {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "proxy_requests_total",
                "Proxied requests by connection, method class and status class",
            ),
            &["connection", "method", "status"],
        )?;
        let upstream_seconds = HistogramVec::new(
            HistogramOpts::new(
                "proxy_upstream_seconds",
                "Latency of proxied calls to Zoho's APIs (until the answer's headers)",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["connection"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                "proxy_retries_total",
                "Proxied requests retried once after Zoho refused a dead access token",
            ),
            &["connection"],
        )?;
        let concurrency_rejections = IntCounterVec::new(
            Opts::new(
                "proxy_concurrency_rejections_total",
                "Proxied requests refused with 429 by the per-connection concurrency cap",
            ),
            &["connection"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(upstream_seconds.clone()))?;
        registry.register(Box::new(retries.clone()))?;
        registry.register(Box::new(concurrency_rejections.clone()))?;
        Ok(Self {
            requests,
            upstream_seconds,
            retries,
            concurrency_rejections,
        })
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exported_with_the_prefix() {
        let m = Metrics::new().expect("metrics");
        m.token_issues.with_label_values(&["cached"]).inc();
        m.refreshes.with_label_values(&["ok"]).inc();
        m.upstream_seconds
            .with_label_values(&["refresh"])
            .observe(0.2);
        m.audit_flush_seconds.observe(0.001);
        m.sealed.set(1);
        m.connections.with_label_values(&["active"]).set(3);
        m.storage_errors.with_label_values(&["disk_full"]).inc();
        let text = m.render();
        for name in [
            "zoho_vault_token_issues_total{source=\"cached\"} 1",
            "zoho_vault_refreshes_total{outcome=\"ok\"} 1",
            "zoho_vault_upstream_seconds_bucket",
            "zoho_vault_audit_flush_seconds_count 1",
            "zoho_vault_sealed 1",
            "zoho_vault_connections{state=\"active\"} 3",
            "zoho_vault_storage_errors_total{kind=\"disk_full\"} 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
