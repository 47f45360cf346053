//! Unit tests of the token registry, its cache and the last-use writer.

use std::sync::Arc;

use time::OffsetDateTime;

use super::record::make_id;
use super::*;
use crate::coord::LocalCoordinator;
use crate::crypto::keys::DataKey;
use crate::crypto::token::{PlainToken, TokenKind};
use crate::store::sled::SledStore;
use crate::store::{AsyncStore, StoreError, Tree};

fn registry() -> (tempfile::TempDir, TokenRegistry, DataKey) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("sled")));
    let coord = Arc::new(LocalCoordinator::new());
    (dir, TokenRegistry::new(store, coord), DataKey::make())
}

async fn stored(reg: &TokenRegistry, dk: &DataKey, plain: &PlainToken) -> Option<TokenRecord> {
    reg.store
        .get_sealed::<TokenRecord>(dk, plain.hash().as_bytes())
        .await
        .expect("get")
}

fn admin(name: &str) -> NewToken {
    NewToken::admin(name.into(), None).expect("valid")
}

#[tokio::test]
async fn last_use_is_written_in_the_background_once_per_interval() {
    let (_dir, reg, dk) = registry();
    let (plain, _) = reg.create(&dk, admin("a")).await.expect("create");
    reg.authenticate(&dk, plain.expose()).await.expect("auth");
    reg.last_use.flush().await;
    let first = stored(&reg, &dk, &plain).await.and_then(|r| r.last_used_at);
    assert!(first.is_some(), "last use never written");
    // Verified from the store again (not the cache), within the interval:
    // no second write.
    reg.forget_all_verified();
    reg.authenticate(&dk, plain.expose()).await.expect("auth");
    reg.last_use.flush().await;
    assert_eq!(
        stored(&reg, &dk, &plain).await.and_then(|r| r.last_used_at),
        first
    );
}

#[tokio::test]
async fn a_late_last_use_write_never_brings_a_revoked_token_back() {
    let (_dir, reg, dk) = registry();
    let (plain, record) = reg.create(&dk, admin("a")).await.expect("create");
    let hash = plain.hash();
    let sealed = reg
        .store
        .get(Tree::Tokens, hash.as_bytes().to_vec())
        .await
        .expect("get")
        .expect("stored");
    // The request read the record, then the token was revoked, then
    // the last-use write ran.
    reg.revoke(&dk, &record.id).await.expect("revoke");
    reg.last_use.note_use(
        &dk,
        hash.as_bytes(),
        sealed,
        record,
        OffsetDateTime::now_utc(),
    );
    reg.last_use.flush().await;
    assert!(stored(&reg, &dk, &plain).await.is_none());
    assert!(matches!(
        reg.authenticate(&dk, plain.expose()).await,
        Err(AuthError::Unknown)
    ));
}

#[tokio::test]
async fn racing_admin_revocations_always_leave_one_admin() {
    let (_dir, mut reg, dk) = registry();
    // Each revocation, having counted the other admins, waits until the
    // other one has counted too or waits for the lock: without the lock
    // both see "one other admin left" every time.
    reg.race = Some(Arc::default());
    let (_, a) = reg.create(&dk, admin("a")).await.expect("create");
    let (_, b) = reg.create(&dk, admin("b")).await.expect("create");
    let (ra, rb) = tokio::join!(reg.revoke_admin(&dk, &a.id), reg.revoke_admin(&dk, &b.id));
    let revoked = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Ok(Some(_))))
        .count();
    let refused = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Err(RevokeAdminError::LastAdmin)))
        .count();
    assert_eq!((revoked, refused), (1, 1), "{ra:?} {rb:?}");
    let left = reg.list(&dk, Some(TokenKind::Admin)).await.expect("list");
    assert_eq!(left.len(), 1);
}

#[test]
fn token_ids_have_one_shape() {
    assert!(is_token_id(&make_id()));
    for bad in [
        "",
        "tok_",
        "tok_0123456789abcdeF",
        "tok_0123456789abcdef0",
        "../../x",
    ] {
        assert!(!is_token_id(bad), "{bad}");
    }
}

#[test]
fn records_without_last_use_still_open() {
    let old = r#"{"id":"tok_0123456789abcdef","kind":"admin","name":"a","connections":[],
        "created_at":"2026-01-01T00:00:00Z","expires_at":null}"#;
    let r: TokenRecord = serde_json::from_str(old).expect("old record");
    assert_eq!(r.last_used_at, None);
}

#[tokio::test]
async fn a_cached_verification_does_not_outlive_a_revocation() {
    let (_dir, reg, dk) = registry();
    let (plain, record) = reg
        .create(
            &dk,
            NewToken::service("b".into(), vec!["*".into()], None).expect("new"),
        )
        .await
        .expect("create");
    // First use reads the store and caches; the second is served from memory.
    reg.authenticate(&dk, plain.expose()).await.expect("first");
    reg.authenticate(&dk, plain.expose()).await.expect("cached");
    reg.revoke(&dk, &record.id).await.expect("revoke");
    assert!(matches!(
        reg.authenticate(&dk, plain.expose()).await,
        Err(AuthError::Unknown)
    ));
}

#[tokio::test]
async fn a_cached_verification_still_checks_expiry() {
    let (_dir, reg, dk) = registry();
    let (plain, _) = reg
        .create(
            &dk,
            NewToken::service("b".into(), vec!["*".into()], Some(1)).expect("new"),
        )
        .await
        .expect("create");
    reg.authenticate(&dk, plain.expose()).await.expect("fresh");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(matches!(
        reg.authenticate(&dk, plain.expose()).await,
        Err(AuthError::Expired)
    ));
}

