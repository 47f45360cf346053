//! The storage contract, run against every backend.

use std::ops::Bound;
use std::sync::Arc;

use zoho_vault::store::{prefix_end, Conflict, Scan, Tree};

use crate::backend::{delete, put, Backend};

/// Runs each named behaviour once per backend, as `sled::NAME` and
/// `postgres::NAME`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let backend = super::Backend::sled();
                    assert_eq!(backend.name(), "sled");
                    super::$name(backend).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(backend) = super::Backend::postgres().await {
                        assert_eq!(backend.name(), "postgres");
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}

on_every_backend!(
    a_put_reads_back_and_a_delete_removes_it,
    a_missing_key_reads_as_none,
    kinds_do_not_see_each_others_keys,
    scans_honour_every_bound_kind_direction_and_limit,
    a_prefix_scan_stops_at_the_end_of_the_prefix,
    shorter_keys_sort_before_their_extensions,
    a_batch_spanning_kinds_applies_whole,
    the_last_write_to_a_key_in_a_batch_wins,
    an_empty_batch_changes_nothing,
    compare_and_swap_inserts_replaces_and_deletes_only_on_a_match,
    a_swap_with_other_writes_lands_whole_or_not_at_all,
    of_many_concurrent_inserting_swaps_exactly_one_wins,
    concurrent_read_modify_swap_loops_lose_no_update,
    big_values_round_trip,
    an_empty_key_and_an_empty_value_are_stored,
    acknowledged_writes_survive_reopening,
);

async fn a_put_reads_back_and_a_delete_removes_it(b: Backend) {
    b.apply(vec![put(Tree::Tokens, b"k", b"v1")])
        .await
        .expect("put");
    assert_eq!(
        b.get(Tree::Tokens, b"k").await.expect("get"),
        Some(b"v1".to_vec())
    );
    b.apply(vec![put(Tree::Tokens, b"k", b"v2")])
        .await
        .expect("overwrite");
    assert_eq!(
        b.get(Tree::Tokens, b"k").await.expect("get"),
        Some(b"v2".to_vec())
    );
    b.apply(vec![delete(Tree::Tokens, b"k")])
        .await
        .expect("delete");
    assert_eq!(b.get(Tree::Tokens, b"k").await.expect("get"), None);
    b.apply(vec![delete(Tree::Tokens, b"k")])
        .await
        .expect("deleting an absent key is not an error");
}

async fn a_missing_key_reads_as_none(b: Backend) {
    assert_eq!(b.get(Tree::Meta, b"nothing").await.expect("get"), None);
    let all = b
        .scan(Scan::prefix(Tree::Meta, &[], 10))
        .await
        .expect("scan");
    assert!(all.is_empty());
}

async fn kinds_do_not_see_each_others_keys(b: Backend) {
    b.apply(vec![
        put(Tree::Audit, b"k", b"a"),
        put(Tree::AuditIndex, b"k", b"i"),
    ])
    .await
    .expect("apply");
    assert_eq!(b.get(Tree::AuditPending, b"k").await.expect("get"), None);
    let audit = b
        .scan(Scan::prefix(Tree::Audit, &[], 10))
        .await
        .expect("scan");
    assert_eq!(audit, vec![(b"k".to_vec(), b"a".to_vec())]);
    let mut rev = Scan::prefix(Tree::AuditIndex, &[], 10);
    rev.reverse = true;
    assert_eq!(
        b.scan(rev).await.expect("scan"),
        vec![(b"k".to_vec(), b"i".to_vec())]
    );
}

/// Keys chosen to straddle the bounds: byte order, prefixes, 0x00 and 0xff.
fn sample_keys() -> Vec<Vec<u8>> {
    vec![
        vec![0],
        vec![1],
        vec![1, 0],
        vec![1, 255],
        vec![2],
        vec![2, 0, 0],
        vec![7],
        vec![7, 7],
        vec![128],
        vec![255],
        vec![255, 255],
    ]
}

