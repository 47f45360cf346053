//! Admin console sessions as PostgreSQL holds them (cluster mode): the
//! sealed record round-trips, and neither the row's bytes nor a
//! `pg_dump` show the session id, its CSRF token or the admin token.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use zoho_vault::auth::{make_token, NewToken};
use zoho_vault::console_sessions::{csrf_token, id_hash, SessionRecord, StoredSessions};
use zoho_vault::crypto::keys::DataKey;
use zoho_vault::store::postgres::PgStore;
use zoho_vault::store::records::open_value;
use zoho_vault::store::{AsyncStore, Tree};

use crate::pg;

/// The text, and the hex pg_dump writes bytea in.
fn found(haystack: &str, secret: &str) -> bool {
    haystack.contains(secret) || haystack.contains(&hex::encode(secret.as_bytes()))
}

fn in_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_session_row_round_trips_and_holds_no_secret_in_the_clear() {
    let Some(db) = pg::database().await else {
        return;
    };
    let pg_store = PgStore::connect(&db.url, 4).await.expect("open");
    let store = AsyncStore::new(Arc::new(pg_store.clone()));
    let key = DataKey::make();
    let (admin, record, ops) = make_token(
        &key,
        NewToken::admin("root".into(), None).expect("admin token"),
    )
    .expect("token");
    store.apply(ops).await.expect("store the admin token");
    let sessions = StoredSessions::new(store.clone(), Duration::from_secs(3600), 100);
    let now = OffsetDateTime::now_utc();
    let (id, started) = sessions.start(&key, &record.id, now).await.expect("start");

    // Another handle on the same database (another replica) finds it.
    let other = StoredSessions::new(
        AsyncStore::new(Arc::new(
            PgStore::connect(&db.url, 2).await.expect("open again"),
        )),
        Duration::from_secs(3600),
        100,
    );
    let back = other.get(&key, &id, now).await.expect("get").expect("live");
    assert_eq!(back.token_id, record.id);
    assert_eq!(back.expires_at, started.expires_at);
    assert_eq!(back.created_at, now);

    // The row: keyed by the id's hash, its value sealed to that key.
    let raw = pg_store
        .get(Tree::ConsoleSessions, &id_hash(&id))
        .await
        .expect("get")
        .expect("a row");
    let opened: SessionRecord = open_value(&key, &id_hash(&id), &raw).expect("opens");
    assert_eq!(opened.token_id, record.id);
    let csrf = csrf_token(&key, &id);
    for (what, secret) in [
        ("session id", id.as_bytes().to_vec()),
        ("session id bytes", hex::decode(&id).expect("hex")),
        ("CSRF token", csrf.as_bytes().to_vec()),
        ("admin token", admin.expose().as_bytes().to_vec()),
        ("admin token id", record.id.as_bytes().to_vec()),
    ] {
        assert!(!in_bytes(&raw, &secret), "the row's value holds the {what}");
    }

    let Some(pg_dump) = pg::tool("pg_dump") else {
        panic!("pg_dump not found beside the PostgreSQL server binaries");
    };
    let out = Command::new(&pg_dump)
        .arg("--dbname")
        .arg(&db.url)
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(dump.contains("console_sessions"), "the dump has the row");
    for (what, secret) in [
        ("session id", id.as_str()),
        ("CSRF token", csrf.as_str()),
        ("admin token", admin.expose()),
    ] {
        assert!(!found(&dump, secret), "the dump holds the {what}");
    }

    // Logout on one handle ends it for the other.
    sessions.end(&id).await.expect("end");
    assert!(other.get(&key, &id, now).await.expect("get").is_none());
}
