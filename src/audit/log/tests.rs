//! Specifications of the segment log: recovery, damage, pruning, queries
//! and the move of a previous release's trail. Real files in temp dirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::engine::value_key;
use super::record::{encode_event, frame, Payload};
use super::segment::{header, parse_name, FrameReader, HEADER_LEN};
use super::*;
use crate::audit::chain::chain_event;
use crate::audit::event::{AuditAction, AuditEvent, AuditRecord, Detail, Details, Outcome};
use crate::audit::keys::{index_keys, seq_key, Checkpoint, Field, CHECKPOINT_KEY, GENESIS};
use crate::audit::query::{Order, Query};
use crate::audit::{AuditLog, Problem};
use crate::crypto::keys::{DataKey, SubKey};
use crate::store::sled::SledStore;
use crate::store::{AsyncStore, BlockingStore, Op, Scan, Tree};

fn key() -> Arc<SubKey> {
    Arc::new(DataKey::make().derive_subkey("audit-chain"))
}

fn event(
    connection: Option<&str>,
    actor: &str,
    action: AuditAction,
    fp: Option<&str>,
) -> AuditEvent {
    let mut details = Details::new();
    if let Some(fp) = fp {
        details.insert("fingerprint".into(), Detail::Text(fp.into()));
    }
    AuditEvent {
        time: "2026-11-30T12:00:00.123456789Z".into(),
        action,
        actor: actor.into(),
        connection: connection.map(str::to_string),
        outcome: Outcome::Success,
        details,
        request_id: Some("req-1".into()),
        source: Some("127.0.0.1".into()),
    }
}

/// `events` chained after genesis.
fn chain(key: &SubKey, events: Vec<AuditEvent>) -> Vec<AuditRecord> {
    let mut prev = GENESIS.to_string();
    let mut out = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let r = chain_event(key, i as u64 + 1, e, prev);
        prev = r.hash.clone();
        out.push(r);
    }
    out
}

fn seals(key: &SubKey, n: usize) -> Vec<AuditRecord> {
    let events = (0..n)
        .map(|i| event(None, &format!("service:s{i}"), AuditAction::Seal, None))
        .collect();
    chain(key, events)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(parse_name)
                .is_some()
        })
        .collect();
    files.sort();
    files
}

fn frames(path: &Path) -> Vec<(u64, Payload)> {
    let mut reader = FrameReader::open(path, HEADER_LEN, u64::MAX).expect("open");
    std::iter::from_fn(|| reader.next_frame())
        .map(|f| f.expect("whole frame"))
        .collect()
}

/// Rewrites every segment in `dir` with `edit` applied to its events, each
/// re-framed with a valid checksum (the headers stay).
pub(crate) fn tamper(dir: &Path, edit: impl FnOnce(&mut Vec<AuditRecord>)) {
    let files = segment_files(dir);
    let mut counts = Vec::new();
    let mut all = Vec::new();
    for path in &files {
        let before = all.len();
        all.extend(frames(path).into_iter().filter_map(|(_, p)| match p {
            Payload::Event(r) => Some(*r),
            Payload::Drained(_) => None,
        }));
        counts.push(all.len() - before);
    }
    edit(&mut all);
    let mut records = all.into_iter();
    for (i, path) in files.iter().enumerate() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let mut buf = header(parse_name(name).expect("segment name")).to_vec();
        let take = if i + 1 == files.len() {
            usize::MAX
        } else {
            counts[i]
        };
        for r in records.by_ref().take(take) {
            frame(&encode_event(&r), &mut buf);
        }
        std::fs::write(path, buf).expect("rewrite");
    }
}

struct Trail {
    dir: tempfile::TempDir,
    log: AuditLog,
    key: Arc<SubKey>,
}

fn log_dir(data: &Path) -> PathBuf {
    data.join(LOG_DIR)
}

