//! A small valid model file, damaged: every prefix truncation, every byte of the header,
//! metadata and tensor infos replaced by its complement, and random single-byte replacements
//! anywhere (proptest). Each damaged file is either refused with an error or opens into a model
//! that embeds without panicking (issue 22; the fuzz target `open_model` does the same at
//! random, see docs/SECURITY.md).

use std::sync::LazyLock;

use ggufembed::gguf_loader::{GgmlType, GgufFile};
use ggufembed::{Model, Options};
use ggufembed_testkit::TinyBert;
use proptest::prelude::*;

/// The tiny model's bytes (about 12 KB) and where its tensor data starts.
static MODEL: LazyLock<(Vec<u8>, usize)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert {
        n_embd: 32,
        n_layer: 1,
        n_head: 2,
        n_ff: 32,
        n_ctx: 8,
        matrix_type: GgmlType::Q8_0,
        ..TinyBert::default()
    }
    .write(dir.path(), "tiny.gguf");
    let bytes = std::fs::read(path).unwrap();
    let data_offset = GgufFile::from_bytes(&bytes).unwrap().data_offset() as usize;
    (bytes, data_offset)
});

/// Opens `bytes`; a model that opens must embed (any result, no panic). Returns whether it
/// opened.
fn open_and_embed(bytes: &[u8]) -> bool {
    let Ok(file) = GgufFile::from_bytes(bytes) else {
        return false;
    };
    let Ok(model) = Model::from_file(file, Options::default().threads(1)) else {
        return false;
    };
    if let Ok(e) = model.embed(&["the cat sat on the mat", ""]) {
        assert_eq!(e.len(), 2);
        assert_eq!(e.row(0).len(), model.dim());
    }
    true
}

#[test]
fn the_undamaged_model_opens_and_embeds() {
    assert!(open_and_embed(&MODEL.0), "the fixture itself must open");
}

#[test]
fn every_prefix_truncation_is_refused() {
    let bytes = &MODEL.0;
    for len in 0..bytes.len() {
        // Every tensor's data lies inside the file, so no proper prefix is a model.
        assert!(!open_and_embed(&bytes[..len]), "a {len}-byte prefix opened");
    }
}

#[test]
fn every_header_byte_complemented_is_refused_or_embeds() {
    let (bytes, data_offset) = &*MODEL;
    let mut opened = 0;
    for at in 0..*data_offset {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0xFF;
        opened += usize::from(open_and_embed(&damaged));
    }
    // Some flips (padding, a float's low bits, an unread key) leave a working model; most are
    // refused. Both counts being non-zero shows the loop reached both outcomes.
    assert!(
        opened > 0 && opened < *data_offset,
        "{opened} of {data_offset} opened"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_single_byte_replaced_is_refused_or_embeds(at in any::<prop::sample::Index>(), byte: u8) {
        let mut damaged = MODEL.0.clone();
        let at = at.index(damaged.len());
        damaged[at] = byte;
        open_and_embed(&damaged);
    }
}
