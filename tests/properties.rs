//! Property tests (proptest) for the record sealing and the input parsers:
//! seal/open round trips, nonce uniqueness, associated-data binding (one
//! part of the record identity at a time), parsers that never panic on
//! arbitrary input, and parsers that accept exactly their contract on
//! inputs generated near it (so every case reaches an assertion).

use std::collections::HashSet;

use proptest::prelude::*;
use zoho_vault::connections::upload::UploadRequest;
use zoho_vault::crypto::aead::{RecordId, OVERHEAD};
use zoho_vault::crypto::keys::DataKey;
use zoho_vault::crypto::token::{parse_bearer, TokenHash, TokenKind};
use zoho_vault::model::ConnectionName;

fn config() -> ProptestConfig {
    // Debug builds on a small machine: enough cases to matter, few enough
    // to stay fast (the crypto crates are optimised even in debug).
    ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    }
}

/// The 43 characters after a token's prefix (URL-safe base64, no padding).
const TOKEN_BODY: &str = "[A-Za-z0-9_-]{43}";

/// The token contract, written out independently of the parser: `zva_` or
/// `zvs_`, then exactly 43 URL-safe base64 characters.
fn token_shape(s: &str) -> Option<TokenKind> {
    let (kind, body) = if let Some(body) = s.strip_prefix("zva_") {
        (TokenKind::Admin, body)
    } else {
        (TokenKind::Service, s.strip_prefix("zvs_")?)
    };
    let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    (body.chars().count() == 43 && body.chars().all(alphabet)).then_some(kind)
}

/// The connection-name contract: 1 to 128 of `A-Z a-z 0-9 . _ -`, not `.`
/// or `..`.
fn name_shape(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// One edit of `base`: a character replaced, inserted or removed.
fn edited(base: String, edit: u8, at: prop::sample::Index, c: char) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    let i = at.index(chars.len().max(1)).min(chars.len());
    match edit % 3 {
        0 if i < chars.len() => chars[i] = c,
        1 => chars.insert(i, c),
        _ if i < chars.len() => {
            chars.remove(i);
        }
        _ => chars.push(c),
    }
    chars.into_iter().collect()
}

/// Strings near the token shape and far from it, so both answers of the
/// parser are reached in every run.
fn bearer_candidates() -> impl Strategy<Value = String> {
    let valid = ("zv[as]_", TOKEN_BODY).prop_map(|(p, b)| format!("{p}{b}"));
    let near = (
        valid.clone(),
        any::<u8>(),
        any::<prop::sample::Index>(),
        any::<char>(),
    )
        .prop_map(|(t, e, at, c)| edited(t, e, at, c));
    let other_prefix = ("[a-z]{3}_", TOKEN_BODY).prop_map(|(p, b)| format!("{p}{b}"));
    prop_oneof![valid, near, other_prefix, "\\PC{0,80}"]
}

/// Names near the contract's edges and far from them.
fn name_candidates() -> impl Strategy<Value = String> {
    let valid = "[A-Za-z0-9._-]{1,128}";
    let near = (
        valid,
        any::<u8>(),
        any::<prop::sample::Index>(),
        any::<char>(),
    )
        .prop_map(|(n, e, at, c)| edited(n, e, at, c));
    let long = "[a-z]{127,130}";
    let dots = prop_oneof![
        Just(".".to_string()),
        Just("..".to_string()),
        Just("...".to_string())
    ];
    prop_oneof![valid, near, long, dots, "\\PC{0,140}"]
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

    // Each property below changes exactly one part of the record's
    // identity, so dropping that part from the associated data fails it.

    #[test]
    fn a_ciphertext_does_not_open_under_another_key(
        tree in "[a-z_]{1,12}",
        key in proptest::collection::vec(any::<u8>(), 0..32),
        other_key in proptest::collection::vec(any::<u8>(), 0..32),
        schema in any::<u8>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        prop_assume!(key != other_key);
        let dk = DataKey::make();
        let sealed = dk.seal(&id(&tree, &key, schema), &plaintext).expect("seal");
        prop_assert!(dk.open(&id(&tree, &other_key, schema), &sealed).is_err());
    }

    #[test]
    fn a_ciphertext_does_not_open_in_another_tree(
        tree in "[a-z_]{1,12}",
        other_tree in "[a-z_]{1,12}",
        key in proptest::collection::vec(any::<u8>(), 0..32),
        schema in any::<u8>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        prop_assume!(tree != other_tree);
        let dk = DataKey::make();
        let sealed = dk.seal(&id(&tree, &key, schema), &plaintext).expect("seal");
        prop_assert!(dk.open(&id(&other_tree, &key, schema), &sealed).is_err());
    }

    #[test]
    fn a_ciphertext_does_not_open_under_another_schema_version(
        tree in "[a-z_]{1,12}",
        key in proptest::collection::vec(any::<u8>(), 0..32),
        schema in any::<u8>(),
        other_schema in any::<u8>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        prop_assume!(schema != other_schema);
        let dk = DataKey::make();
        let sealed = dk.seal(&id(&tree, &key, schema), &plaintext).expect("seal");
        prop_assert!(dk.open(&id(&tree, &key, other_schema), &sealed).is_err());
    }

    #[test]
    fn moving_bytes_between_tree_and_key_does_not_open(
        tree in "[a-z_]{2,12}",
        key in proptest::collection::vec(any::<u8>(), 0..32),
        split in any::<prop::sample::Index>(),
        schema in any::<u8>(),
    ) {
        // ("ab", "c") and ("a", "bc") concatenate alike: the identity must
        // still tell them apart.
        let cut = 1 + split.index(tree.len() - 1);
        let (head, tail) = tree.split_at(cut);
        let moved_key = [tail.as_bytes(), &key].concat();
        let dk = DataKey::make();
        let sealed = dk.seal(&id(&tree, &key, schema), b"value").expect("seal");
        prop_assert!(dk.open(&id(head, &moved_key, schema), &sealed).is_err());
    }

    #[test]
    fn a_ciphertext_does_not_open_under_another_data_key(
        tree in "[a-z_]{1,12}",
        key in proptest::collection::vec(any::<u8>(), 0..32),
        schema in any::<u8>(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let sealed = DataKey::make().seal(&id(&tree, &key, schema), &plaintext).expect("seal");
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
    fn well_formed_tokens_parse_to_their_kind_and_hash(
        admin in any::<bool>(),
        body in TOKEN_BODY,
    ) {
        let kind = if admin { TokenKind::Admin } else { TokenKind::Service };
        let token = format!("{}{body}", kind.prefix());
        let (parsed, hash) = parse_bearer(&token).expect("a well-formed token parses");
        prop_assert_eq!(parsed, kind);
        prop_assert!(hash == TokenHash::of(&token), "the hash is of the whole token");
    }

    #[test]
    fn parse_bearer_accepts_exactly_our_shape(s in bearer_candidates()) {
        // Valid tokens, tokens with one edit, and arbitrary text: whichever
        // it is, the parser agrees with the written-out contract.
        let parsed = parse_bearer(&s).map(|(kind, _)| kind);
        prop_assert_eq!(parsed, token_shape(&s), "{:?}", s);
    }

    #[test]
    fn connection_names_are_accepted_exactly_per_the_contract(s in name_candidates()) {
        prop_assert_eq!(ConnectionName::parse(s.clone()).is_ok(), name_shape(&s), "{:?}", s);
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
