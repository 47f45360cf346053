//! Unit tests of the PostgreSQL backend that need no database.

use super::*;

#[test]
fn redaction_hides_the_password_in_the_authority_and_the_query() {
    let r = redact_url("postgres://vault:s3cr%40t@db.internal:5432/vault?sslmode=require");
    assert_eq!(
        r,
        "postgres://vault:***@db.internal:5432/vault?sslmode=require"
    );
    let r = redact_url("postgresql://db/vault?user=v&password=hunter2");
    assert!(!r.contains("hunter2"), "{r}");
    assert!(r.contains("user=v"), "{r}");
    assert_eq!(
        redact_url("host=db password=hunter2"),
        "[unparseable URL, not shown]"
    );
    assert_eq!(redact_url("postgres://db/vault"), "postgres://db/vault");
}

#[test]
fn a_batch_keeps_the_last_write_per_key_in_key_order() {
    let put = |k: &[u8], v: &[u8]| Op::Put {
        tree: Tree::Tokens,
        key: k.to_vec(),
        value: v.to_vec(),
    };
    let b = Batch::collapse(vec![
        put(b"b", b"1"),
        put(b"a", b"2"),
        Op::Delete {
            tree: Tree::Tokens,
            key: b"b".to_vec(),
        },
        put(b"c", b"3"),
        put(b"c", b"4"),
    ]);
    assert_eq!(b.put_keys, vec![b"a".to_vec(), b"c".to_vec()]);
    assert_eq!(b.put_values, vec![b"2".to_vec(), b"4".to_vec()]);
    assert_eq!(b.del_keys, vec![b"b".to_vec()]);
}

#[test]
fn the_embedded_schema_has_a_version() {
    assert!(PgStore::schema_version() >= 1);
}
