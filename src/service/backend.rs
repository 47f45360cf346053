//! Opens what the configured backend needs: the store, the coordinator
//! between replicas, and the audit trail. The embedded store runs alone
//! (in-process coordination, the audit trail in its segment log); PostgreSQL
//! is shared by replicas, which coordinate through it and keep one audit
//! chain in it.

use std::sync::Arc;

use crate::audit::pg::PgAuditStore;
use crate::audit::AuditStore;
use crate::backup::{AuditSource, TrailReader};
use crate::config::{Settings, StoreBackend};
use crate::coord::postgres::{PgCoordSettings, PgCoordinator};
use crate::coord::{Coordinator, LocalCoordinator};
use crate::store::AsyncStore;
use crate::vault::VaultError;

use super::OpenError;

/// The opened backend.
pub struct Opened {
    /// The records.
    pub store: AsyncStore,
    /// Leases and cache invalidation between replicas.
    pub coord: Arc<dyn Coordinator>,
    /// Where the audit trail is kept.
    pub trail: Arc<dyn AuditStore>,
    /// The audit trail as backups read it: the embedded log's files, or
    /// the PostgreSQL trail through the audit store.
    pub audit_files: Option<Arc<dyn AuditSource>>,
    /// This process's node name (`cluster.node_name`).
    pub node: String,
}

/// Opens the configured backend (sealed).
pub async fn open(settings: &Settings) -> Result<Opened, OpenError> {
    let node = settings.cluster.node();
    match settings.store.backend {
        StoreBackend::Sled => {
            let store = crate::store::open(settings)
                .await
                .map_err(VaultError::Store)?;
            let embedded = crate::audit::open_embedded(&settings.data_dir, store.clone())?;
            let audit_files: Option<Arc<dyn AuditSource>> = Some(embedded.log().clone());
            Ok(Opened {
                store,
                coord: Arc::new(LocalCoordinator::new()),
                trail: Arc::new(embedded),
                audit_files,
                node,
            })
        }
        StoreBackend::Postgres => {
            let pg = crate::store::open_postgres(settings)
                .await
                .map_err(VaultError::Store)?;
            let coord = PgCoordinator::start(
                pg.pool().clone(),
                PgCoordSettings {
                    node: node.clone(),
                    lease: settings.cluster.lease(),
                },
            )
            .await?;
            let trail: Arc<dyn AuditStore> = Arc::new(PgAuditStore::new(pg.pool().clone(), &node));
            Ok(Opened {
                audit_files: Some(Arc::new(TrailReader::new(Arc::clone(&trail)))),
                trail,
                store: AsyncStore::new(Arc::new(pg)),
                coord: Arc::new(coord),
                node,
            })
        }
    }
}
