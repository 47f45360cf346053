//! Property tests (proptest) for the record sealing and the input parsers:
//! seal/open round trips, nonce uniqueness, associated-data binding, and
//! parsers that never panic on arbitrary input.

use std::collections::HashSet;

use proptest::prelude::*;
use zoho_vault::connections::upload::{validate_name, UploadRequest};
use zoho_vault::crypto::aead::{RecordId, OVERHEAD};
use zoho_vault::crypto::keys::DataKey;
use zoho_vault::crypto::token::parse_bearer;

fn config() -> ProptestConfig {
    // Debug builds on a small machine: enough cases to matter, few enough
    // to stay fast (the crypto crates are optimised even in debug).
    ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    }
}

fn id<'a>(tree: &'a str, key: &'a [u8], schema: u8) -> RecordId<'a> {
    RecordId { tree, key, schema }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn seal_then_open_round_trips_any_record(
        tree in "[a-z_]{1,20}",
        key in proptest::collection::vec(any::<u8>(), 0..64),
        schema in any::<u8>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let dk = DataKey::make();
        let sealed = dk.seal(&id(&tree, &key, schema), &plaintext).expect("seal");
        prop_assert_eq!(sealed.len(), plaintext.len() + OVERHEAD);
        let opened = dk.open(&id(&tree, &key, schema), &sealed).expect("open");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn nonces_never_repeat(plaintext in proptest::collection::vec(any::<u8>(), 0..64)) {
        let dk = DataKey::make();
        let mut nonces = HashSet::new();
        for _ in 0..64 {
            let sealed = dk.seal(&id("t", b"k", 1), &plaintext).expect("seal");
            prop_assert!(nonces.insert(sealed[1..25].to_vec()), "a nonce repeated");
        }
    }

    #[test]
    fn a_ciphertext_opens_only_as_the_record_it_was_sealed_for(
        tree in "[a-z_]{1,12}",
        other_tree in "[a-z_]{1,12}",
        key in proptest::collection::vec(any::<u8>(), 0..32),
        other_key in proptest::collection::vec(any::<u8>(), 0..32),
        schema in any::<u8>(),
        other_schema in any::<u8>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        prop_assume!((&tree, &key, schema) != (&other_tree, &other_key, other_schema));
        let dk = DataKey::make();
        let sealed = dk.seal(&id(&tree, &key, schema), &plaintext).expect("seal");
        prop_assert!(dk.open(&id(&other_tree, &other_key, other_schema), &sealed).is_err());
        // And never under another data key.
        prop_assert!(DataKey::make().open(&id(&tree, &key, schema), &sealed).is_err());
    }

    #[test]
    fn any_altered_byte_fails_to_open(
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let dk = DataKey::make();
        let mut sealed = dk.seal(&id("t", b"k", 1), &plaintext).expect("seal");
        let i = position.index(sealed.len());
        sealed[i] ^= flip;
        prop_assert!(dk.open(&id("t", b"k", 1), &sealed).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_open_and_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let dk = DataKey::make();
        prop_assert!(dk.open(&id("t", b"k", 1), &bytes).is_err());
    }

    #[test]
    fn parse_bearer_never_panics_and_accepts_only_our_shape(s in "\\PC{0,80}") {
        if let Some((kind, _)) = parse_bearer(&s) {
            prop_assert!(s.starts_with(kind.prefix()));
            prop_assert_eq!(s.len(), 47);
        }
    }

    #[test]
    fn accepted_connection_names_match_the_contract(s in "\\PC{0,140}") {
        if validate_name(&s).is_ok() {
            prop_assert!((1..=128).contains(&s.len()));
            prop_assert!(s != "." && s != "..");
            prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        }
    }

    #[test]
    fn upload_bodies_never_panic_the_parser(
        client_id in proptest::option::of("\\PC{0,300}"),
        secret in proptest::option::of("\\PC{0,20}"),
        code in proptest::option::of("\\PC{0,20}"),
        refresh_token in proptest::option::of("\\PC{0,20}"),
        grant_type in proptest::option::of("\\PC{0,30}"),
        data_center in proptest::option::of("[a-z.]{0,8}"),
        expiry_time in proptest::option::of(any::<i64>()),
        scope in proptest::option::of("\\PC{0,40}"),
    ) {
        let mut body = serde_json::Map::new();
        let mut put = |k: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                body.insert(k.into(), v);
            }
        };
        put("client_id", client_id.map(Into::into));
        put("client_secret", secret.map(Into::into));
        put("code", code.map(Into::into));
        put("refresh_token", refresh_token.map(Into::into));
        put("grant_type", grant_type.map(Into::into));
        put("data_center", data_center.map(Into::into));
        put("expiry_time", expiry_time.map(Into::into));
        put("scope", scope.map(Into::into));
        let text = serde_json::Value::Object(body).to_string();
        if let Ok(req) = serde_json::from_str::<UploadRequest>(&text) {
            let _ = req.grant();
            let _ = req.code_expires_at();
        }
    }

    #[test]
    fn arbitrary_json_text_never_panics_the_upload_parser(s in "\\PC{0,200}") {
        if let Ok(req) = serde_json::from_str::<UploadRequest>(&s) {
            let _ = req.grant();
            let _ = req.code_expires_at();
        }
    }
}
