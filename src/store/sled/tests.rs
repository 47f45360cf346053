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

#[test]
fn a_snapshot_left_unfinished_by_an_interrupted_open_does_not_stop_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = SledStore::open(dir.path()).expect("open");
        write(&store, 1).expect("write");
    }
    // What a failed snapshot write leaves (sled names it by log position,
    // and the open picks the highest).
    let unfinished = dir
        .path()
        .join(STORE_DIR)
        .join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&unfinished, b"").expect("plant");
    let store = SledStore::open(dir.path()).expect("open despite the unfinished snapshot");
    assert!(BlockingStore::get(&store, Tree::Connections, b"k00001")
        .expect("get")
        .is_some());
    assert!(!unfinished.exists());
}

#[test]
fn unfinished_snapshots_are_left_alone_while_another_process_holds_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _running = SledStore::open(dir.path()).expect("open");
    let unfinished = dir
        .path()
        .join(STORE_DIR)
        .join("snap.0000000000000001.generating");
    std::fs::write(&unfinished, b"").expect("plant");
    assert!(matches!(
        SledStore::open(dir.path()),
        Err(StoreError::Locked(_))
    ));
    assert!(unfinished.exists());
}

/// A small tmpfs, so sled itself runs out of space. Mounting needs root;
/// otherwise the test says so loudly and passes, unless
/// `ZOHO_VAULT_REQUIRE_ROOT_TESTS=1` (CI), which makes the skip a failure.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let skip = |why: String| {
            let line = format!("SKIPPED {test}: {why}; the full-disk test did not run");
            assert!(
                std::env::var("ZOHO_VAULT_REQUIRE_ROOT_TESTS").as_deref() != Ok("1"),
                "{line} (ZOHO_VAULT_REQUIRE_ROOT_TESTS=1)"
            );
            eprintln!("!!!!!!!! {line} !!!!!!!!");
        };
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            Ok(out) => {
                skip(format!(
                    "mount -t tmpfs failed (root needed): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            }
            Err(e) => {
                skip(format!("cannot run mount: {e}"));
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem refuses one more byte.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        for chunk in [1 << 20, 4096, 1] {
            let bytes = vec![0u8; chunk];
            while file.write_all(&bytes).is_ok() {}
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// One durable write through the blocking face.
fn write(store: &SledStore, i: usize) -> Result<(), StoreError> {
    BlockingStore::apply(store, vec![record(i)])
}

fn record(i: usize) -> Op {
    // Incompressible enough that a few dozen writes need a new page.
    let value: Vec<u8> = (0..600).map(|j| (i * 31 + j * 7) as u8).collect();
    put(Tree::Connections, format!("k{i:05}").as_bytes(), &value)
}

#[test]
fn after_sled_fails_on_a_full_disk_the_store_reopens_in_place_and_keeps_every_acknowledged_write() {
    let Some(fs) = Tmpfs::mount("4m", "store::sled::reopens_in_place") else {
        return;
    };
    let store = SledStore::open(fs.path()).expect("open");
    let mut acknowledged = Vec::new();
    write(&store, 0).expect("a write with room");
    acknowledged.push(0);

    let filler = fs.fill();
    let mut i = 0;
    let refused = loop {
        i += 1;
        assert!(i < 10_000, "sled never ran out of space");
        match write(&store, i) {
            Ok(()) => acknowledged.push(i),
            Err(e) => break e,
        }
    };
    assert!(matches!(refused, StoreError::DiskFull(_)), "{refused}");
    assert!(store.disk.is_full());
    // Still full: refused again, never acknowledged.
    let again = write(&store, i + 1);
    assert!(matches!(again, Err(StoreError::DiskFull(_))), "{again:?}");

    std::fs::remove_file(&filler).expect("free the space");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut next = i + 2;
    loop {
        match write(&store, next) {
            Ok(()) => break,
            Err(StoreError::DiskFull(_)) => {
                assert!(std::time::Instant::now() < deadline, "no recovery");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
    acknowledged.push(next);
    assert!(!store.disk.is_full());
    next += 1;
    write(&store, next).expect("the next write");
    acknowledged.push(next);

    drop(store);
    let store = SledStore::open(fs.path()).expect("reopen after the process's store is closed");
    for k in &acknowledged {
        let key = format!("k{k:05}");
        assert!(
            BlockingStore::get(&store, Tree::Connections, key.as_bytes())
                .expect("get")
                .is_some(),
            "acknowledged write {key} is missing"
        );
    }
}