async fn trail_in(dir: tempfile::TempDir, segment_bytes: u64) -> Trail {
    let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("sled")));
    let segments = SegmentLog::open_with(&log_dir(dir.path()), segment_bytes).expect("open log");
    let log = AuditLog::new(
        Arc::new(EmbeddedAuditStore::with_log(
            Arc::new(segments),
            store.clone(),
        )),
        Duration::from_secs(5),
    );
    let key = key();
    log.activate(key.clone()).await.expect("activate");
    Trail { dir, log, key }
}

async fn fill(log: &AuditLog, n: usize) {
    for i in 0..n {
        let e = event(
            Some("acme"),
            &format!("service:s{i}"),
            AuditAction::Seal,
            None,
        );
        log.append(e).await.expect("append");
    }
}

#[test]
fn a_torn_last_record_is_cut_off_at_every_byte_offset() {
    let key = key();
    let records = seals(&key, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (before, after, name) = {
        let log = SegmentLog::open(dir.path()).expect("open");
        log.append(&records[..2], None).expect("append");
        let path = segment_files(dir.path()).remove(0);
        let before = std::fs::metadata(&path).expect("meta").len();
        log.append(&records[2..], None).expect("append");
        let after = std::fs::metadata(&path).expect("meta").len();
        (before, after, path)
    };
    let whole = std::fs::read(&name).expect("read");
    let file_name = name.file_name().expect("name");
    for cut in before..after {
        let crashed = tempfile::tempdir().expect("tempdir");
        std::fs::write(crashed.path().join(file_name), &whole[..cut as usize]).expect("write");
        let log = SegmentLog::open(crashed.path()).expect("a torn tail must not refuse the open");
        assert_eq!(log.head().map(|h| h.seq), Some(2), "cut at {cut}");
        let len = std::fs::metadata(crashed.path().join(file_name))
            .expect("meta")
            .len();
        assert_eq!(len, before, "cut at {cut}: the torn bytes stay");
        // The log goes on from the last whole record.
        log.append(&records[2..], None)
            .expect("append after recovery");
        drop(log);
        let log = SegmentLog::open(crashed.path()).expect("reopen");
        assert_eq!(log.head().map(|h| h.seq), Some(3), "cut at {cut}");
    }
}

#[tokio::test]
async fn a_flipped_byte_in_an_old_segment_is_named_by_verify_and_refuses_the_open() {
    let t = trail_in(tempfile::tempdir().expect("tempdir"), 1024).await;
    fill(&t.log, 40).await;
    let dir = log_dir(t.dir.path());
    let first = segment_files(&dir).remove(0);
    assert!(segment_files(&dir).len() > 2, "the test needs old segments");
    let (offset, _) = frames(&first)[1];
    let mut bytes = std::fs::read(&first).expect("read");
    bytes[offset as usize + 20] ^= 0x40;
    std::fs::write(&first, bytes).expect("write");

    let report = t.log.verify(t.key.clone()).await.expect("verify");
    let broken = report.broken.expect("broken");
    let name = first.file_name().and_then(|n| n.to_str()).expect("name");
    assert_eq!((broken.seq, broken.problem), (Some(2), Problem::Unreadable));
    assert!(broken.message.contains(name), "{}", broken.message);
    assert!(
        broken.message.contains(&format!("offset {offset}")),
        "{}",
        broken.message
    );
    assert_eq!(report.count, 1);

    match SegmentLog::open(&dir) {
        Err(LogError::Damaged(d)) => {
            assert_eq!(
                (d.segment.as_str(), d.offset, d.seq),
                (name, offset, Some(2))
            );
        }
        Err(other) => panic!("expected damage, got {other}"),
        Ok(_) => panic!("the log must not open past a damaged record"),
    }
}

#[tokio::test]
async fn prune_drops_whole_old_segments_keeps_the_open_one_and_verify_stays_green() {
    let t = trail_in(tempfile::tempdir().expect("tempdir"), 1024).await;
    fill(&t.log, 40).await;
    let dir = log_dir(t.dir.path());
    let segments = segment_files(&dir);
    assert!(segments.len() > 3, "{segments:?}");
    let open = segments.last().cloned().expect("open segment");

    t.log.prune(20).await.expect("prune to 20");
    let report = t.log.verify(t.key.clone()).await.expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(
        (report.anchor.seq, report.count, report.head_seq),
        (20, 20, 40)
    );
    let left = segment_files(&dir);
    assert!(left.len() < segments.len() && left.len() > 1, "{left:?}");

    // Up to the head: every old segment goes, the open one stays.
    t.log.prune(40).await.expect("prune to the head");
    assert_eq!(segment_files(&dir), vec![open.clone()]);
    let report = t.log.verify(t.key.clone()).await.expect("verify");
    assert!(
        report.ok && report.count == 0 && report.anchor.seq == 40,
        "{report:?}"
    );
    fill(&t.log, 1).await;
    let report = t.log.verify(t.key.clone()).await.expect("verify");
    assert!(
        report.ok && report.count == 1 && report.head_seq == 41,
        "{report:?}"
    );

    // An edited checkpoint is named.
    let mut cp = SignedCheckpoint::load(&dir)
        .expect("load")
        .expect("checkpoint");
    cp.seq = 39;
    cp.store(&dir).expect("store");
    let broken = t.log.verify(t.key.clone()).await.expect("verify").broken;
    assert_eq!(broken.map(|b| b.problem), Some(Problem::Edited));
}

#[tokio::test]
async fn a_filtered_query_reads_only_segments_that_may_hold_the_value() {
    let key = key();
    let mut events: Vec<_> = (0..60)
        .map(|i| {
            event(
                Some("busy"),
                &format!("service:s{i}"),
                AuditAction::TokenIssued,
                None,
            )
        })
        .collect();
    events[33].connection = Some("rare".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let log = SegmentLog::open_with(dir.path(), 1024).expect("open");
    log.append(&chain(&key, events), None).expect("append");
    log.append(&seals(&key, 0), None).expect("empty append");
    let all = log.segments(1, u64::MAX, None).len();
    let rare = log.segments(1, u64::MAX, Some(value_key(Field::Connection, "rare")));
    assert_eq!(all, 1, "one batch is written to one segment");
    assert_eq!(rare.len(), 1);

    // Across many segments only the one holding it is read.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = SegmentLog::open_with(dir.path(), 1024).expect("open");
    let mut records = chain(
        &key,
        (0..60)
            .map(|i| {
                let conn = if i == 33 { "rare" } else { "busy" };
                event(Some(conn), "service:s1", AuditAction::TokenIssued, None)
            })
            .collect(),
    );
    for r in records.drain(..) {
        log.append(&[r], None).expect("append");
    }
    let all = log.segments(1, u64::MAX, None).len();
    let rare = log.segments(1, u64::MAX, Some(value_key(Field::Connection, "rare")));
    assert!(all > 3, "{all} segments");
    assert_eq!(rare.len(), 1);
    assert!(rare[0].range.0 <= 34 && 34 <= rare[0].range.1);
}

#[tokio::test]
async fn a_previous_release_trail_moves_into_the_log_once_and_still_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = key();
    let records = seals(&key, 30);
    {
        // The previous release's layout: JSON by seq, four index entries,
        // a prune checkpoint at 5 (events up to 5 deleted).
        let store = SledStore::open(dir.path()).expect("sled");
        let mut ops = Vec::new();
        for r in &records[5..] {
            ops.push(Op::Put {
                tree: Tree::Audit,
                key: seq_key(r.seq),
                value: serde_json::to_vec(r).expect("json"),
            });
            ops.extend(index_keys(r).into_iter().map(|key| Op::Put {
                tree: Tree::AuditIndex,
                key,
                value: Vec::new(),
            }));
        }
        let cp = Checkpoint {
            seq: 5,
            hash: records[4].hash.clone(),
        };
        ops.push(Op::Put {
            tree: Tree::AuditIndex,
            key: CHECKPOINT_KEY.to_vec(),
            value: serde_json::to_vec(&cp).expect("json"),
        });
        store.apply(ops).expect("apply");
    }
    let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("sled")));
    for restart in 0..2 {
        let segments = SegmentLog::open(&log_dir(dir.path())).expect("open log");
        let log = AuditLog::new(
            Arc::new(EmbeddedAuditStore::with_log(
                Arc::new(segments),
                store.clone(),
            )),
            Duration::from_secs(5),
        );
        log.activate(key.clone()).await.expect("activate");
        let report = log.verify(key.clone()).await.expect("verify");
        assert!(report.ok, "restart {restart}: {report:?}");
        assert_eq!(
            (report.anchor.seq, report.count, report.head_seq),
            (5, 25 + restart, 30 + restart),
            "restart {restart}"
        );
        for tree in [Tree::Audit, Tree::AuditIndex] {
            let left = store.scan(Scan::prefix(tree, &[], 10)).await.expect("scan");
            assert!(left.is_empty(), "{} still holds entries", tree.name());
        }
        // The chain goes on from the moved head.
        fill(&log, 1).await;
    }
}

