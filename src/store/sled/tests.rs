//! The sled backend: key spaces, batches, scans, CAS and the directory lock.

use super::*;

/// The store as the layers above see it.
fn open_async(dir: &Path) -> std::sync::Arc<dyn Store> {
    std::sync::Arc::new(SledStore::open(dir).expect("open"))
}

fn put(tree: Tree, k: &[u8], v: &[u8]) -> Op {
    Op::Put {
        tree,
        key: k.to_vec(),
        value: v.to_vec(),
    }
}

#[tokio::test]
async fn kinds_do_not_see_each_others_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_async(dir.path());
    store
        .apply(vec![
            put(Tree::Audit, b"k", b"a"),
            put(Tree::AuditIndex, b"k", b"i"),
        ])
        .await
        .expect("apply");
    let all = store
        .scan(Scan::prefix(Tree::Audit, &[], 10))
        .await
        .expect("scan");
    assert_eq!(all, vec![(b"k".to_vec(), b"a".to_vec())]);
    let mut rev = Scan::prefix(Tree::AuditIndex, &[], 10);
    rev.reverse = true;
    assert_eq!(
        store.scan(rev).await.expect("scan"),
        vec![(b"k".to_vec(), b"i".to_vec())]
    );
}

#[tokio::test]
async fn batches_span_trees_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open_async(dir.path());
        store
            .apply(vec![
                put(Tree::Meta, b"a", b"1"),
                put(Tree::Tokens, b"b", b"2"),
            ])
            .await
            .expect("apply");
    }
    let store = open_async(dir.path());
    assert_eq!(
        store.get(Tree::Meta, b"a").await.expect("get"),
        Some(b"1".to_vec())
    );
    assert_eq!(
        store.get(Tree::Tokens, b"b").await.expect("get"),
        Some(b"2".to_vec())
    );
    assert_eq!(store.get(Tree::Tokens, b"a").await.expect("get"), None);
}

#[tokio::test]
async fn scans_honour_bounds_order_and_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_async(dir.path());
    let ops = (0u8..10).map(|i| put(Tree::Audit, &[i], &[i])).collect();
    store.apply(ops).await.expect("apply");
    let mut scan = Scan::prefix(Tree::Audit, &[], 3);
    scan.reverse = true;
    let keys: Vec<u8> = store
        .scan(scan)
        .await
        .expect("scan")
        .iter()
        .map(|(k, _)| k[0])
        .collect();
    assert_eq!(keys, vec![9, 8, 7]);
}

#[tokio::test]
async fn compare_and_swap_detects_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_async(dir.path());
    assert_eq!(
        store
            .compare_and_swap(Tree::Meta, b"h", None, Some(b"1".to_vec()))
            .await
            .expect("cas"),
        Ok(())
    );
    assert_eq!(
        store
            .compare_and_swap(Tree::Meta, b"h", None, Some(b"2".to_vec()))
            .await
            .expect("cas"),
        Err(Conflict)
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_as_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = SledStore::open(dir.path()).expect("open");
    match SledStore::open(dir.path()) {
        Err(StoreError::Locked(_)) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("second open must fail"),
    }
}
