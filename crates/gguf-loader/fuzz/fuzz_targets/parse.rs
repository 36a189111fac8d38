//! Feeds arbitrary bytes to the GGUF reader and touches everything a caller could.
//! Run: `scripts/fuzz.sh [SECONDS]` (see docs/SECURITY.md).
#![no_main]

use gguf_loader::GgufFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = GgufFile::from_bytes(data) {
        for (key, value) in file.metadata() {
            let _ = file.get(key);
            let _ = value.type_description();
            let _ = file.get_uint(key);
            let _ = file.get_array::<String>(key);
        }
        for t in file.tensors() {
            let bytes = file.tensor_bytes(t);
            assert_eq!(bytes.len() as u64, t.n_bytes());
            let _ = file.view_f32(t);
            let _ = file.view_f16(t);
            let _ = file.view::<[u8; 34]>(t);
        }
    }
});
