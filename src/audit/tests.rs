//! Unit tests of the audit trail over the real segment log (and a real
//! `SledStore` for pending events) in a temp dir.

use std::sync::Arc;
use std::time::Duration;

use super::chain::verify_lines;
use super::log::canonical::CanonicalPage;
use super::log::SegmentLog;
use super::*;
use crate::auth::Principal;
use crate::crypto::keys::{DataKey, SubKey};
use crate::crypto::token::TokenKind;
use crate::store::sled::SledStore;
use crate::store::{AsyncStore, Scan, Tree};

fn admin() -> Principal {
    Principal {
        token_id: "adm1".into(),
        name: "ops".into(),
        kind: TokenKind::Admin,
        connections: vec![],
        access: Default::default(),
        proxy_paths: Vec::new(),
    }
}

fn service(id: &str) -> Principal {
    Principal {
        token_id: id.into(),
        name: format!("svc {id}"),
        kind: TokenKind::Service,
        connections: vec!["*".into()],
        access: Default::default(),
        proxy_paths: Vec::new(),
    }
}

fn key() -> Arc<SubKey> {
    Arc::new(DataKey::make().derive_subkey("audit-chain"))
}

fn ctx() -> RequestContext {
    RequestContext {
        request_id: Some("req-1".into()),
        source: Some("127.0.0.1".into()),
        channel: None,
    }
}

fn issued(conn: &str, who: &Principal, fp: &str) -> AuditEvent {
    AuditEvent::token_issued(
        who,
        conn,
        TokenSource::Cached,
        time::OffsetDateTime::now_utc(),
        fp,
        &ctx(),
    )
}

/// An audit store wrapper whose durable writes can be held until the test
/// releases them.
struct Probe {
    inner: EmbeddedAuditStore,
    /// `false` while writes are held.
    released: tokio::sync::watch::Sender<bool>,
    /// Whether verify gets canonical pages (else it reads records).
    canonical: bool,
}

impl Probe {
    /// Every `append` from now on waits until [`Probe::release`].
    fn hold_writes(&self) {
        self.released.send_replace(false);
    }

    fn release(&self) {
        self.released.send_replace(true);
    }
}

#[async_trait::async_trait]
impl AuditStore for Probe {
    async fn upgrade(&self, key: Arc<dyn ChainKey>) -> Result<u64, AuditError> {
        self.inner.upgrade(key).await
    }
    async fn head(&self) -> Result<Checkpoint, AuditError> {
        self.inner.head().await
    }
    async fn append(&self, batch: Batch) -> Result<(), AuditError> {
        // Waits (without blocking a worker) while writes are held.
        let mut released = self.released.subscribe();
        if released.wait_for(|r| *r).await.is_err() {
            return Err(AuditError::Store("the probe was dropped".into()));
        }
        self.inner.append(batch).await
    }
    async fn scan(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        self.inner.scan(from, limit).await
    }
    async fn scan_canonical(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Option<CanonicalPage>, AuditError> {
        if !self.canonical {
            return Ok(None);
        }
        self.inner.scan_canonical(from, limit).await
    }
    fn raw_pages(&self, from: u64, page: usize) -> Option<log::sweep::RawPages> {
        self.canonical
            .then(|| self.inner.raw_pages(from, page))
            .flatten()
    }
    async fn query(&self, query: &Query) -> Result<Page, AuditError> {
        self.inner.query(query).await
    }
    async fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        self.inner.checkpoint().await
    }
    async fn prune(&self, checkpoint: SignedCheckpoint) -> Result<usize, AuditError> {
        self.inner.prune(checkpoint).await
    }
    async fn append_pending(&self, events: Vec<AuditEvent>) -> Result<(), AuditError> {
        self.inner.append_pending(events).await
    }
    async fn pending(&self) -> Result<Vec<(u64, AuditEvent)>, AuditError> {
        self.inner.pending().await
    }
    async fn bytes(&self) -> Option<u64> {
        self.inner.bytes().await
    }
}

/// Small segments, so a few events already span several files.
const SEGMENT: u64 = 4096;

