//! Two replicas' coordinators (separate pools, one database) agree on
//! leases and pass invalidations.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zoho_vault::coord::postgres::{PgCoordSettings, PgCoordinator};
use zoho_vault::coord::{Coordinator, Invalidation, LeaseKind};
use zoho_vault::store::postgres::PgStore;

use crate::pg::{self, TestDb};

/// A guard against a hang, never the outcome: everything here happens in
/// milliseconds unless something is broken.
const HANG: Duration = Duration::from_secs(60);

struct Replica {
    coord: Arc<PgCoordinator>,
    store: PgStore,
}

async fn replica(db: &TestDb, node: &str, lease: Duration) -> Replica {
    let store = PgStore::connect(&db.url, 8).await.expect("open store");
    let coord = PgCoordinator::start(
        store.pool().clone(),
        PgCoordSettings {
            node: node.into(),
            lease,
        },
    )
    .await
    .expect("start coordinator");
    Replica {
        coord: Arc::new(coord),
        store,
    }
}

async fn two_replicas(lease: Duration) -> Option<(TestDb, Replica, Replica)> {
    let db = pg::database().await?;
    let a = replica(&db, "a", lease).await;
    let b = replica(&db, "b", lease).await;
    Some((db, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_racers_on_two_replicas_one_holds_the_lease_at_a_time() {
    let Some((_db, a, b)) = two_replicas(Duration::from_secs(30)).await else {
        return;
    };
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut racers = Vec::new();
    for i in 0..24 {
        let coord = Arc::clone(if i % 2 == 0 { &a.coord } else { &b.coord });
        let (inside, most) = (Arc::clone(&inside), Arc::clone(&most));
        racers.push(tokio::spawn(async move {
            let lease = coord.acquire_refresh("acme").await.expect("lease");
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            assert!(coord.is_current(&lease).await.expect("check"));
            tokio::task::yield_now().await;
            inside.fetch_sub(1, Ordering::SeqCst);
            lease.generation()
        }));
    }
    let mut generations = Vec::new();
    for r in racers {
        generations.push(
            tokio::time::timeout(HANG, r)
                .await
                .expect("no hang")
                .expect("racer"),
        );
    }
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two holders at once");
    generations.sort_unstable();
    generations.dedup();
    assert_eq!(
        generations.len(),
        24,
        "every grant has a generation of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exclusive_writer_on_another_replica_fences_off_the_holder() {
    let Some((_db, a, b)) = two_replicas(Duration::from_secs(30)).await else {
        return;
    };
    let refresh = a.coord.acquire_refresh("acme").await.expect("refresh");
    assert!(a.coord.is_current(&refresh).await.expect("current"));
    let writer = {
        let coord = Arc::clone(&b.coord);
        tokio::spawn(async move { coord.acquire_exclusive("acme").await })
    };
    // The writer bumps the generation before it waits for the holder.
    tokio::time::timeout(HANG, async {
        while a.coord.is_current(&refresh).await.expect("check") {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("fenced off");
    assert!(!writer.is_finished(), "the writer waits for the holder");
    let stale = refresh.generation();
    drop(refresh);
    let exclusive = tokio::time::timeout(HANG, writer)
        .await
        .expect("no hang")
        .expect("join")
        .expect("exclusive");
    assert_eq!(exclusive.kind(), LeaseKind::Exclusive);
    assert!(exclusive.generation() > stale);
    assert!(b.coord.is_current(&exclusive).await.expect("current"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lease_of_a_replica_that_died_is_taken_over_when_it_expires() {
    let Some((_db, a, b)) = two_replicas(Duration::from_millis(400)).await else {
        return;
    };
    let held = a.coord.acquire_refresh("acme").await.expect("lease");
    // The replica dies: its connections go away, so it neither renews nor
    // releases.
    a.store.pool().close().await;
    let taken = tokio::time::timeout(HANG, b.coord.acquire_refresh("acme"))
        .await
        .expect("no hang")
        .expect("takeover");
    assert!(taken.generation() > held.generation());
    assert!(b.coord.is_current(&taken).await.expect("current"));
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiter_on_another_replica_gets_the_lease_once_it_is_released() {
    let Some((_db, a, b)) = two_replicas(Duration::from_secs(30)).await else {
        return;
    };
    let held = a.coord.acquire_refresh("acme").await.expect("lease");
    let waiter = {
        let coord = Arc::clone(&b.coord);
        tokio::spawn(async move { coord.acquire_refresh("acme").await })
    };
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    drop(held);
    let got = tokio::time::timeout(HANG, waiter)
        .await
        .expect("woken long before the 30 s lease expires")
        .expect("join")
        .expect("lease");
    assert!(b.coord.is_current(&got).await.expect("current"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalidation_published_on_one_replica_arrives_on_the_other() {
    let Some((_db, a, b)) = two_replicas(Duration::from_secs(30)).await else {
        return;
    };
    let mut on_b = b.coord.subscribe();
    let mut on_a = a.coord.subscribe();
    a.coord.publish(Invalidation::BearerRevoked([7; 32]));
    a.coord
        .publish(Invalidation::ConnectionChanged("acme".into()));
    for expected in [
        Invalidation::BearerRevoked([7; 32]),
        Invalidation::ConnectionChanged("acme".into()),
    ] {
        let got = tokio::time::timeout(HANG, on_b.recv())
            .await
            .expect("arrives")
            .expect("recv");
        assert_eq!(got, expected);
        // The publisher's own caches hear it once, not twice.
        assert_eq!(on_a.recv().await.expect("local"), expected);
    }
    assert!(on_a.try_recv().is_err(), "no echo from PostgreSQL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_its_listener_is_cut_off_a_replica_resyncs_everything() {
    let Some((db, _a, b)) = two_replicas(Duration::from_secs(30)).await else {
        return;
    };
    let mut on_b = b.coord.subscribe();
    let admin = PgStore::connect(&db.url, 1).await.expect("admin");
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
          WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(PgCoordinator::listener_application_name("b"))
    .fetch_all(admin.pool())
    .await
    .expect("terminate");
    assert_eq!(cut, vec![true], "b's listener was found and cut off");
    let got = tokio::time::timeout(HANG, on_b.recv())
        .await
        .expect("resync")
        .expect("recv");
    assert_eq!(got, Invalidation::All);
}

#[tokio::test]
async fn a_background_job_is_claimed_by_exactly_one_of_three_replicas_per_period() {
    let Some((db, a, b)) = two_replicas(Duration::from_secs(30)).await else {
        return;
    };
    let c = replica(&db, "c", Duration::from_secs(30)).await;
    let period = Duration::from_secs(600);
    let coords = [&a.coord, &b.coord, &c.coord];
    for round in 0..3 {
        let claims = coords
            .iter()
            .map(|coord| coord.claim("#keep-alive", period));
        let won = futures_util::future::join_all(claims)
            .await
            .into_iter()
            .map(|r| r.expect("claim"))
            .filter(|won| *won)
            .count();
        assert_eq!(won, usize::from(round == 0), "round {round}");
    }
    // Another job is claimed independently.
    assert!(b
        .coord
        .claim("#refresh-ahead:acme", period)
        .await
        .expect("claim"));
}

#[tokio::test]
async fn a_claimed_job_is_claimed_again_once_its_period_has_passed() {
    let Some((_db, a, b)) = two_replicas(Duration::from_secs(30)).await else {
        return;
    };
    assert!(a
        .coord
        .claim("#keep-alive", Duration::from_millis(1))
        .await
        .expect("claim"));
    let deadline = std::time::Instant::now() + HANG;
    while !b
        .coord
        .claim("#keep-alive", Duration::from_secs(600))
        .await
        .expect("claim")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the claim never expired"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!a
        .coord
        .claim("#keep-alive", Duration::from_secs(600))
        .await
        .expect("claim"));
}
