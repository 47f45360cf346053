//! The audit trail on PostgreSQL: replicas append to one chain.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use zoho_vault::audit::pg::PgAuditStore;
use zoho_vault::audit::query::{export_page, Query};
use zoho_vault::audit::{AuditEvent, AuditLog, AuditRecord, AuditStore, ChainKey, RequestContext};
use zoho_vault::crypto::keys::DataKey;
use zoho_vault::store::postgres::PgStore;

use crate::pg;

/// The node name of the replicas these tests start.
const NODE: &str = "audit-test";

/// One replica's trail: its own pool on the shared database.
async fn replica(url: &str) -> AuditLog {
    let store = PgStore::connect(url, 4).await.expect("connect");
    AuditLog::new(
        Arc::new(PgAuditStore::new(store.pool().clone(), NODE)),
        Duration::from_secs(30),
    )
}

fn event(label: String) -> AuditEvent {
    AuditEvent::unseal(
        None,
        &RequestContext {
            request_id: Some(label),
            source: None,
            channel: None,
        },
    )
}

fn key() -> Arc<dyn ChainKey> {
    Arc::new(DataKey::make().derive_subkey("audit-chain"))
}

/// Every stored event, in seq order.
async fn all(store: &dyn AuditStore) -> Vec<AuditRecord> {
    store.scan(1, usize::MAX >> 1).await.expect("scan")
}

fn labels(records: &[AuditRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.request_id.clone().expect("label"))
        .collect()
}

fn assert_gapless(records: &[AuditRecord]) {
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "seq {} at position {i}", r.seq);
    }
}

#[tokio::test]
async fn two_replicas_appending_at_once_make_one_gapless_chain_that_verifies_on_either() {
    let Some(db) = pg::database().await else {
        return;
    };
    let (a, b) = (replica(&db.url).await, replica(&db.url).await);
    let key = key();
    a.activate(Arc::clone(&key)).await.expect("activate a");
    b.activate(Arc::clone(&key)).await.expect("activate b");
    const EACH: usize = 300;
    let appends = (0..EACH).flat_map(|i| {
        [
            a.append(event(format!("a-{i}"))),
            b.append(event(format!("b-{i}"))),
        ]
    });
    for done in futures_util::future::join_all(appends).await {
        done.expect("append");
    }

    let records = all(a.store().as_ref()).await;
    assert_eq!(records.len(), 2 * EACH);
    assert_gapless(&records);
    let stored: BTreeSet<String> = labels(&records).into_iter().collect();
    assert_eq!(stored.len(), 2 * EACH, "an event was stored twice or lost");
    for log in [&a, &b] {
        let report = log.verify(Arc::clone(&key)).await.expect("verify");
        assert!(report.ok, "{report:?}");
        assert_eq!(report.count, 2 * EACH as u64);
    }
    let (exported, _) = export_page(b.store().as_ref(), None, None, 10_000)
        .await
        .expect("export");
    assert_eq!(exported, records, "an export on b covers a's events too");
}

#[tokio::test]
async fn events_recorded_while_sealed_are_chained_once_when_two_replicas_unseal_together() {
    let Some(db) = pg::database().await else {
        return;
    };
    let (a, b) = (replica(&db.url).await, replica(&db.url).await);
    for i in 0..20 {
        a.append(event(format!("sealed-{i}")))
            .await
            .expect("pending");
    }
    let key = key();
    let (ra, rb) = tokio::join!(a.activate(Arc::clone(&key)), b.activate(Arc::clone(&key)));
    ra.expect("activate a");
    rb.expect("activate b");
    // Both writers have drained; later events follow on either.
    a.append(event("after-a".into())).await.expect("append a");
    b.append(event("after-b".into())).await.expect("append b");

    let records = all(b.store().as_ref()).await;
    assert_gapless(&records);
    let sealed: Vec<String> = labels(&records)
        .into_iter()
        .filter(|l| l.starts_with("sealed-"))
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("sealed-{i}")).collect();
    assert_eq!(sealed, expected, "each sealed event once, in order");
    assert!(b.store().pending().await.expect("pending").is_empty());
    let report = b.verify(key).await.expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.count, 22);
}

