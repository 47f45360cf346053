use super::*;
use crate::crypto::keys::DataKey;
use crate::store::sled::SledStore;
use crate::store::AsyncStore;
use crate::store::{BlockingStore, Op, Tree};
use reader::is_empty;
use std::sync::Arc;

/// One data key per test process: every backup in these tests is "this
/// vault's".
fn key() -> BackupKey {
    static DATA: std::sync::OnceLock<DataKey> = std::sync::OnceLock::new();
    BackupKey::derive(DATA.get_or_init(DataKey::make))
}

/// A runtime entered on the test's thread, so the blocking store can
/// wait on the async one from here.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn empty(dir: &std::path::Path) -> Arc<dyn BlockingStore> {
    let store = AsyncStore::new(Arc::new(SledStore::open(dir).expect("open")));
    Arc::clone(store.blocking())
}

fn filled() -> (tempfile::TempDir, Arc<dyn BlockingStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = empty(dir.path());
    let mut ops = vec![Op::Put {
        tree: Tree::Meta,
        key: b"header".to_vec(),
        value: b"{}".to_vec(),
    }];
    for i in 0u32..2500 {
        ops.push(Op::Put {
            tree: Tree::Audit,
            key: i.to_be_bytes().to_vec(),
            value: vec![7; 40],
        });
    }
    store.apply(ops).expect("apply");
    (dir, store)
}

#[test]
fn a_backup_restores_every_entry_into_an_empty_store() {
    let rt = runtime();
    let _in = rt.enter();
    let (_d, store) = filled();
    let mut file = Vec::new();
    let written = write_backup(store.as_ref(), None, &key(), &mut file).expect("backup");
    assert_eq!(written.entries, 2501);
    let target_dir = tempfile::tempdir().expect("tempdir");
    let target = empty(target_dir.path());
    let restored = restore_backup(target.as_ref(), file.as_slice(), &key()).expect("restore");
    assert_eq!(restored, written);
    assert_eq!(
        target
            .get(Tree::Audit, &2499u32.to_be_bytes())
            .expect("get"),
        Some(vec![7; 40])
    );
    assert!(target.get(Tree::Meta, b"header").expect("get").is_some());
}

#[test]
fn console_sessions_are_left_out_of_a_backup() {
    let rt = runtime();
    let _in = rt.enter();
    let (_d, store) = filled();
    let session = Op::Put {
        tree: Tree::ConsoleSessions,
        key: vec![9; 32],
        value: b"sealed session".to_vec(),
    };
    store.apply(vec![session]).expect("apply");
    let mut file = Vec::new();
    let written = write_backup(store.as_ref(), None, &key(), &mut file).expect("backup");
    assert_eq!(written.entries, 2501, "the session is not an entry");
    let text = String::from_utf8(file).expect("utf8");
    assert!(!text.contains("console_sessions"), "{}", &text[..200]);
}

#[test]
fn restore_refuses_a_store_that_holds_a_vault() {
    let rt = runtime();
    let _in = rt.enter();
    let (_d, store) = filled();
    let mut file = Vec::new();
    write_backup(store.as_ref(), None, &key(), &mut file).expect("backup");
    assert!(matches!(
        restore_backup(store.as_ref(), file.as_slice(), &key()),
        Err(BackupError::TargetNotEmpty)
    ));
}

#[test]
fn truncated_or_edited_backups_are_refused_and_nothing_is_written() {
    let rt = runtime();
    let _in = rt.enter();
    let (_d, store) = filled();
    let mut file = Vec::new();
    write_backup(store.as_ref(), None, &key(), &mut file).expect("backup");
    let text = String::from_utf8(file).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    let truncated = lines[..lines.len() - 10].join("\n");
    let edited = text.replacen("\"t\":\"audit\"", "\"t\":\"tokens\"", 1);
    let trailing = format!("{text}{}\n", lines[1]);
    for bad in [truncated, edited, trailing, String::new(), "garbage".into()] {
        assert!(verify(bad.as_bytes(), Some(&key())).is_err());
        let target_dir = tempfile::tempdir().expect("tempdir");
        let target = empty(target_dir.path());
        assert!(restore_backup(target.as_ref(), bad.as_bytes(), &key()).is_err());
        assert!(target.get(Tree::Meta, b"header").expect("get").is_none());
        assert!(
            is_empty(target.as_ref()).expect("scan"),
            "a refused restore leaves nothing"
        );
    }
}

