//! The sealed-record decoder: arbitrary bytes must never open (nobody can
//! forge a ciphertext without the key) and never panic, neither in the
//! AEAD layer (`DataKey::open`) nor in the typed decoder (`open_value`);
//! and whatever is sealed opens back to itself, under its own identity only.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zoho_vault::auth::record::TokenRecord;
use zoho_vault::crypto::aead::RecordId;
use zoho_vault::crypto::keys::DataKey;
use zoho_vault::store::records::open_value;

fn key() -> &'static DataKey {
    static KEY: OnceLock<DataKey> = OnceLock::new();
    KEY.get_or_init(DataKey::make)
}

fuzz_target!(|data: &[u8]| {
    let dk = key();
    let id = RecordId {
        tree: "tokens",
        key: b"k",
        schema: 1,
    };
    assert!(dk.open(&id, data).is_err());
    assert!(open_value::<TokenRecord>(dk, b"k", data).is_err());

    let sealed = dk.seal(&id, data).expect("seal");
    let opened = dk.open(&id, &sealed).expect("open");
    assert_eq!(opened.as_slice(), data);
    let elsewhere = RecordId {
        key: b"other",
        ..id
    };
    assert!(dk.open(&elsewhere, &sealed).is_err());
});
