//! The JSON decoders of every sealed record kind, behind a valid seal.
//! `sealed_record` feeds arbitrary bytes to the AEAD layer, where they
//! never authenticate, so the decoding after it is never reached there.
//! Here the input is sealed first under the record kind's own identity
//! (tree, key, schema), so `open_value` always gets past decryption and
//! hands the fuzzer's bytes to the typed JSON decoder. It must never panic,
//! and whatever it accepts must encode and decode again.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zoho_vault::auth::record::TokenRecord;
use zoho_vault::connections::redirect::StateRecord;
use zoho_vault::crypto::aead::RecordId;
use zoho_vault::crypto::keys::DataKey;
use zoho_vault::model::connection::{CachedToken, ConnectionRecord};
use zoho_vault::store::records::{open_value, seal_op, SealedRecord};
use zoho_vault::store::Op;

fn key() -> &'static DataKey {
    static KEY: OnceLock<DataKey> = OnceLock::new();
    KEY.get_or_init(DataKey::make)
}

const RECORD_KEY: &[u8] = b"fuzzed";

/// Seals `plain` as record kind `R` and decodes it; an accepted record is
/// sealed and opened again.
fn decode<R: SealedRecord>(plain: &[u8]) {
    let dk = key();
    let id = RecordId {
        tree: R::TREE.name(),
        key: RECORD_KEY,
        schema: R::SCHEMA,
    };
    let sealed = dk.seal(&id, plain).expect("seal");
    let Ok(record) = open_value::<R>(dk, RECORD_KEY, &sealed) else {
        return;
    };
    let Op::Put { value, .. } = seal_op(dk, RECORD_KEY, &record).expect("re-encode") else {
        panic!("sealing a record is a put");
    };
    open_value::<R>(dk, RECORD_KEY, &value).expect("an accepted record opens again");
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the record kind, the rest is the plaintext.
    let Some((kind, plain)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => decode::<TokenRecord>(plain),
        1 => decode::<ConnectionRecord>(plain),
        2 => decode::<CachedToken>(plain),
        _ => decode::<StateRecord>(plain),
    }
});