#[tokio::test]
async fn a_revocation_made_through_another_registry_drops_the_cached_verification() {
    // Two registries over one store and one coordinator, as two vault
    // processes would be: `reader` has the token cached when `revoker`
    // revokes it.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("sled")));
    let coord = Arc::new(LocalCoordinator::new());
    let revoker = TokenRegistry::new(store.clone(), coord.clone());
    let reader = TokenRegistry::new(store, coord);
    let dk = DataKey::make();
    let (plain, record) = revoker
        .create(
            &dk,
            NewToken::service("b".into(), vec!["*".into()], None).expect("new"),
        )
        .await
        .expect("create");
    reader
        .authenticate(&dk, plain.expose())
        .await
        .expect("first");
    reader
        .authenticate(&dk, plain.expose())
        .await
        .expect("cached");
    revoker.revoke(&dk, &record.id).await.expect("revoke");
    assert!(matches!(
        reader.authenticate(&dk, plain.expose()).await,
        Err(AuthError::Unknown)
    ));
}

/// The sled store, with reads of the token tree and writes counted and
/// held while their gate is closed.
struct Gated {
    inner: SledStore,
    reads: std::sync::atomic::AtomicUsize,
    reads_open: tokio::sync::watch::Receiver<bool>,
    applies: std::sync::atomic::AtomicUsize,
    applies_open: tokio::sync::watch::Receiver<bool>,
}

type Gate = tokio::sync::watch::Sender<bool>;

impl Gated {
    /// Both gates open.
    fn open(dir: &std::path::Path) -> (Arc<Self>, Gate, Gate) {
        let (reads, reads_open) = tokio::sync::watch::channel(true);
        let (applies, applies_open) = tokio::sync::watch::channel(true);
        let store = Gated {
            inner: SledStore::open(dir).expect("sled"),
            reads: Default::default(),
            reads_open,
            applies: Default::default(),
            applies_open,
        };
        (Arc::new(store), reads, applies)
    }

    fn count(n: &std::sync::atomic::AtomicUsize) -> usize {
        n.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn pass(count: &std::sync::atomic::AtomicUsize, gate: &tokio::sync::watch::Receiver<bool>) {
    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _ = gate.clone().wait_for(|open| *open).await;
}

#[async_trait::async_trait]
impl crate::store::Store for Gated {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if tree == Tree::Tokens {
            pass(&self.reads, &self.reads_open).await;
        }
        self.inner.get(tree, key).await
    }
    async fn scan(&self, scan: crate::store::Scan) -> Result<crate::store::Entries, StoreError> {
        self.inner.scan(scan).await
    }
    async fn apply(&self, ops: Vec<crate::store::Op>) -> Result<(), StoreError> {
        pass(&self.applies, &self.applies_open).await;
        self.inner.apply(ops).await
    }
    async fn compare_and_swap(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<Result<(), crate::store::Conflict>, StoreError> {
        self.inner.compare_and_swap(tree, key, expected, new).await
    }
    async fn compare_and_swap_with(
        &self,
        tree: Tree,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        also: Vec<crate::store::Op>,
    ) -> Result<Result<(), crate::store::Conflict>, StoreError> {
        self.inner
            .compare_and_swap_with(tree, key, expected, new, also)
            .await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

fn gated_registry(store: &Arc<Gated>) -> TokenRegistry {
    TokenRegistry::new(
        AsyncStore::new(Arc::clone(store) as Arc<dyn crate::store::Store>),
        Arc::new(LocalCoordinator::new()),
    )
}

fn service(name: &str) -> NewToken {
    NewToken::service(name.into(), vec!["crm".into()], None).expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_callers_with_a_token_not_yet_verified_reads_it_from_the_store_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, reads, _) = Gated::open(dir.path());
    let reg = gated_registry(&store);
    let dk = Arc::new(DataKey::make());
    let (plain, _) = reg.create(&dk, service("svc")).await.expect("create");
    reads.send(false).expect("close the gate");

    let callers: Vec<_> = (0..20)
        .map(|_| {
            let (reg, dk, token) = (reg.clone(), Arc::clone(&dk), plain.expose().to_string());
            tokio::spawn(async move { reg.authenticate(&dk, &token).await })
        })
        .collect();
    // Every caller waits: on the one read, or (were reads not shared) on
    // a read of its own.
    while reg.reading() < 20 && Gated::count(&store.reads) < 20 {
        tokio::task::yield_now().await;
    }
    reads.send(true).expect("open the gate");
    for c in callers {
        c.await.expect("caller").expect("authenticated");
    }
    assert_eq!(Gated::count(&store.reads), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_read_while_the_revocation_deletes_the_token_is_not_trusted_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, applies) = Gated::open(dir.path());
    let reg = gated_registry(&store);
    let dk = Arc::new(DataKey::make());
    let (plain, record) = reg.create(&dk, service("svc")).await.expect("create");

    applies.send(false).expect("hold the delete");
    let before = Gated::count(&store.applies);
    let revoking = {
        let (reg, dk, id) = (reg.clone(), Arc::clone(&dk), record.id.clone());
        tokio::spawn(async move { reg.revoke(&dk, &id).await })
    };
    while Gated::count(&store.applies) == before {
        tokio::task::yield_now().await;
    }
    // Revoked in memory, not yet in the store: a request now still finds
    // the record (it started before the revocation returned).
    reg.authenticate(&dk, plain.expose())
        .await
        .expect("the record is still stored");
    applies.send(true).expect("let the delete through");
    revoking
        .await
        .expect("task")
        .expect("revoke")
        .expect("it existed");

    assert!(matches!(
        reg.authenticate(&dk, plain.expose()).await,
        Err(AuthError::Unknown)
    ));
}
