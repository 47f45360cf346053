//! Notification payloads, without a database.

use super::*;

#[test]
fn invalidations_survive_the_trip_through_a_notification_payload() {
    for inv in [
        Invalidation::BearerRevoked([9; 32]),
        Invalidation::ConnectionChanged("acme|eu".into()),
        Invalidation::All,
    ] {
        let payload = encode("node/1", &inv);
        assert_eq!(decode(&payload), Some(("node/1", inv)));
    }
}

#[test]
fn an_unreadable_payload_drops_everything() {
    assert_eq!(decode("node/1|b|zz"), Some(("node/1", Invalidation::All)));
    assert_eq!(decode("node/1|?"), Some(("node/1", Invalidation::All)));
}
