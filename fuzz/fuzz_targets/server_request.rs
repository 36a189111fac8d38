//! Arbitrary request bodies through the server's parsing and validation layer
//! (`ggufembed_server::input`): `parse_body` then `parse_inputs` on the `input` (OpenAI) and
//! `inputs` (TEI) fields. No panic; a refusal is a 400 (not JSON) or a 422 (wrong shape) with a
//! message; accepted inputs are non-empty.
//! Run: `scripts/fuzz.sh server_request SECONDS` (see docs/SECURITY.md).
#![no_main]

use ggufembed_server::input::{parse_body, parse_inputs};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let value: Value = match parse_body(data) {
        Ok(v) => v,
        Err(e) => {
            assert!(e.status == 400 || e.status == 422, "status {}", e.status);
            assert!(!e.message.is_empty());
            return;
        }
    };
    for field in ["input", "inputs"] {
        let Some(v) = value.get(field) else { continue };
        match parse_inputs(v.clone(), field) {
            Ok(inputs) => assert!(!inputs.is_empty(), "empty inputs accepted"),
            Err(e) => {
                assert_eq!(e.status, 422);
                assert!(
                    e.message.contains(field),
                    "error without the field: {}",
                    e.message
                );
            }
        }
    }
});
