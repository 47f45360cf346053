//! What only the PostgreSQL backend has: its schema, its transactions, its
//! connection errors.

use zoho_vault::store::postgres::PgStore;
use zoho_vault::store::{StoreError, Tree};

use crate::backend::{delete, put};
use crate::pg;

#[tokio::test]
async fn opening_applies_the_embedded_schema_once_and_reopening_keeps_the_data() {
    let Some(db) = pg::database().await else {
        return;
    };
    let first = PgStore::connect(&db.url, 2).await.expect("open");
    first
        .apply(vec![put(Tree::Meta, b"k", b"v")])
        .await
        .expect("put");
    let second = PgStore::connect(&db.url, 2).await.expect("open again");
    assert_eq!(
        second.get(Tree::Meta, b"k").await.expect("get"),
        Some(b"v".to_vec())
    );
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(second.pool())
            .await
            .expect("migrations table");
    let expected: Vec<i64> = (1..=PgStore::schema_version()).collect();
    assert_eq!(versions, expected, "every migration recorded once");
    assert_eq!(second.backend(), "postgres");
}

#[tokio::test]
async fn a_batch_that_postgresql_rejects_midway_leaves_nothing() {
    let Some(db) = pg::database().await else {
        return;
    };
    let store = PgStore::connect(&db.url, 2).await.expect("open");
    store
        .apply(vec![
            put(Tree::Tokens, b"poison", b"p"),
            put(Tree::Tokens, b"kept", b"1"),
        ])
        .await
        .expect("seed");
    // The batch's puts go first, then its deletes: refusing the delete of
    // `poison` fails the batch after the puts were already written.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
           BEGIN IF OLD.key = 'poison'::bytea THEN RAISE EXCEPTION 'refused'; END IF; RETURN OLD; END $$; \
         CREATE TRIGGER refuse BEFORE DELETE ON zv_records FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(store.pool())
    .await
    .expect("install the trigger");
    let result = store
        .apply(vec![
            put(Tree::Tokens, b"new", b"n"),
            put(Tree::Tokens, b"kept", b"2"),
            put(Tree::Meta, b"other-kind", b"m"),
            delete(Tree::Tokens, b"poison"),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    assert_eq!(store.get(Tree::Tokens, b"new").await.expect("get"), None);
    assert_eq!(
        store.get(Tree::Meta, b"other-kind").await.expect("get"),
        None
    );
    assert_eq!(
        store.get(Tree::Tokens, b"kept").await.expect("get"),
        Some(b"1".to_vec())
    );
    assert_eq!(
        store.get(Tree::Tokens, b"poison").await.expect("get"),
        Some(b"p".to_vec())
    );
}

#[tokio::test]
async fn a_connection_failure_names_the_server_but_never_the_password() {
    // Port 1 on loopback: nothing listens there.
    let err = match PgStore::connect("postgres://vault:hunter2@127.0.0.1:1/vault", 1).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    let err = match PgStore::connect("postgres://vault:hunter2@127.0.0.1:notaport/vault", 1).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("not a URL"),
    };
    assert!(!err.contains("hunter2"), "{err}");
}
