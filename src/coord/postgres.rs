//! The [`Coordinator`] for replicas sharing one PostgreSQL database.
//!
//! Leases live in `zv_leases` (one row per connection name: `generation`,
//! `owner`, `lease_until`), written only by short single statements: no
//! transaction or pooled connection stays open while the holder calls Zoho.
//!
//! - Taking a lease is one `INSERT … ON CONFLICT DO UPDATE … WHERE the lease
//!   is free or expired RETURNING generation`; every grant bumps the
//!   generation, so each grant has its own fencing number. The database's
//!   clock decides expiry, so replicas' clocks need not agree.
//! - A holder renews its lease every third of its lifetime while it holds
//!   it; a replica that dies stops renewing and its lease is taken over once
//!   `lease_until` passes.
//! - An exclusive writer first bumps the generation (fencing off the holder
//!   in flight), then waits for the lease like anyone else.
//! - [`Coordinator::is_current`] re-reads the row: same generation, still
//!   owned, not expired. The caller's final write is itself a
//!   compare-and-set on the stored record.
//! - Release clears the owner and sends `NOTIFY` in the same statement;
//!   waiters wake on it, and poll as well because notifications are lost
//!   while a listener reconnects.
//! - A background job is claimed for a period with the same kind of row,
//!   which nobody releases: it runs on the replica whose claim succeeded,
//!   once per period ([`Coordinator::claim`]).
//! - Invalidations travel as `NOTIFY zv_invalidate`. After the listener
//!   reconnects, subscribers get [`Invalidation::All`]: whatever was sent
//!   meanwhile is lost, so every cache starts over.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{broadcast, mpsc, Notify};

use super::{CoordError, Coordinator, Invalidation, LeaseKind, LocalCoordinator, RefreshLease};

/// Channel of lease releases (payload: the connection name).
const RELEASED: &str = "zv_lease_released";
/// Channel of cache invalidations (payload: see [`encode`]).
const INVALIDATE: &str = "zv_invalidate";
const CHANNEL_CAPACITY: usize = 1024;
/// Attempts to send an invalidation to the other replicas.
const PUBLISH_ATTEMPTS: u32 = 5;

mod notify;
use notify::{decode, encode, send_out};

/// Settings of one replica's coordinator.
#[derive(Debug, Clone)]
pub struct PgCoordSettings {
    /// This replica's name (shown as the lease owner).
    pub node: String,
    /// How long a lease lasts without renewal (`cluster.lease_ms`).
    pub lease: Duration,
}

struct Shared {
    pool: PgPool,
    settings: PgCoordSettings,
    /// Distinguishes this process's own notifications from other replicas'.
    origin: String,
    /// In-process queueing: callers of one replica wait here, not on the
    /// database.
    local: LocalCoordinator,
    /// Woken by every release notification and every reconnect.
    released: Notify,
    invalidations: broadcast::Sender<Invalidation>,
    /// Payloads for the other replicas, sent in order by one task.
    outbox: mpsc::UnboundedSender<String>,
    runtime: tokio::runtime::Handle,
}

/// Coordination through PostgreSQL. Its listener stops when it is dropped.
pub struct PgCoordinator {
    shared: Arc<Shared>,
    listener: tokio::task::JoinHandle<()>,
    publisher: tokio::task::JoinHandle<()>,
}

impl Drop for PgCoordinator {
    fn drop(&mut self) {
        self.listener.abort();
        self.publisher.abort();
    }
}

fn unavailable(e: sqlx::Error) -> CoordError {
    CoordError::Unavailable(format!("PostgreSQL: {e}"))
}

