use super::*;

#[tokio::test]
async fn the_factory_opens_the_configured_backend_and_creates_its_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = Settings {
        data_dir: dir.path().join("vault"),
        ..Settings::default()
    };
    assert!(!exists(&settings).await.expect("exists"));
    let store = open(&settings).await.expect("open");
    assert_eq!(store.backend(), "sled");
    store
        .apply(vec![Op::Put {
            tree: Tree::Meta,
            key: b"k".to_vec(),
            value: b"v".to_vec(),
        }])
        .await
        .expect("apply");
    assert!(exists(&settings).await.expect("exists"));
    assert!(matches!(open(&settings).await, Err(StoreError::Locked(_))));
}

#[test]
fn prefix_end_is_the_next_prefix() {
    assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
    assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
    assert_eq!(prefix_end(&[255, 255]), None);
}

#[test]
fn tree_ids_are_unique_and_below_255() {
    let mut ids: Vec<u8> = Tree::ALL.iter().map(|t| t.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), Tree::ALL.len());
    assert!(ids.iter().all(|id| *id < u8::MAX));
}

#[test]
fn tree_names_are_unique() {
    let mut names: Vec<_> = Tree::ALL.iter().map(|t| t.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), Tree::ALL.len());
}
