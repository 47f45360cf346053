//! Opens what the configured backend needs: the store, the coordinator
//! between replicas, and the audit trail. The embedded store runs alone
//! (in-process coordination); PostgreSQL is shared by replicas, which
//! coordinate through it.

use std::sync::Arc;

use crate::audit::log::SegmentLog;
use crate::audit::AuditStore;
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
    /// The embedded audit log's files, which backups copy.
    pub audit_files: Option<Arc<SegmentLog>>,
    /// This process's node name (`cluster.node_name`).
    pub node: String,
}

/// Opens the configured backend (sealed).
pub async fn open(settings: &Settings) -> Result<Opened, OpenError> {
    let node = settings.cluster.node();
    let (store, coord): (AsyncStore, Arc<dyn Coordinator>) = match settings.store.backend {
        StoreBackend::Sled => {
            let store = crate::store::open(settings)
                .await
                .map_err(VaultError::Store)?;
            (store, Arc::new(LocalCoordinator::new()))
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
            (AsyncStore::new(Arc::new(pg)), Arc::new(coord))
        }
    };
    let embedded = crate::audit::open_embedded(&settings.data_dir, store.clone())?;
    let audit_files = Some(Arc::clone(embedded.log()));
    Ok(Opened {
        store,
        coord,
        trail: Arc::new(embedded),
        audit_files,
        node,
    })
}