struct Fixture {
    dir: tempfile::TempDir,
    probe: Arc<Probe>,
    store: AsyncStore,
    log: AuditLog,
    key: Arc<SubKey>,
}

fn open_trail(dir: &std::path::Path, store: &AsyncStore) -> EmbeddedAuditStore {
    let log = SegmentLog::open_with(&dir.join(log::LOG_DIR), SEGMENT).expect("open log");
    EmbeddedAuditStore::with_log(Arc::new(log), store.clone())
}

async fn fixture(timeout_ms: u64) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("open")));
    let probe = Arc::new(Probe {
        inner: open_trail(dir.path(), &store),
        released: tokio::sync::watch::channel(true).0,
        canonical: true,
    });
    let log = AuditLog::new(probe.clone(), Duration::from_millis(timeout_ms));
    let key = key();
    log.activate(key.clone()).await.expect("activate");
    Fixture {
        dir,
        probe,
        store,
        log,
        key,
    }
}

impl Fixture {
    async fn verify(&self) -> VerifyReport {
        self.log.verify(self.key.clone()).await.expect("verify")
    }

    async fn fill(&self, n: usize) {
        for i in 0..n {
            let e = AuditEvent::seal(&service(&format!("s{i}")), &ctx());
            self.log.append(e).await.expect("append");
        }
    }

    /// A fresh log over the same files (a restart).
    fn reopen(&self) -> AuditLog {
        let trail = open_trail(self.dir.path(), &self.store);
        AuditLog::new(Arc::new(trail), Duration::from_secs(5))
    }

