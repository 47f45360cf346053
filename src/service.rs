//! The library facade the HTTP routes and the CLI call into: one struct
//! that owns the vault, the token registry and (as they land) the broker
//! and audit trail, and answers in domain terms.

mod admin_tokens;
mod backend;
mod background;
mod backup;
mod connections;
mod denials;
mod error;
mod proxy;
mod proxy_completions;
mod sessions;
mod sys;
mod tokens;
mod trail;
mod webhooks;
mod whoami;

pub use admin_tokens::AdminTokenError;
pub use backup::BackupStream;
pub use error::{OpenError, ServiceAuthError, ServiceError, UnsealError};
pub use proxy::{ProxyAnswer, ProxyCall};
pub use sessions::Session;
pub use trail::OfflineBackupError;

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditEvent, AuditLog};

use crate::auth::TokenRegistry;
use crate::broker::Broker;
use crate::config::Settings;
use crate::connections::ConnectionManager;
use crate::coord::Coordinator;
use crate::metrics::Metrics;
use crate::vault::Vault;
use crate::zoho::{CallObserver, ZohoClient, ZohoClientConfig};

/// Name of the admin token made by `init`.
pub const FIRST_ADMIN_NAME: &str = "initial admin";

/// `GET /v1/sys/health`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = VaultHealth)]
pub struct Health {
    /// A vault header exists.
    pub initialized: bool,
    /// The keys are not in memory.
    pub sealed: bool,
    /// The crate version.
    pub version: &'static str,
    /// Where the records are kept: `sled` or `postgres`.
    pub backend: &'static str,
    /// This replica's name (`cluster.node_name`, default host name and pid).
    pub node: String,
    /// Present only while the last write to the data directory failed:
    /// `disk_full` (no space left, or over quota). Cleared by the next
    /// successful write.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "disk_full")]
    pub storage: Option<&'static str>,
}

/// Everything the service does, independent of HTTP.
pub struct VaultService {
    settings: Settings,
    vault: Vault,
    tokens: TokenRegistry,
    broker: Broker,
    connections: ConnectionManager,
    coord: Arc<dyn Coordinator>,
    audit: AuditLog,
    /// The audit trail as backups read it (blocking reads).
    audit_files: Option<Arc<dyn crate::backup::AuditSource>>,
    /// This replica's name.
    node: String,
    metrics: Arc<Metrics>,
    /// Per-address counting of anonymous denials (see docs/audit.md).
    denials: crate::audit::DenialThrottle,
    /// Whether the store's last write found the disk full.
    store_disk: Option<Arc<crate::store::disk::DiskState>>,
    /// Whether the audit log's last write found the disk full (kept apart:
    /// the store may still have room in a file it allocated earlier).
    audit_disk: Arc<crate::store::disk::DiskState>,
    /// The proxy's HTTP client and concurrency cap.
    proxy: proxy::ProxyParts,
    /// Webhook endpoint administration.
    webhooks: crate::webhooks::Webhooks,
    /// This replica's webhook delivery worker.
    webhook_worker: Arc<crate::webhooks::worker::Worker>,
    /// Admin console sessions (in memory, or in the database for a cluster).
    sessions: sessions::Sessions,
}

impl VaultService {
    /// Opens the configured store, the coordination between replicas and
    /// the audit trail (sealed). The one place `serve`, the offline
    /// commands and backups open them.
    pub async fn open(settings: Settings) -> Result<Arc<Self>, OpenError> {
        let opened = backend::open(&settings).await?;
        Ok(Arc::new(Self::with_backend(settings, opened)?))
    }

    /// Builds the service over an opened backend.
    fn with_backend(settings: Settings, opened: backend::Opened) -> Result<Self, OpenError> {
        let backend::Opened {
            store,
            coord,
            trail,
            audit_files,
            node,
        } = opened;
        let z = &settings.zoho;
        let zoho = ZohoClient::new(ZohoClientConfig {
            timeout: std::time::Duration::from_secs(z.timeout_secs),
            connect_timeout: std::time::Duration::from_secs(z.connect_timeout_secs),
            max_attempts: z.max_attempts,
            expiry_margin: std::time::Duration::from_secs(z.expiry_margin_secs),
            ..ZohoClientConfig::default()
        })?;
        let metrics = Arc::new(Metrics::new().map_err(|e| OpenError::Metrics(e.to_string()))?);
        let upstream = metrics.upstream_seconds.clone();
        let zoho = zoho.with_observer(CallObserver(Arc::new(move |op, took| {
            upstream
                .with_label_values(&[op])
                .observe(took.as_secs_f64());
        })));
        let disk_full = metrics.storage_errors.with_label_values(&["disk_full"]);
        let store_disk = store.disk();
        if let Some(d) = &store_disk {
            d.count_in(disk_full.clone());
        }
        let audit_disk = Arc::new(crate::store::disk::DiskState::default());
        audit_disk.count_in(disk_full);
        let vault = Vault::new(store.clone(), settings.unseal.clone());
        let broker = Broker::new(
            store.clone(),
            zoho.clone(),
            settings.broker.clone(),
            Arc::clone(&metrics),
            Arc::clone(&coord),
        );
        let connections =
            ConnectionManager::new(&settings, store.clone(), zoho, Arc::clone(&coord));
        let audit = AuditLog::new(
            trail,
            Duration::from_millis(settings.audit.write_timeout_ms),
        );
        audit.observe_flushes(metrics.audit_flush_seconds.clone());
        let a = &settings.audit;
        let denials = crate::audit::DenialThrottle::new(
            a.denials_written_per_window,
            Duration::from_secs(a.denial_window_secs),
            a.denial_sources_max,
        );
        audit.watch_disk(Arc::clone(&audit_disk));
        audit.on_recovery(webhooks::audit_recovery_hook(store.clone()));
        let proxy = proxy::ProxyParts::new(&settings)?;
        let webhooks = crate::webhooks::Webhooks::new(store.clone(), &settings.webhooks);
        let webhook_worker = Arc::new(
            crate::webhooks::worker::Worker::new(
                store.clone(),
                settings.webhooks.clone(),
                Arc::clone(&metrics),
                node.clone(),
                crate::clock::now,
            )
            .map_err(|e| OpenError::Webhooks(e.to_string()))?,
        );
        Ok(Self {
            sessions: sessions::Sessions::new(&settings, store.clone()),
            proxy,
            webhooks,
            webhook_worker,
            denials,
            store_disk,
            audit_disk,
            metrics,
            audit,
            audit_files,
            node,
            tokens: TokenRegistry::new(store, Arc::clone(&coord)),
            vault,
            broker,
            connections,
            coord,
            settings,
        })
    }

    /// Whether the last write to the store or to the audit log failed for
    /// lack of space.
    fn disk_full(&self) -> bool {
        self.audit_disk.is_full() || self.store_disk.as_ref().is_some_and(|d| d.is_full())
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Records an admin action that already happened. Its effect cannot be
    /// undone (a code spent at Zoho, a token revoked), so a failure to record
    /// it is logged loudly instead of being reported as a failed action.
    async fn record_done(&self, event: AuditEvent) {
        if let Err(e) = self.audit.append(event).await {
            tracing::error!(error = %e, "an admin action succeeded but its audit event could not be written");
        }
    }
}