#[tokio::test]
async fn a_replica_that_missed_anothers_commits_appends_after_them_and_the_other_after_it() {
    let Some(db) = pg::database().await else {
        return;
    };
    let (a, b) = (replica(&db.url).await, replica(&db.url).await);
    let key = key();
    a.activate(Arc::clone(&key)).await.expect("activate a");
    b.activate(Arc::clone(&key)).await.expect("activate b");
    // b's writer last saw the empty trail; a's last saw its own event 3.
    for i in 0..3 {
        a.append(event(format!("a-{i}"))).await.expect("append a");
    }
    b.append(event("b-0".into())).await.expect("append b");
    a.append(event("a-3".into())).await.expect("append a again");

    let records = all(a.store().as_ref()).await;
    assert_eq!(labels(&records), ["a-0", "a-1", "a-2", "b-0", "a-3"]);
    assert_gapless(&records);
    for log in [&a, &b] {
        let report = log.verify(Arc::clone(&key)).await.expect("verify");
        assert!(report.ok, "{report:?}");
        assert_eq!(report.count, 5);
    }
}

#[tokio::test]
async fn quotes_backslashes_and_unicode_in_event_fields_are_stored_and_found_exactly() {
    let Some(db) = pg::database().await else {
        return;
    };
    let a = replica(&db.url).await;
    let key = key();
    a.activate(Arc::clone(&key)).await.expect("activate");
    let mut odd = event("odd".into());
    odd.actor = r"o'brien\'); DROP TABLE zv_audit_events; --".into();
    odd.connection = Some("crm-ü $$ '' \\x00 \"".into());
    a.append(odd.clone()).await.expect("append");

    let stored = all(a.store().as_ref()).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].actor, odd.actor);
    assert_eq!(stored[0].connection, odd.connection);
    for query in [
        Query {
            actor: Some(odd.actor.clone()),
            ..Query::default()
        },
        Query {
            connection: odd.connection.clone(),
            ..Query::default()
        },
    ] {
        let page = a.store().query(&query).await.expect("query");
        assert_eq!(labels(&page.events), ["odd"], "{query:?}");
    }
    let report = a.verify(key).await.expect("verify");
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn a_batch_that_fails_while_holding_the_head_lock_releases_it_for_every_replica() {
    let Some(db) = pg::database().await else {
        return;
    };
    let (a, b) = (replica(&db.url).await, replica(&db.url).await);
    let key = key();
    a.activate(Arc::clone(&key)).await.expect("activate a");
    b.activate(Arc::clone(&key)).await.expect("activate b");
    // PostgreSQL text cannot hold NUL: this batch fails after the head is
    // locked, before anything is written.
    let mut bad = event("bad".into());
    bad.actor = "nul\0actor".into();
    assert!(a.append(bad).await.is_err(), "a NUL in a text column");

    // Were the failed batch's transaction left open (and its lock held),
    // these would wait for it until the write timeout.
    b.append(event("b-0".into())).await.expect("append b");
    a.append(event("a-0".into())).await.expect("append a again");
    let records = all(b.store().as_ref()).await;
    assert_eq!(labels(&records), ["b-0", "a-0"]);
    assert_gapless(&records);
    let report = b.verify(key).await.expect("verify");
    assert!(report.ok, "{report:?}");
}

/// Polls `check` until it holds; panics after 30 s.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_arrive_while_another_replica_holds_the_head_join_the_waiting_batch() {
    let Some(db) = pg::database().await else {
        return;
    };
    let log = Arc::new(replica(&db.url).await);
    let key = key();
    log.activate(Arc::clone(&key)).await.expect("activate");
    log.append(event("before".into())).await.expect("append");
    let before = log.stats();

    // Another replica's commit in flight: the head row stays locked.
    let other = PgStore::connect(&db.url, 2).await.expect("connect");
    let mut holder = other.pool().begin().await.expect("begin");
    sqlx::query("SELECT seq FROM zv_audit_head WHERE id = 1 FOR UPDATE")
        .execute(&mut *holder)
        .await
        .expect("lock the head");

    let append = |label: &str| {
        let (log, label) = (Arc::clone(&log), label.to_string());
        tokio::spawn(async move { log.append(event(label)).await })
    };
    let mut waiting = vec![append("first")];
    // On a connection of its own, named for the replica's audit commits.
    until("the writer waits for the head lock", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND application_name = $1",
        )
        .bind(PgAuditStore::commit_application_name(NODE))
        .fetch_one(other.pool())
        .await
        .expect("pg_stat_activity")
            == 1
    })
    .await;
    waiting.extend((0..5).map(|i| append(&format!("later-{i}"))));
    until("the later events are queued", || async {
        log.queued() == 5
    })
    .await;
    holder.commit().await.expect("release the head");

    for w in waiting {
        w.await.expect("task").expect("append");
    }
    let after = log.stats();
    assert_eq!(after.events - before.events, 6);
    assert_eq!(
        after.batches - before.batches,
        1,
        "the events queued during the wait go in the batch that waited"
    );
    let records = all(log.store().as_ref()).await;
    assert_eq!(labels(&records)[..2], ["before", "first"]);
    assert_gapless(&records);
    assert!(log.verify(key).await.expect("verify").ok);
}