    /// Every byte of every segment file, as stored.
    fn segment_bytes(&self) -> Vec<u8> {
        let dir = self.dir.path().join(log::LOG_DIR);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("log dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        files
            .iter()
            .flat_map(|p| std::fs::read(p).expect("read segment"))
            .collect()
    }

    /// Rewrites the segment files with `edit` applied to the stored events,
    /// each re-framed with a valid checksum: what someone with write access
    /// to the data directory but without the audit key can do.
    fn tamper(&self, edit: impl FnOnce(&mut Vec<AuditRecord>)) {
        log::tests::tamper(&self.dir.path().join(log::LOG_DIR), edit);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_flushes_and_form_one_chain() {
    let f = Arc::new(fixture(5000).await);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let f = Arc::clone(&f);
        tasks.push(tokio::spawn(async move {
            f.log
                .append(issued(
                    "acme",
                    &service(&format!("s{i}")),
                    "fp_0123456789abcdef0123456789abcdef",
                ))
                .await
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        match t.await.expect("join").expect("append") {
            Appended::Chained(s) => seqs.push(s),
            Appended::Pending => panic!("active log must chain"),
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
    let stats = f.log.stats();
    assert_eq!(stats.events, 64);
    assert!(stats.batches < 64, "no group commit: {stats:?}");
    let report = f.verify().await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.count, 64);
    assert_eq!(report.head_seq, 64);
}

#[tokio::test]
async fn events_while_sealed_are_pending_then_chained_first_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("open")));
    let log = AuditLog::new(
        Arc::new(open_trail(dir.path(), &store)),
        Duration::from_secs(5),
    );
    for reason in ["one", "two", "three"] {
        let at = log
            .append(AuditEvent::unseal(Some(reason), &ctx()))
            .await
            .expect("pending append");
        assert_eq!(at, Appended::Pending);
    }
    let key = key();
    log.activate(key.clone()).await.expect("activate");
    let at = log
        .append(AuditEvent::unseal(None, &ctx()))
        .await
        .expect("append");
    assert_eq!(at, Appended::Chained(4));
    let page = log
        .query(Query {
            order: Order::Asc,
            ..Query::default()
        })
        .await
        .expect("query");
    let reasons: Vec<_> = page
        .events
        .iter()
        .map(|e| e.details.get("reason").cloned())
        .collect();
    assert_eq!(
        reasons,
        vec![
            Some(Detail::Text("one".into())),
            Some(Detail::Text("two".into())),
            Some(Detail::Text("three".into())),
            None
        ]
    );
    assert_eq!(page.events[0].outcome, Outcome::Failure);
    let pending = store
        .scan(Scan::prefix(Tree::AuditPending, &[], 10))
        .await
        .expect("scan");
    assert!(pending.is_empty());
    // Seal again: pending once more, chained after the head at reactivation.
    log.deactivate().await;
    assert_eq!(
        log.append(AuditEvent::unseal(Some("four"), &ctx()))
            .await
            .expect("pending"),
        Appended::Pending
    );
    log.activate(key.clone()).await.expect("activate");
    let report = log.verify(key).await.expect("verify");
    assert!(report.ok && report.head_seq == 5, "{report:?}");
}

#[tokio::test]
async fn injected_failures_answer_unavailable_and_the_chain_continues() {
    let f = fixture(5000).await;
    f.fill(1).await;
    f.log.inject_write_failures(2);
    for _ in 0..2 {
        let err = f
            .log
            .append(AuditEvent::seal(&admin(), &ctx()))
            .await
            .expect_err("must fail");
        assert!(matches!(err, AuditError::Unavailable(_)), "{err}");
    }
    let at = f
        .log
        .append(AuditEvent::seal(&admin(), &ctx()))
        .await
        .expect("recovers");
    assert_eq!(at, Appended::Chained(2));
    let report = f.verify().await;
    assert!(report.ok && report.count == 2, "{report:?}");
}

#[tokio::test]
async fn a_stuck_writer_hits_the_deadline_instead_of_hanging() {
    let f = fixture(150).await;
    f.probe.hold_writes();
    // The store does not return until released, which happens only after
    // the append has answered: the append's own deadline must end it. The
    // outer timeout only turns a hang (no deadline) into a failure.
    let append = f.log.append(AuditEvent::seal(&admin(), &ctx()));
    let answer = tokio::time::timeout(Duration::from_secs(60), append).await;
    f.probe.release();
    let err = answer
        .expect("the append waited for the stuck store: no deadline")
        .expect_err("a stuck store cannot make an event durable");
    assert!(matches!(err, AuditError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn an_edited_record_is_named() {
    let f = fixture(5000).await;
    f.fill(5).await;
    assert!(f.verify().await.ok);
    f.tamper(|records| records[2].actor = "admin:someone-else".into());
    let report = f.verify().await;
    let broken = report.broken.expect("broken");
    assert_eq!((broken.seq, broken.problem), (Some(3), Problem::Edited));
    assert_eq!(report.count, 2);
}

#[tokio::test]
async fn a_trail_longer_than_a_page_still_names_its_first_break() {
    let f = fixture(5000).await;
    f.fill(1200).await;
    let report = f.verify().await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.count, 1200);
    f.tamper(|records| {
        records[1099].actor = "admin:someone-else".into();
        records[699].outcome = crate::audit::Outcome::Failure;
    });
    let report = f.verify().await;
    let broken = report.broken.expect("broken");
    assert_eq!((broken.seq, broken.problem), (Some(700), Problem::Edited));
    assert_eq!(report.count, 699);
}

#[tokio::test]
async fn a_dropped_record_is_named() {
    let f = fixture(5000).await;
    f.fill(5).await;
    f.tamper(|records| {
        records.remove(2);
    });
    let broken = f.verify().await.broken.expect("broken");
    assert_eq!((broken.seq, broken.problem), (Some(3), Problem::Missing));
}

#[tokio::test]
async fn swapped_records_are_named() {
    let f = fixture(5000).await;
    f.fill(5).await;
    f.tamper(|records| records.swap(1, 3));
    let broken = f.verify().await.broken.expect("broken");
    // The log has no per-event key: the report names the event found
    // where event 2 belongs.
    assert_eq!((broken.seq, broken.problem), (Some(4), Problem::Reordered));
}

#[tokio::test]
async fn a_record_forged_without_the_key_is_named() {
    let f = fixture(5000).await;
    f.fill(3).await;
    f.tamper(|records| {
        let event = AuditEvent::seal(&admin(), &ctx());
        let prev = records[1].prev.clone();
        records[1] = chain::chain_event(key().as_ref(), 2, event, prev);
    });
    let broken = f.verify().await.broken.expect("broken");
    assert_eq!((broken.seq, broken.problem), (Some(2), Problem::Edited));
}

async fn export_lines(f: &Fixture) -> Vec<String> {
    let (records, _) = f.log.export_page(None, None, 100).await.expect("export");
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect()
}

#[tokio::test]
async fn export_files_are_verified_line_by_line() {
    let f = fixture(5000).await;
    f.fill(5).await;
    let lines = export_lines(&f).await;
    let key = f.key.as_ref();
    let ok = verify_lines(&lines.join("\n"), key);
    assert!(ok.ok && ok.count == 5, "{ok:?}");

    let mut edited = lines.clone();
    edited[1] = edited[1].replace("svc s1", "svc zz");
    let b = verify_lines(&edited.join("\n"), key)
        .broken
        .expect("broken");
    assert_eq!(
        (b.seq, b.line, b.problem),
        (Some(2), Some(2), Problem::Edited)
    );

    let mut dropped = lines.clone();
    dropped.remove(2);
    let b = verify_lines(&dropped.join("\n"), key)
        .broken
        .expect("broken");
    assert_eq!(
        (b.seq, b.line, b.problem),
        (Some(3), Some(3), Problem::Missing)
    );

    let mut swapped = lines.clone();
    swapped.swap(1, 3);
    let b = verify_lines(&swapped.join("\n"), key)
        .broken
        .expect("broken");
    assert_eq!((b.line, b.problem), (Some(2), Problem::Reordered));

    let garbage = format!("{}\nnot json\n", lines[0]);
    let b = verify_lines(&garbage, key).broken.expect("broken");
    assert_eq!((b.line, b.problem), (Some(2), Problem::Unreadable));

    // A genuine record of another trail under the same key: valid hash,
    // wrong link.
    let event = AuditEvent::seal(&admin(), &ctx());
    let alien = chain::chain_event(key, 3, event, "ab".repeat(32));
    let mut spliced = lines[..2].to_vec();
    spliced.push(serde_json::to_string(&alien).expect("json"));
    let b = verify_lines(&spliced.join("\n"), key)
        .broken
        .expect("broken");
    assert_eq!((b.seq, b.problem), (Some(3), Problem::BadLink));
}

#[tokio::test]
async fn a_query_for_one_connection_reads_only_its_events() {
    let f = fixture(5000).await;
    let fp = "fp_ffffffffffffffffffffffffffffffff";
    for i in 0..120 {
        let conn = if i % 10 == 0 { "acme" } else { "other" };
        let print = if i == 55 {
            fp
        } else {
            "fp_0123456789abcdef0123456789abcdef"
        };
        f.log
            .append(issued(conn, &service("s1"), print))
            .await
            .expect("append");
    }
    let page = f
        .log
        .query(Query {
            connection: Some("acme".into()),
            limit: 1000,
            ..Query::default()
        })
        .await
        .expect("query");
    assert_eq!(page.events.len(), 12);
    assert!(page
        .events
        .iter()
        .all(|e| e.connection.as_deref() == Some("acme")));
    assert!(
        page.events.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first"
    );

    let page = f
        .log
        .query(Query {
            fingerprint: Some(fp.into()),
            ..Query::default()
        })
        .await
        .expect("query");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].seq, 56);
}

#[tokio::test]
async fn cursor_paging_walks_every_event_once_in_both_orders() {
    let f = fixture(5000).await;
    f.fill(25).await;
    for order in [Order::Asc, Order::Desc] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = f
                .log
                .query(Query {
                    action: Some(AuditAction::Seal),
                    limit: 10,
                    after,
                    order,
                    ..Query::default()
                })
                .await
                .expect("query");
            seen.extend(page.events.iter().map(|e| e.seq));
            match page.next {
                Some(n) => after = Some(n.parse().expect("cursor")),
                None => break,
            }
        }
        let mut expected: Vec<u64> = (1..=25).collect();
        if order == Order::Desc {
            expected.reverse();
        }
        assert_eq!(seen, expected);
    }
}

#[tokio::test]
async fn prune_keeps_the_rest_verifiable_and_survives_a_restart() {
    let f = fixture(5000).await;
    f.fill(10).await;
    let cp = f.log.prune(4).await.expect("prune");
    assert_eq!(cp.seq, 4);
    let report = f.verify().await;
    assert!(report.ok, "{report:?}");
    assert_eq!(
        (report.anchor.seq, report.count, report.head_seq),
        (4, 6, 10)
    );
    let hidden = f
        .log
        .query(Query {
            actor: Some("service:s0".into()),
            ..Query::default()
        })
        .await
        .expect("query");
    assert!(hidden.events.is_empty(), "pruned events are still answered");
    assert!(matches!(
        f.log.prune(3).await,
        Err(AuditError::InvalidPrune(_))
    ));
    assert!(matches!(
        f.log.prune(99).await,
        Err(AuditError::InvalidPrune(_))
    ));

    // A fresh log over the same store (a restart) continues the chain.
    let again = f.reopen();
    again.activate(f.key.clone()).await.expect("activate");
    assert_eq!(
        again
            .append(AuditEvent::seal(&admin(), &ctx()))
            .await
            .expect("append"),
        Appended::Chained(11)
    );
    // Prune everything: the checkpoint alone anchors the next event.
    again.prune(11).await.expect("prune all");
    let third = f.reopen();
    third.activate(f.key.clone()).await.expect("activate");
    third
        .append(AuditEvent::seal(&admin(), &ctx()))
        .await
        .expect("append");
    let report = third.verify(f.key.clone()).await.expect("verify");
    assert!(
        report.ok && report.count == 1 && report.head_seq == 12,
        "{report:?}"
    );
}

#[tokio::test]
async fn records_are_compact_and_carry_the_chain_and_fingerprint() {
    let f = fixture(5000).await;
    f.log
        .append(issued(
            "acme",
            &service("s1"),
            "fp_0123456789abcdef0123456789abcdef",
        ))
        .await
        .expect("append");
    let stored = f.probe.inner.log().bytes() - log::segment::HEADER_LEN;
    assert!(stored < 300, "{stored} bytes");
    let (records, _) = f.log.export_page(None, None, 1).await.expect("export");
    let text = serde_json::to_string(&records[0]).expect("json");
    for field in [
        "\"seq\":1",
        "\"prev\":\"0000",
        "\"hash\":",
        "\"fingerprint\":\"fp_",
    ] {
        assert!(text.contains(field), "{text}");
    }
}

#[tokio::test]
async fn a_token_passed_where_a_fingerprint_belongs_never_reaches_the_trail() {
    let f = fixture(5000).await;
    // A caller bug: the access token itself instead of its fingerprint.
    let access_token = "1000.3f9c0e7b2d4a6f81c5e9a7b3d1f0e2c4.8a6b4c2d0e1f3a5b7c9d1e3f5a7b9c0d";
    f.log
        .append(issued("acme", &service("s1"), access_token))
        .await
        .expect("append");
    let stored = f.segment_bytes();
    let holds = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(
        !holds(access_token.as_bytes()),
        "the token reached the trail"
    );
    assert!(
        !holds(b"3f9c0e7b2d4a6f81"),
        "part of the token reached the trail"
    );
    let (records, _) = f.log.export_page(None, None, 1).await.expect("export");
    let text = serde_json::to_string(&records[0]).expect("json");
    assert!(text.contains("\"fingerprint\":\"invalid\""), "{text}");
    assert!(f.verify().await.ok);
}

/// CPU time of the whole process so far (user + system, all threads), in
/// seconds, from `/proc/self/stat` (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<u64>() as f64 / 100.0
}