fn within(key: &[u8], start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    let above = match start {
        Bound::Included(s) => key >= s.as_slice(),
        Bound::Excluded(s) => key > s.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match end {
        Bound::Included(e) => key <= e.as_slice(),
        Bound::Excluded(e) => key < e.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

async fn scans_honour_every_bound_kind_direction_and_limit(b: Backend) {
    let keys = sample_keys();
    let ops = keys
        .iter()
        .map(|k| put(Tree::Audit, k, &[k.len() as u8]))
        .collect();
    b.apply(ops).await.expect("apply");
    // Another kind's keys must never leak into the scanned range.
    b.apply(vec![
        put(Tree::AuditIndex, &[1, 5], b"x"),
        put(Tree::AuditPending, &[0], b"x"),
    ])
    .await
    .expect("apply");
    let probes: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![1, 128],
        vec![2, 0],
        vec![7],
        vec![255],
    ];
    let mut bounds = vec![Bound::Unbounded];
    for p in &probes {
        bounds.push(Bound::Included(p.clone()));
        bounds.push(Bound::Excluded(p.clone()));
    }
    let key_of = |b: &Bound<Vec<u8>>| match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
        Bound::Unbounded => None,
    };
    let mut checked = 0;
    for start in &bounds {
        for end in &bounds {
            // An inverted range is a caller error in either backend.
            if let (Some(s), Some(e)) = (key_of(start), key_of(end)) {
                if s > e {
                    continue;
                }
            }
            for reverse in [false, true] {
                for limit in [0, 1, 3, 100] {
                    let mut expected: Vec<(Vec<u8>, Vec<u8>)> = keys
                        .iter()
                        .filter(|k| within(k, start, end))
                        .map(|k| (k.clone(), vec![k.len() as u8]))
                        .collect();
                    expected.sort();
                    if reverse {
                        expected.reverse();
                    }
                    expected.truncate(limit);
                    let scan = Scan {
                        tree: Tree::Audit,
                        start: start.clone(),
                        end: end.clone(),
                        reverse,
                        limit,
                    };
                    let got = b.scan(scan).await.expect("scan");
                    assert_eq!(
                        got, expected,
                        "start {start:?} end {end:?} reverse {reverse} limit {limit}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "the bound combinations were exercised");
}

async fn a_prefix_scan_stops_at_the_end_of_the_prefix(b: Backend) {
    let keys: [&[u8]; 6] = [b"ab", b"ab\x00", b"ab\xff\xff", b"abc", b"ac", b"aa\xff"];
    b.apply(keys.iter().map(|k| put(Tree::Tokens, k, b"v")).collect())
        .await
        .expect("apply");
    let got: Vec<Vec<u8>> = b
        .scan(Scan::prefix(Tree::Tokens, b"ab", 100))
        .await
        .expect("scan")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        got,
        vec![
            b"ab".to_vec(),
            b"ab\x00".to_vec(),
            b"abc".to_vec(),
            b"ab\xff\xff".to_vec()
        ]
    );
    // A prefix of only 0xff bytes has no end: the scan runs to the last key.
    assert_eq!(prefix_end(&[255]), None);
    b.apply(vec![put(Tree::Tokens, &[255, 1], b"v")])
        .await
        .expect("apply");
    let tail = b
        .scan(Scan::prefix(Tree::Tokens, &[255], 100))
        .await
        .expect("scan");
    assert_eq!(tail, vec![(vec![255, 1], b"v".to_vec())]);
}

async fn shorter_keys_sort_before_their_extensions(b: Backend) {
    let keys: [&[u8]; 4] = [&[1, 0], &[1], &[0, 255, 255], &[1, 0, 0]];
    b.apply(keys.iter().map(|k| put(Tree::Audit, k, b"v")).collect())
        .await
        .expect("apply");
    let got: Vec<Vec<u8>> = b
        .scan(Scan::prefix(Tree::Audit, &[], 100))
        .await
        .expect("scan")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        got,
        vec![vec![0, 255, 255], vec![1], vec![1, 0], vec![1, 0, 0]]
    );
}

async fn a_batch_spanning_kinds_applies_whole(b: Backend) {
    b.apply(vec![put(Tree::Connections, b"gone", b"old")])
        .await
        .expect("seed");
    b.apply(vec![
        put(Tree::Meta, b"a", b"1"),
        put(Tree::Tokens, b"b", b"2"),
        delete(Tree::Connections, b"gone"),
        put(Tree::Audit, &[0, 0, 0, 1], b"e1"),
    ])
    .await
    .expect("apply");
    assert_eq!(
        b.get(Tree::Meta, b"a").await.expect("get"),
        Some(b"1".to_vec())
    );
    assert_eq!(
        b.get(Tree::Tokens, b"b").await.expect("get"),
        Some(b"2".to_vec())
    );
    assert_eq!(b.get(Tree::Connections, b"gone").await.expect("get"), None);
    assert_eq!(
        b.get(Tree::Audit, &[0, 0, 0, 1]).await.expect("get"),
        Some(b"e1".to_vec())
    );
}

async fn the_last_write_to_a_key_in_a_batch_wins(b: Backend) {
    b.apply(vec![
        put(Tree::Tokens, b"put-then-delete", b"1"),
        delete(Tree::Tokens, b"put-then-delete"),
        delete(Tree::Tokens, b"delete-then-put"),
        put(Tree::Tokens, b"delete-then-put", b"2"),
        put(Tree::Tokens, b"twice", b"3"),
        put(Tree::Tokens, b"twice", b"4"),
    ])
    .await
    .expect("apply");
    assert_eq!(
        b.get(Tree::Tokens, b"put-then-delete").await.expect("get"),
        None
    );
    assert_eq!(
        b.get(Tree::Tokens, b"delete-then-put").await.expect("get"),
        Some(b"2".to_vec())
    );
    assert_eq!(
        b.get(Tree::Tokens, b"twice").await.expect("get"),
        Some(b"4".to_vec())
    );
}

async fn an_empty_batch_changes_nothing(b: Backend) {
    b.apply(vec![put(Tree::Meta, b"k", b"v")])
        .await
        .expect("seed");
    b.apply(Vec::new()).await.expect("empty batch");
    b.flush().await.expect("flush");
    let all = b
        .scan(Scan::prefix(Tree::Meta, &[], 10))
        .await
        .expect("scan");
    assert_eq!(all, vec![(b"k".to_vec(), b"v".to_vec())]);
}

async fn compare_and_swap_inserts_replaces_and_deletes_only_on_a_match(b: Backend) {
    let t = Tree::Meta;
    // Absent expected absent: nothing to change, no conflict.
    assert_eq!(
        b.compare_and_swap(t, b"h", None, None).await.expect("cas"),
        Ok(())
    );
    assert_eq!(
        b.compare_and_swap(t, b"h", None, Some(b"1".to_vec()))
            .await
            .expect("cas"),
        Ok(())
    );
    assert_eq!(
        b.compare_and_swap(t, b"h", None, Some(b"2".to_vec()))
            .await
            .expect("cas"),
        Err(Conflict),
        "insert over an existing value"
    );
    assert_eq!(
        b.compare_and_swap(t, b"h", None, None).await.expect("cas"),
        Err(Conflict)
    );
    assert_eq!(
        b.compare_and_swap(t, b"h", Some(b"x"), Some(b"3".to_vec()))
            .await
            .expect("cas"),
        Err(Conflict),
        "wrong expected value"
    );
    assert_eq!(b.get(t, b"h").await.expect("get"), Some(b"1".to_vec()));
    assert_eq!(
        b.compare_and_swap(t, b"h", Some(b"1"), Some(b"3".to_vec()))
            .await
            .expect("cas"),
        Ok(())
    );
    assert_eq!(b.get(t, b"h").await.expect("get"), Some(b"3".to_vec()));
    assert_eq!(
        b.compare_and_swap(t, b"h", Some(b"1"), None)
            .await
            .expect("cas"),
        Err(Conflict)
    );
    assert_eq!(
        b.compare_and_swap(t, b"h", Some(b"3"), None)
            .await
            .expect("cas"),
        Ok(())
    );
    assert_eq!(b.get(t, b"h").await.expect("get"), None);
    assert_eq!(
        b.compare_and_swap(t, b"h", Some(b"3"), Some(b"4".to_vec()))
            .await
            .expect("cas"),
        Err(Conflict),
        "replace of an absent key"
    );
    assert_eq!(b.get(t, b"h").await.expect("get"), None);
}

async fn a_swap_with_other_writes_lands_whole_or_not_at_all(b: Backend) {
    let also = |v: &[u8]| {
        vec![
            put(Tree::WebhookOutbox, b"e1", v),
            delete(Tree::AccessTokens, b"c"),
        ]
    };
    b.apply(vec![
        put(Tree::Connections, b"c", b"old"),
        put(Tree::AccessTokens, b"c", b"tok"),
    ])
    .await
    .expect("apply");
    assert_eq!(
        b.compare_and_swap_with(
            Tree::Connections,
            b"c",
            Some(b"stale"),
            Some(b"new".to_vec()),
            also(b"lost")
        )
        .await
        .expect("cas"),
        Err(Conflict)
    );
    assert_eq!(b.get(Tree::WebhookOutbox, b"e1").await.expect("get"), None);
    assert!(b
        .get(Tree::AccessTokens, b"c")
        .await
        .expect("get")
        .is_some());
    assert_eq!(
        b.compare_and_swap_with(
            Tree::Connections,
            b"c",
            Some(b"old"),
            Some(b"new".to_vec()),
            also(b"event")
        )
        .await
        .expect("cas"),
        Ok(())
    );
    assert_eq!(
        b.get(Tree::Connections, b"c").await.expect("get"),
        Some(b"new".to_vec())
    );
    assert_eq!(
        b.get(Tree::WebhookOutbox, b"e1").await.expect("get"),
        Some(b"event".to_vec())
    );
    assert_eq!(b.get(Tree::AccessTokens, b"c").await.expect("get"), None);
    // A delete guarded by its value, with writes alongside.
    assert_eq!(
        b.compare_and_swap_with(Tree::Connections, b"c", Some(b"new"), None, also(b"gone"))
            .await
            .expect("cas"),
        Ok(())
    );
    assert_eq!(b.get(Tree::Connections, b"c").await.expect("get"), None);
    assert_eq!(
        b.get(Tree::WebhookOutbox, b"e1").await.expect("get"),
        Some(b"gone".to_vec())
    );
}

const RACERS: usize = 32;

async fn of_many_concurrent_inserting_swaps_exactly_one_wins(b: Backend) {
    let b = Arc::new(b);
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (b, start) = (Arc::clone(&b), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                let mine = format!("racer-{i}").into_bytes();
                let won = b
                    .compare_and_swap(Tree::Meta, b"head", None, Some(mine.clone()))
                    .await
                    .expect("cas")
                    .is_ok();
                (won, mine)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for r in racers {
        let (won, mine) = r.await.expect("racer");
        if won {
            winners.push(mine);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one racer inserts");
    assert_eq!(
        b.get(Tree::Meta, b"head").await.expect("get"),
        Some(winners[0].clone())
    );
}

async fn concurrent_read_modify_swap_loops_lose_no_update(b: Backend) {
    const ROUNDS: u64 = 8;
    let b = Arc::new(b);
    b.apply(vec![put(Tree::Meta, b"counter", &0u64.to_be_bytes())])
        .await
        .expect("seed");
    let workers: Vec<_> = (0..RACERS)
        .map(|_| {
            let b = Arc::clone(&b);
            tokio::spawn(async move {
                let mut conflicts = 0u64;
                for _ in 0..ROUNDS {
                    loop {
                        let cur = b
                            .get(Tree::Meta, b"counter")
                            .await
                            .expect("get")
                            .expect("seeded");
                        let n = u64::from_be_bytes(cur.as_slice().try_into().expect("8 bytes"));
                        let next = (n + 1).to_be_bytes().to_vec();
                        match b
                            .compare_and_swap(Tree::Meta, b"counter", Some(&cur), Some(next))
                            .await
                            .expect("cas")
                        {
                            Ok(()) => break,
                            Err(Conflict) => conflicts += 1,
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let end = b
        .get(Tree::Meta, b"counter")
        .await
        .expect("get")
        .expect("counter");
    assert_eq!(
        u64::from_be_bytes(end.as_slice().try_into().expect("8 bytes")),
        RACERS as u64 * ROUNDS,
        "every successful swap counted once"
    );
}

async fn big_values_round_trip(b: Backend) {
    // Incompressible, like a sealed value.
    let big: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    b.apply(vec![
        put(Tree::Audit, b"big", &big),
        put(Tree::Audit, b"small", b"s"),
    ])
    .await
    .expect("apply");
    assert_eq!(
        b.get(Tree::Audit, b"big").await.expect("get"),
        Some(big.clone())
    );
    let all = b
        .scan(Scan::prefix(Tree::Audit, &[], 10))
        .await
        .expect("scan");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].1, big);
    assert_eq!(
        b.compare_and_swap(Tree::Audit, b"big", Some(&big), Some(b"x".to_vec()))
            .await
            .expect("cas"),
        Ok(())
    );
}

async fn an_empty_key_and_an_empty_value_are_stored(b: Backend) {
    b.apply(vec![
        put(Tree::Tokens, b"", b""),
        put(Tree::Tokens, b"a", b"1"),
    ])
    .await
    .expect("apply");
    assert_eq!(
        b.get(Tree::Tokens, b"").await.expect("get"),
        Some(Vec::new())
    );
    let all = b
        .scan(Scan::prefix(Tree::Tokens, &[], 10))
        .await
        .expect("scan");
    assert_eq!(
        all,
        vec![(Vec::new(), Vec::new()), (b"a".to_vec(), b"1".to_vec())]
    );
    b.apply(vec![delete(Tree::Tokens, b"")])
        .await
        .expect("delete");
    assert_eq!(b.get(Tree::Tokens, b"").await.expect("get"), None);
}

async fn acknowledged_writes_survive_reopening(b: Backend) {
    b.apply(vec![
        put(Tree::Meta, b"header", b"h"),
        put(Tree::Tokens, b"t", b"1"),
    ])
    .await
    .expect("apply");
    assert_eq!(
        b.compare_and_swap(Tree::Tokens, b"t", Some(b"1"), Some(b"2".to_vec()))
            .await
            .expect("cas"),
        Ok(())
    );
    let b = b.reopen().await;
    assert_eq!(
        b.get(Tree::Meta, b"header").await.expect("get"),
        Some(b"h".to_vec())
    );
    assert_eq!(
        b.get(Tree::Tokens, b"t").await.expect("get"),
        Some(b"2".to_vec())
    );
}
