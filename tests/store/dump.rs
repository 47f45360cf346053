//! A `pg_dump` of a vault's database holds no plaintext secret.

use std::process::Command;

use secrecy::SecretString;
use time::OffsetDateTime;
use zoho_vault::auth::{make_token, NewToken};
use zoho_vault::crypto::keys::DataKey;
use zoho_vault::crypto::token::TokenKind;
use zoho_vault::model::connection::{CachedToken, ConnectionRecord, Health, Source};
use zoho_vault::store::postgres::PgStore;
use zoho_vault::store::records::{open_value, seal_op};
use zoho_vault::store::Tree;
use zoho_vault::zoho::DataCenter;

use crate::backend::put;
use crate::pg;

const CLIENT_SECRET: &str = "PLANTED-client-secret-5f1d0c";
const REFRESH_TOKEN: &str = "1000.PLANTED-refresh-token.9a8b7c";
const ACCESS_TOKEN: &str = "1000.PLANTED-access-token.3e2d1f";
/// Stored unsealed on purpose: proves the scan sees inside bytea columns.
const CONTROL: &str = "CONTROL-unsealed-marker-77aa";

/// The ways a secret's bytes can show up in a dump: as text, and as the hex
/// pg_dump writes bytea in.
fn forms(secret: &str) -> [String; 2] {
    [secret.to_string(), hex::encode(secret.as_bytes())]
}

fn found(dump: &str, secret: &str) -> bool {
    forms(secret).iter().any(|f| dump.contains(f.as_str()))
}

#[tokio::test]
async fn a_pg_dump_of_a_filled_vault_database_contains_no_planted_secret() {
    let Some(db) = pg::database().await else {
        return;
    };
    let Some(pg_dump) = pg::tool("pg_dump") else {
        panic!("pg_dump not found beside the PostgreSQL server binaries");
    };
    let store = PgStore::connect(&db.url, 4).await.expect("open");
    let key = DataKey::make();
    let now = OffsetDateTime::now_utc();
    let connection = ConnectionRecord {
        name: "acme".into(),
        client_id: "1000.CLIENTID".into(),
        client_secret: SecretString::from(CLIENT_SECRET.to_string()).into(),
        refresh_token: Some(SecretString::from(REFRESH_TOKEN.to_string()).into()),
        redirect_uri: None,
        scopes: vec!["ZohoBooks.fullaccess.all".into()],
        data_center: Some(DataCenter::Com),
        accounts_url: "https://accounts.zoho.com".into(),
        api_domain: "https://www.zohoapis.com".into(),
        source: Source::RefreshToken,
        created_at: now,
        updated_at: now,
        health: Health::active(now),
        mints: vec![now.unix_timestamp()],
    };
    let cached = CachedToken {
        access_token: SecretString::from(ACCESS_TOKEN.to_string()).into(),
        api_domain: "https://www.zohoapis.com".into(),
        expires_at: now,
        minted_at: now,
    };
    let (bearer, _, token_ops) = make_token(
        &key,
        NewToken {
            kind: TokenKind::Service,
            name: "billing".into(),
            connections: vec!["acme".into()],
            ttl: None,
            access: Default::default(),
            proxy_paths: Vec::new(),
        },
    )
    .expect("token");
    let mut ops = vec![
        seal_op(&key, b"acme", &connection).expect("seal connection"),
        seal_op(&key, b"acme", &cached).expect("seal token"),
        put(Tree::Meta, b"control", CONTROL.as_bytes()),
    ];
    ops.extend(token_ops);
    store.apply(ops).await.expect("apply");

    // The stored values are the sealed records themselves: they open.
    let sealed = store
        .get(Tree::Connections, b"acme")
        .await
        .expect("get")
        .expect("stored");
    let back: ConnectionRecord = open_value(&key, b"acme", &sealed).expect("opens");
    assert_eq!(back.client_id, "1000.CLIENTID");

    let out = Command::new(&pg_dump)
        .arg("--dbname")
        .arg(&db.url)
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(
        dump.contains("zv_records"),
        "the dump has the records table"
    );
    assert!(found(&dump, CONTROL), "the scan sees an unsealed value");
    for secret in [CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, bearer.expose()] {
        assert!(
            !found(&dump, secret),
            "a secret is in the dump in the clear"
        );
    }
}