/// Not a check: times `GET /v1/audit/verify`'s work over a trail of
/// `VERIFY_BENCH_EVENTS` (default 1,000,000) `token_issued` events, reading
/// records (A) against canonical pages (B), back to back, twice. Run on a
/// release build:
/// `cargo test --release --lib --features fake-zoho audit::tests::verify_throughput -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn verify_throughput() {
    let n: u64 = std::env::var("VERIFY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("open")));
    let trail = Arc::new(SegmentLog::open(&dir.path().join(log::LOG_DIR)).expect("open log"));
    let key = key();
    let who = service("svc-1");
    let fp = format!("fp_{}", "0123456789abcdef".repeat(2));
    let mut prev = keys::GENESIS.to_string();
    let mut batch = Vec::with_capacity(4096);
    for seq in 1..=n {
        let event = AuditEvent::token_issued(
            &who,
            "acme-crm",
            TokenSource::Cached,
            time::OffsetDateTime::now_utc(),
            &fp,
            &ctx(),
        );
        let record = chain::chain_event(key.as_ref(), seq, event, prev);
        prev = record.hash.clone();
        batch.push(record);
        if batch.len() == 4096 || seq == n {
            trail.append(&batch, None).expect("append");
            batch.clear();
        }
    }
    for round in 1..=2 {
        for canonical in [false, true] {
            let probe = Probe {
                inner: EmbeddedAuditStore::with_log(Arc::clone(&trail), store.clone()),
                released: tokio::sync::watch::channel(true).0,
                canonical,
            };
            let (cpu, wall) = (cpu_seconds(), std::time::Instant::now());
            let report = chain::verify_store(&probe, key.clone())
                .await
                .expect("verify");
            let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
            assert!(report.ok && report.count == n, "{report:?}");
            println!(
                "round {round} {}: {n} events in {wall:.2} s ({:.0}/s), CPU {:.2} s ({:.2} us/event)",
                if canonical { "B canonical" } else { "A records" },
                n as f64 / wall,
                cpu,
                cpu * 1e6 / n as f64,
            );
        }
    }
}

