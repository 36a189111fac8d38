//! Arbitrary bytes → `GgufFile` → `ggufembed::Model` for whichever registered architecture the
//! file names, then one small batch through `embed`. Seeded with tiny valid models
//! (`fuzz/seeds/open_model/`, one per architecture name) so that mutations land in metadata and
//! shapes. Must return an error or a model, never panic or abort.
//! Run: `scripts/fuzz.sh open_model SECONDS` (see docs/SECURITY.md).
#![no_main]

use ggufembed::gguf_loader::GgufFile;
use ggufembed::{Model, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data) else {
        return;
    };
    let Ok(model) = Model::from_file(file, Options::default().threads(1)) else {
        return;
    };
    assert!(model.dim() > 0 && model.max_len() > 0);
    let _ = model.architecture();
    // Mutated weights may hold NaN or infinities, so only the shape is checked here (finite
    // outputs from valid weights are `embed_tiny`'s check).
    if let Ok(e) = model.embed(&["the cat sat", ""]) {
        assert_eq!(e.len(), 2);
        assert_eq!(e.as_slice().len(), e.rows() * e.dim());
    }
});