fn pick<'a>(values: &'a [&'a str], i: u8) -> &'a str {
    values[usize::from(i) % values.len()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn queries_by_each_filter_return_exactly_what_a_full_scan_finds(
        picks in proptest::collection::vec((0u8..4, 0u8..3, 0u8..4, 0u8..3), 1..80),
        limit in 1usize..7,
    ) {
        let conns = ["acme", "globex", "initech", ""];
        let actors = ["service:a", "admin:b", "operator"];
        let actions = [AuditAction::TokenIssued, AuditAction::Seal, AuditAction::AuditRead, AuditAction::AccessDenied];
        let fps = ["fp_00000000000000000000000000000001", "fp_00000000000000000000000000000002", ""];
        let key = key();
        let events = picks.iter().map(|(c, a, k, f)| {
            let conn = Some(pick(&conns, *c)).filter(|c| !c.is_empty());
            let fp = Some(pick(&fps, *f)).filter(|f| !f.is_empty());
            event(conn, pick(&actors, *a), actions[usize::from(*k)], fp)
        }).collect();
        let records = chain(&key, events);
        let dir = tempfile::tempdir().expect("tempdir");
        let log = SegmentLog::open_with(dir.path(), 700).expect("open");
        for batch in records.chunks(3) {
            log.append(batch, None).expect("append");
        }
        let full = log.records_from(1, usize::MAX).expect("scan");
        prop_assert_eq!(&full, &records);
        let mut queries = vec![Query::default()];
        for c in &conns[..3] {
            queries.push(Query { connection: Some((*c).into()), ..Query::default() });
        }
        for a in actors {
            queries.push(Query { actor: Some(a.into()), ..Query::default() });
        }
        for k in actions {
            queries.push(Query { action: Some(k), ..Query::default() });
        }
        for f in &fps[..2] {
            queries.push(Query { fingerprint: Some((*f).into()), ..Query::default() });
        }
        queries.push(Query { connection: Some("acme".into()), action: Some(AuditAction::Seal), ..Query::default() });
        for base in queries {
            let expected: Vec<u64> = full.iter().filter(|r| {
                base.connection.as_ref().is_none_or(|c| r.connection.as_ref() == Some(c))
                    && base.actor.as_ref().is_none_or(|a| &r.actor == a)
                    && base.action.is_none_or(|k| r.action == k)
                    && base.fingerprint.as_deref().is_none_or(|f| r.fingerprint() == Some(f))
            }).map(|r| r.seq).collect();
            for order in [Order::Asc, Order::Desc] {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let q = Query { order, limit, after, ..base.clone() };
                    let page = query::run(&log, 1, &q).expect("query");
                    seen.extend(page.events.iter().map(|r| r.seq));
                    match page.next {
                        Some(n) => after = Some(n.parse().expect("cursor")),
                        None => break,
                    }
                }
                let mut want = expected.clone();
                if order == Order::Desc {
                    want.reverse();
                }
                prop_assert_eq!(seen, want, "{:?} {:?}", base, order);
            }
        }
    }
}
