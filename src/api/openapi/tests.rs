use super::*;

#[test]
fn operation_ids_are_unique_and_every_operation_has_one() {
    let doc = serde_json::to_value(api_doc(true)).expect("json");
    let mut seen = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(seen.insert(id.to_string()), "operationId {id} twice");
        }
    }
}

#[test]
fn the_test_knob_is_listed_only_when_on() {
    assert!(api_doc(true).paths.paths.contains_key(AUDIT_FAULTS));
    assert!(!api_doc(false).paths.paths.contains_key(AUDIT_FAULTS));
}
