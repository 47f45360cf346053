//! The stored sessions over the embedded store (the logic does not
//! depend on the backend; PostgreSQL is covered by `tests/store` and
//! `tests/cluster`).

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::store::sled::SledStore;

fn sessions(dir: &tempfile::TempDir, max: usize) -> StoredSessions {
    let store = AsyncStore::new(Arc::new(SledStore::open(dir.path()).expect("open")));
    StoredSessions::new(store, Duration::from_secs(60), max)
}

#[tokio::test]
async fn a_session_is_found_until_it_expires_or_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sessions(&dir, 10);
    let dk = DataKey::make();
    let now = OffsetDateTime::now_utc();
    let (a, rec) = s
        .start(&dk, "tok_0000000000000001", now)
        .await
        .expect("start");
    assert_eq!(rec.expires_at, now + Duration::from_secs(60));
    let got = s.get(&dk, &a, now).await.expect("get").expect("live");
    assert_eq!(got.token_id, "tok_0000000000000001");
    assert!(
        s.get(&DataKey::make(), &a, now)
            .await
            .expect("get")
            .is_none(),
        "another key opens nothing"
    );
    let later = now + Duration::from_secs(61);
    assert!(s.get(&dk, &a, later).await.expect("get").is_none());
    assert!(
        s.get(&dk, &a, now).await.expect("get").is_none(),
        "an expired session is deleted"
    );
    let (b, _) = s
        .start(&dk, "tok_0000000000000001", now)
        .await
        .expect("start");
    s.end(&b).await.expect("end");
    assert!(s.get(&dk, &b, now).await.expect("get").is_none());
}

#[tokio::test]
async fn a_flash_is_taken_once_and_never_revives_an_ended_session() {
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sessions(&dir, 10);
    let dk = DataKey::make();
    let now = OffsetDateTime::now_utc();
    let (id, _) = s
        .start(&dk, "tok_0000000000000001", now)
        .await
        .expect("start");
    let secret = SecretString::from("zvs_flash".to_string());
    assert!(s
        .put_flash(&dk, &id, secret.clone(), now)
        .await
        .expect("put"));
    let taken = s
        .take_flash(&dk, &id, now)
        .await
        .expect("take")
        .expect("a flash");
    assert_eq!(taken.expose_secret(), "zvs_flash");
    assert!(
        s.take_flash(&dk, &id, now).await.expect("take").is_none(),
        "once"
    );
    assert!(
        s.get(&dk, &id, now).await.expect("get").is_some(),
        "the session lives on"
    );
    s.end(&id).await.expect("end");
    assert!(!s.put_flash(&dk, &id, secret, now).await.expect("put"));
    assert!(
        s.get(&dk, &id, now).await.expect("get").is_none(),
        "not revived"
    );
}

#[tokio::test]
async fn a_second_flash_never_replaces_one_not_yet_shown() {
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sessions(&dir, 10);
    let dk = DataKey::make();
    let now = OffsetDateTime::now_utc();
    let (id, _) = s
        .start(&dk, "tok_0000000000000001", now)
        .await
        .expect("start");
    let put = |v: &str| s.put_flash(&dk, &id, SecretString::from(v.to_string()), now);
    assert!(put("zvs_1").await.expect("put"));
    assert!(
        !put("zvs_2").await.expect("put"),
        "refused, so the caller shows it at once"
    );
    let taken = s
        .take_flash(&dk, &id, now)
        .await
        .expect("take")
        .expect("a flash");
    assert_eq!(taken.expose_secret(), "zvs_1");
    assert!(put("zvs_3").await.expect("put"));
}

#[tokio::test]
async fn a_login_sweeps_expired_sessions_and_keeps_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sessions(&dir, 2);
    let dk = DataKey::make();
    let now = OffsetDateTime::now_utc();
    let at = |secs| now + Duration::from_secs(secs);
    let (old, _) = s
        .start(&dk, "tok_0000000000000001", now)
        .await
        .expect("start");
    let (b, _) = s
        .start(&dk, "tok_0000000000000001", at(10))
        .await
        .expect("start");
    let (c, _) = s
        .start(&dk, "tok_0000000000000001", at(20))
        .await
        .expect("start");
    assert!(
        s.get(&dk, &old, at(20)).await.expect("get").is_none(),
        "the oldest made room"
    );
    assert!(s.get(&dk, &b, at(20)).await.expect("get").is_some());
    // Past b's and c's expiry, a login into the full table leaves only
    // itself.
    let (d, _) = s
        .start(&dk, "tok_0000000000000001", at(200))
        .await
        .expect("start");
    // Read as of before its expiry: only a deleted row is absent.
    assert!(
        s.get(&dk, &c, at(20)).await.expect("get").is_none(),
        "swept by the login"
    );
    let live = s.sweep(&dk, at(200)).await.expect("sweep");
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].0, id_hash(&d).to_vec());
}

#[tokio::test]
async fn the_periodic_sweep_deletes_expired_sessions_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sessions(&dir, 10);
    let dk = DataKey::make();
    let now = OffsetDateTime::now_utc();
    let (early, _) = s
        .start(&dk, "tok_0000000000000001", now)
        .await
        .expect("start");
    let later = now + Duration::from_secs(30);
    let (late, _) = s
        .start(&dk, "tok_0000000000000001", later)
        .await
        .expect("start");
    let live = s
        .sweep(&dk, now + Duration::from_secs(70))
        .await
        .expect("sweep");
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].0, id_hash(&late).to_vec());
    assert!(
        s.get(&dk, &early, now).await.expect("get").is_none(),
        "deleted"
    );
    assert!(s.get(&dk, &late, now).await.expect("get").is_some());
}

#[test]
fn the_csrf_token_depends_on_the_id_and_the_key() {
    let key = DataKey::make();
    let (a, b) = (new_id(), new_id());
    assert_eq!(a.len(), 64);
    assert_eq!(csrf_token(&key, &a), csrf_token(&key, &a));
    assert_ne!(csrf_token(&key, &a), csrf_token(&key, &b));
    assert_ne!(csrf_token(&key, &a), csrf_token(&DataKey::make(), &a));
    assert_ne!(csrf_token(&key, &a), a);
}

#[test]
fn a_row_with_a_field_this_release_does_not_know_still_reads() {
    // As a newer replica might write it during a rolling upgrade.
    let json = r#"{"token_id":"tok_0000000000000001",
        "created_at":"2026-12-02T00:00:00Z","expires_at":"2026-12-02T08:00:00Z",
        "shown_at":"2026-12-02T00:01:00Z"}"#;
    let r: SessionRecord = serde_json::from_str(json).expect("the unknown field is ignored");
    assert_eq!(r.token_id, "tok_0000000000000001");
    assert!(r.flash.is_none());
}