/// Seals up to event `at`, which has two details with one-byte keys
/// ("actor_name", "source", both `true`), and seals after it up to `n`.
async fn fill_with_two_detail_keys_at(f: &Fixture, at: usize, n: usize) {
    f.fill(at - 1).await;
    let mut event = AuditEvent::seal(&admin(), &ctx());
    event.details.clear();
    event
        .details
        .insert("actor_name".into(), Detail::Bool(true));
    event.details.insert("source".into(), Detail::Bool(true));
    f.log.append(event).await.expect("append");
    f.fill(n - at).await;
}

/// Stores event `seq`'s two one-byte detail keys in the opposite order (a
/// valid record: the decoder sorts details, so its hash still holds, but
/// the sweep does not vouch for it), with a valid checksum.
fn swap_detail_keys(f: &Fixture, seq: u64) {
    let dir = f.dir.path().join(log::LOG_DIR);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    for path in files {
        let mut bytes = std::fs::read(&path).expect("read segment");
        let mut pos = log::segment::HEADER_LEN as usize;
        while pos + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("len")) as usize;
            let payload = pos + 8..pos + 8 + len;
            let found = bytes[payload.start] == log::record::KIND_EVENT_V1
                && bytes[payload.start + 2..payload.start + 10] == seq.to_le_bytes();
            if found {
                let p = &mut bytes[payload.clone()];
                let at = p
                    .windows(5)
                    .position(|w| w == [2, 1, 1, 2, 1])
                    .expect("two one-byte detail keys");
                p[at + 1] = 2;
                p[at + 3] = 1;
                let crc = crc32fast::hash(&bytes[payload]);
                bytes[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
                std::fs::write(&path, bytes).expect("rewrite");
                return;
            }
            pos = payload.end;
        }
    }
    panic!("event {seq} not found");
}

#[tokio::test]
async fn a_page_the_sweep_cannot_vouch_for_is_verified_event_by_event() {
    let f = fixture(5000).await;
    fill_with_two_detail_keys_at(&f, 100, 1200).await;
    swap_detail_keys(&f, 100);
    let report = f.verify().await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.count, 1200);
}

#[tokio::test]
async fn after_a_careful_page_a_later_break_is_still_named() {
    let f = fixture(5000).await;
    fill_with_two_detail_keys_at(&f, 100, 1200).await;
    // Same length, so the segments keep their committed sizes.
    f.tamper(|records| records[1099].outcome = crate::audit::Outcome::Failure);
    swap_detail_keys(&f, 100);
    let report = f.verify().await;
    let broken = report.broken.expect("broken");
    assert_eq!((broken.seq, broken.problem), (Some(1100), Problem::Edited));
    assert_eq!(report.count, 1099);
}
