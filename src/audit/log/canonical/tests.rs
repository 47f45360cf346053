use proptest::prelude::*;

use super::*;
use crate::audit::chain::RecordHasher;
use crate::audit::event::{AuditRecord, Detail, Details, Outcome};
use crate::audit::log::record::encode_event;

/// The canonical bytes by the reference path: decode, then serde_json.
fn reference(payload: &[u8]) -> Vec<u8> {
    let Ok(Payload::Event(record)) = decode(payload) else {
        panic!("not an event payload");
    };
    serde_json::to_vec(&record.hashed_part()).expect("plain values serialise")
}

fn fast(payload: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    write_canonical(payload, &mut out).map(|_| out)
}

/// Text that JSON must escape, unicode, empty, or anything at all.
fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z_]{1,12}",
        "[\"\\\\\\x00-\\x1f\\x7f/ é€😀\u{2028}]{0,12}",
        any::<String>(),
    ]
}

fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Compact (seconds and nanoseconds), with and without a fraction.
        (
            0i64..4_000_000_000,
            prop_oneof![Just(0u32), 0u32..1_000_000_000]
        )
            .prop_map(|(secs, nanos)| {
                OffsetDateTime::from_unix_timestamp(secs)
                    .and_then(|t| t.replace_nanosecond(nanos))
                    .ok()
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .expect("a time in range")
            }),
        // Kept as written.
        Just("2025-01-31T12:00:00.000+00:00".to_string()),
        odd_text(),
    ]
}

fn hash_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(hex::encode),
        any::<[u8; 32]>().prop_map(hex::encode_upper),
        odd_text(),
    ]
}

fn detail() -> impl Strategy<Value = Detail> {
    prop_oneof![
        any::<bool>().prop_map(Detail::Bool),
        any::<i64>().prop_map(Detail::Int),
        odd_text().prop_map(Detail::Text),
    ]
}

fn detail_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(DETAIL_KEYS.to_vec()).prop_map(str::to_owned),
        odd_text(),
    ]
}

fn record() -> impl Strategy<Value = AuditRecord> {
    (
        (
            any::<u64>(),
            time_text(),
            prop::sample::select(AuditAction::ALL.to_vec()),
        ),
        (odd_text(), prop::option::of(odd_text())),
        prop::sample::select(vec![Outcome::Success, Outcome::Failure, Outcome::Denied]),
        prop::collection::btree_map(detail_key(), detail(), 0..6),
        (prop::option::of(odd_text()), prop::option::of(odd_text())),
        (hash_text(), hash_text()),
    )
        .prop_map(
            |((seq, time, action), (actor, connection), outcome, details, ids, hashes)| {
                AuditRecord {
                    seq,
                    time,
                    action,
                    actor,
                    connection,
                    outcome,
                    details: Details::from_iter(details),
                    request_id: ids.0,
                    source: ids.1,
                    prev: hashes.0,
                    hash: hashes.1,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_fast_path_writes_exactly_the_bytes_serde_json_writes(r in record()) {
        let payload = encode_event(&r);
        prop_assert_eq!(fast(&payload), Some(reference(&payload)));
    }

    #[test]
    fn the_fast_path_returns_the_stored_links(r in record()) {
        let payload = encode_event(&r);
        let mut out = Vec::new();
        let chained = write_canonical(&payload, &mut out).expect("an encoded event");
        prop_assert_eq!(chained.seq, r.seq);
        prop_assert_eq!(chained.prev.to_text(), r.prev);
        prop_assert_eq!(chained.hash.to_text(), r.hash);
    }

    #[test]
    fn a_truncated_payload_is_left_to_the_decoder(r in record(), cut in any::<prop::sample::Index>()) {
        let payload = encode_event(&r);
        let cut = cut.index(payload.len());
        prop_assert_eq!(fast(&payload[..cut]), None);
    }
}

#[test]
fn every_action_writes_its_stored_name() {
    for action in AuditAction::ALL {
        let key = crate::crypto::keys::DataKey::make().derive_subkey("audit-chain");
        let mut record = AuditRecord::unhashed(
            1,
            crate::audit::event::AuditEvent::unseal(None, &Default::default()),
            crate::audit::keys::GENESIS.into(),
        );
        record.action = action;
        record.hash = RecordHasher::new(&key).hash(&record);
        let payload = encode_event(&record);
        assert_eq!(fast(&payload), Some(reference(&payload)), "{action:?}");
    }
}

#[test]
fn details_out_of_key_order_are_left_to_the_decoder() {
    let mut details = Details::new();
    details.insert("actor_name".into(), Detail::Bool(true));
    details.insert("source".into(), Detail::Bool(false));
    let record = AuditRecord {
        seq: 1,
        time: "x".into(),
        action: AuditAction::Seal,
        actor: "operator".into(),
        connection: None,
        outcome: Outcome::Success,
        details,
        request_id: None,
        source: None,
        prev: "p".into(),
        hash: "h".into(),
    };
    let mut payload = encode_event(&record);
    // Swap the two one-byte keys ("actor_name" is id 1, "source" id 2):
    // "source" now comes first; the decoder sorts, this path must not
    // hash them in file order.
    let count = payload
        .windows(5)
        .position(|w| w == [2, 1, 1, 2, 0])
        .expect("two one-byte detail keys");
    payload[count + 1] = 2;
    payload[count + 3] = 1;
    assert!(decode(&payload).is_ok());
    assert_eq!(fast(&payload), None);
}
