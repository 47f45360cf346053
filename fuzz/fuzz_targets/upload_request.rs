//! The `self_client.json` upload body: arbitrary bytes through the strict
//! parser, then the consistency checks and the expiry conversion. Nothing
//! may panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zoho_vault::connections::upload::UploadRequest;
use zoho_vault::model::name::ConnectionName;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<UploadRequest>(data) {
        let _ = req.grant();
        let _ = req.code_expires_at();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ConnectionName::parse(text);
    }
});