impl PgCoordinator {
    /// Starts the coordinator over `pool` (whose schema the PostgreSQL
    /// store has migrated) and its listener, on a connection of its own.
    pub async fn start(pool: PgPool, settings: PgCoordSettings) -> Result<Self, CoordError> {
        let origin = format!(
            "{}/{}",
            settings.node,
            hex::encode(rand::random::<[u8; 8]>())
        );
        let options = pool
            .connect_options()
            .as_ref()
            .clone()
            .application_name(&listener_name(&settings.node));
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&listener_pool)
            .await
            .map_err(unavailable)?;
        listener
            .listen_all([RELEASED, INVALIDATE])
            .await
            .map_err(unavailable)?;
        let (invalidations, _) = broadcast::channel(CHANNEL_CAPACITY);
        let (outbox, outgoing) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pool,
            settings,
            origin,
            local: LocalCoordinator::new(),
            released: Notify::new(),
            invalidations,
            outbox,
            runtime: tokio::runtime::Handle::current(),
        });
        let listener = tokio::spawn(listen(Arc::clone(&shared), listener));
        let publisher = tokio::spawn(send_out(shared.pool.clone(), outgoing));
        Ok(Self {
            shared,
            listener,
            publisher,
        })
    }

    /// The `application_name` of a replica's listening connection, for
    /// operators looking at `pg_stat_activity`.
    pub fn listener_application_name(node: &str) -> String {
        listener_name(node)
    }

    /// Waits until this caller holds the database lease of `name`.
    async fn take(&self, name: &str, kind: LeaseKind) -> Result<RefreshLease, CoordError> {
        let s = &self.shared;
        // One waiter per replica and name on the database; the others queue
        // in process, in order.
        let local = s.local.acquire_refresh(name).await?;
        let owner = format!(
            "{}/{}",
            s.settings.node,
            hex::encode(rand::random::<[u8; 8]>())
        );
        let poll =
            (s.settings.lease / 10).clamp(Duration::from_millis(20), Duration::from_millis(500));
        loop {
            // Registered before the attempt, so a release between the
            // attempt and the wait is not missed.
            let woken = s.released.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(generation) = try_take(s, name, &owner).await? {
                let hold = Hold::new(Arc::clone(s), name, &owner, generation, local);
                return Ok(RefreshLease::new(name, generation, kind, Box::new(hold)));
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

fn listener_name(node: &str) -> String {
    format!("zoho-vault listener {node}")
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The lease SQL: take it if free or expired, bumping the generation.
async fn try_take(s: &Shared, name: &str, owner: &str) -> Result<Option<u64>, CoordError> {
    let generation: Option<i64> = sqlx::query_scalar(
        "INSERT INTO zv_leases AS l (name, generation, owner, lease_until) \
         VALUES ($1, 1, $2, now() + $3 * interval '1 millisecond') \
         ON CONFLICT (name) DO UPDATE \
            SET generation = l.generation + 1, owner = EXCLUDED.owner, \
                lease_until = EXCLUDED.lease_until \
          WHERE l.owner IS NULL OR l.lease_until < now() \
         RETURNING l.generation",
    )
    .bind(name)
    .bind(owner)
    .bind(millis(s.settings.lease))
    .fetch_optional(&s.pool)
    .await
    .map_err(unavailable)?;
    Ok(generation.map(|g| g as u64))
}

/// What a granted lease holds: the in-process lock, the renewal task, and
/// the release on drop.
struct Hold {
    shared: Arc<Shared>,
    name: String,
    owner: String,
    renewal: tokio::task::JoinHandle<()>,
    _local: RefreshLease,
}

impl Hold {
    fn new(
        shared: Arc<Shared>,
        name: &str,
        owner: &str,
        generation: u64,
        local: RefreshLease,
    ) -> Self {
        let renewal = shared.runtime.spawn(renew(
            Arc::clone(&shared),
            name.to_string(),
            owner.to_string(),
            generation,
        ));
        Self {
            shared,
            name: name.to_string(),
            owner: owner.to_string(),
            renewal,
            _local: local,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.renewal.abort();
        let (shared, name, owner) = (
            Arc::clone(&self.shared),
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.owner),
        );
        // Best effort: if it fails the lease expires on its own.
        self.shared.runtime.spawn(async move {
            let released = sqlx::query(
                "WITH released AS ( \
                   UPDATE zv_leases SET owner = NULL, lease_until = '-infinity' \
                    WHERE name = $1 AND owner = $2 RETURNING name) \
                 SELECT pg_notify($3, name) FROM released",
            )
            .bind(&name)
            .bind(&owner)
            .bind(RELEASED)
            .execute(&shared.pool)
            .await;
            if let Err(e) = released {
                tracing::warn!(connection = %name, error = %e, "releasing a refresh lease failed; it will expire");
            }
            // Waiters of this replica need no round trip.
            shared.released.notify_waiters();
        });
    }
}

/// Extends the lease every third of its lifetime until it is dropped or
/// found lost.
async fn renew(shared: Arc<Shared>, name: String, owner: String, generation: u64) {
    let every = shared.settings.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let renewed = sqlx::query(
            "UPDATE zv_leases SET lease_until = now() + $4 * interval '1 millisecond' \
              WHERE name = $1 AND owner = $2 AND generation = $3 AND lease_until > now()",
        )
        .bind(&name)
        .bind(&owner)
        .bind(generation as i64)
        .bind(millis(shared.settings.lease))
        .execute(&shared.pool)
        .await;
        match renewed {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => {
                tracing::warn!(connection = %name, "refresh lease lost (expired or superseded)");
                return;
            }
            // Try again: the lease may still be valid when the database
            // comes back.
            Err(e) => {
                tracing::warn!(connection = %name, error = %e, "renewing a refresh lease failed")
            }
        }
    }
}

/// Feeds notifications to waiters and subscribers; resyncs after every
/// reconnect.
async fn listen(shared: Arc<Shared>, mut listener: PgListener) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) if n.channel() == RELEASED => shared.released.notify_waiters(),
            Ok(Some(n)) => {
                if let Some((origin, inv)) = decode(n.payload()) {
                    if origin != shared.origin {
                        let _ = shared.invalidations.send(inv);
                    }
                }
            }
            Ok(None) => {
                // Reconnected and listening again; what was sent while
                // disconnected is lost.
                tracing::warn!("coordination listener reconnected; dropping every cache");
                let _ = shared.invalidations.send(Invalidation::All);
                shared.released.notify_waiters();
            }
            Err(e) => {
                tracing::warn!(error = %e, "coordination listener failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[async_trait::async_trait]
impl Coordinator for PgCoordinator {
    async fn acquire_refresh(&self, name: &str) -> Result<RefreshLease, CoordError> {
        self.take(name, LeaseKind::Refresh).await
    }

    async fn acquire_exclusive(&self, name: &str) -> Result<RefreshLease, CoordError> {
        // Fence off the holder in flight before waiting for it.
        sqlx::query(
            "INSERT INTO zv_leases AS l (name, generation) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET generation = l.generation + 1",
        )
        .bind(name)
        .execute(&self.shared.pool)
        .await
        .map_err(unavailable)?;
        self.take(name, LeaseKind::Exclusive).await
    }

    async fn is_current(&self, lease: &RefreshLease) -> Result<bool, CoordError> {
        // Every grant has a generation of its own, so the generation names
        // the grant; a released lease has no owner.
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM zv_leases WHERE name = $1 AND generation = $2 \
               AND owner IS NOT NULL AND lease_until > now())",
        )
        .bind(lease.name())
        .bind(lease.generation() as i64)
        .fetch_one(&self.shared.pool)
        .await
        .map_err(unavailable)
    }

    async fn claim(&self, job: &str, period: Duration) -> Result<bool, CoordError> {
        // A row in the lease table that nobody releases: it expires.
        let claimed: Option<i64> = sqlx::query_scalar(
            "INSERT INTO zv_leases AS l (name, generation, owner, lease_until) \
             VALUES ($1, 1, $2, now() + $3 * interval '1 millisecond') \
             ON CONFLICT (name) DO UPDATE \
                SET generation = l.generation + 1, owner = EXCLUDED.owner, \
                    lease_until = EXCLUDED.lease_until \
              WHERE l.lease_until < now() \
             RETURNING l.generation",
        )
        .bind(job)
        .bind(&self.shared.origin)
        .bind(millis(period))
        .fetch_optional(&self.shared.pool)
        .await
        .map_err(unavailable)?;
        Ok(claimed.is_some())
    }

    fn publish(&self, invalidation: Invalidation) {
        let payload = encode(&self.shared.origin, &invalidation);
        // This replica at once; the others through PostgreSQL.
        let _ = self.shared.invalidations.send(invalidation);
        let _ = self.shared.outbox.send(payload);
    }

    fn subscribe(&self) -> broadcast::Receiver<Invalidation> {
        self.shared.invalidations.subscribe()
    }
}

#[cfg(test)]
mod tests;