#[test]
fn verify_reads_a_whole_backup_without_a_store() {
    let rt = runtime();
    let _in = rt.enter();
    let (_d, store) = filled();
    let mut file = Vec::new();
    let written = write_backup(store.as_ref(), None, &key(), &mut file).expect("backup");
    assert_eq!(
        verify(file.as_slice(), Some(&key())).expect("verify"),
        written
    );
    let crlf = String::from_utf8(file).expect("utf8").replace('\n', "\r\n");
    assert_eq!(
        verify(crlf.as_bytes(), Some(&key())).expect("crlf"),
        written
    );
}

#[test]
fn restore_refuses_a_store_with_leftovers_of_an_interrupted_restore() {
    let rt = runtime();
    let _in = rt.enter();
    let (_d, store) = filled();
    let mut file = Vec::new();
    write_backup(store.as_ref(), None, &key(), &mut file).expect("backup");
    let target_dir = tempfile::tempdir().expect("tempdir");
    let target = empty(target_dir.path());
    target
        .apply(vec![Op::Put {
            tree: Tree::Audit,
            key: vec![1],
            value: vec![2],
        }])
        .expect("apply");
    assert!(matches!(
        restore_backup(target.as_ref(), file.as_slice(), &key()),
        Err(BackupError::TargetNotEmpty)
    ));
    assert_eq!(target.get(Tree::Audit, &[1]).expect("get"), Some(vec![2]));
}

#[test]
fn file_names_carry_the_utc_time() {
    let at = time::macros::datetime!(2025-01-31 10:03:04 +02:00);
    assert_eq!(file_name(at), "zoho-vault-20250131T080304Z.backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_backup_is_a_valid_backup_and_stops_when_the_reader_leaves() {
    let (_d, store) = tokio::task::spawn_blocking(filled).await.expect("fill");
    let mut rx = spawn_stream(Arc::clone(&store), None, key());
    let mut file = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.expect("chunk");
        assert!(chunk.len() <= 64 * 1024 + 4096, "chunks stay small");
        file.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert!(chunks > 1, "streamed in several chunks");
    assert_eq!(
        verify(file.as_slice(), Some(&key()))
            .expect("verify")
            .entries,
        2501
    );
    // A reader that goes away after one chunk stops the writer.
    let mut rx = spawn_stream(store, None, key());
    assert!(rx.recv().await.is_some());
    drop(rx);
}

/// A store whose audit tree holds a chain of `n` events (as the previous
/// release's layout stores them: seq → event JSON).
fn with_trail(n: u64) -> (tempfile::TempDir, Arc<dyn BlockingStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = empty(dir.path());
    let mut ops = vec![Op::Put {
        tree: Tree::Meta,
        key: b"header".to_vec(),
        value: b"{}".to_vec(),
    }];
    for seq in 1..=n {
        ops.push(Op::Put {
            tree: Tree::Audit,
            key: crate::audit::keys::seq_key(seq),
            value: serde_json::to_vec(
                &serde_json::json!({"seq": seq, "hash": format!("{seq:064x}")}),
            )
            .expect("json"),
        });
    }
    store.apply(ops).expect("apply");
    (dir, store)
}

#[test]
fn the_summary_names_the_last_event_as_the_head() {
    let rt = runtime();
    let _in = rt.enter();
    let (_d, store) = with_trail(70);
    let mut file = Vec::new();
    let written = write_backup(store.as_ref(), None, &key(), &mut file).expect("backup");
    let head = written.head.expect("a head");
    assert_eq!((head.seq, head.hash), (70, format!("{:064x}", 70)));
}

#[test]
fn a_backup_under_another_vaults_key_is_refused_but_structurally_whole() {
    let rt = runtime();
    let _in = rt.enter();
    let (_d, store) = with_trail(3);
    let other = BackupKey::derive(&DataKey::make());
    let mut file = Vec::new();
    write_backup(store.as_ref(), None, &other, &mut file).expect("backup");
    assert!(
        verify(file.as_slice(), None).is_ok(),
        "structure alone checks out"
    );
    assert!(matches!(
        verify(file.as_slice(), Some(&key())),
        Err(BackupError::Forged)
    ));
    let target_dir = tempfile::tempdir().expect("tempdir");
    let target = empty(target_dir.path());
    assert!(matches!(
        restore_backup(target.as_ref(), file.as_slice(), &key()),
        Err(BackupError::Forged)
    ));
    assert!(is_empty(target.as_ref()).expect("scan"), "nothing is left");
}
