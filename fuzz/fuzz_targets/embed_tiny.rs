//! Tiny valid models of every architecture (`fuzz/models/`: BERT F32 and Q8_0, the BERT
//! reranker, gemma-embedding, qwen3, nomic-bert, modern-bert; written by
//! `ggufembed_testkit::tiny_arch`) and arbitrary text (strict or lossy UTF-8, split into up to
//! 4 texts at 0xFF bytes) through `embed` (the reranker: `score_pairs`, the first text against
//! each): no panic, finite outputs (unit length when normalized), token counts and truncation
//! flags agreeing with `tokenize`.
//! Run: `scripts/fuzz.sh embed_tiny SECONDS` (see docs/SECURITY.md).
#![no_main]

mod common;

use std::sync::LazyLock;

use ggufembed::gguf_loader::GgufFile;
use ggufembed::{Model, Options};
use libfuzzer_sys::fuzz_target;

fn model(bytes: &[u8]) -> Model {
    let file = GgufFile::from_bytes(bytes).expect("the committed model parses");
    Model::from_file(file, Options::default().threads(1)).expect("the committed model opens")
}

static MODELS: LazyLock<[Model; 7]> = LazyLock::new(|| {
    [
        model(include_bytes!("../models/tiny-bert-f32.gguf")),
        model(include_bytes!("../models/tiny-bert-q8_0.gguf")),
        model(include_bytes!("../models/tiny-bert-reranker.gguf")),
        model(include_bytes!("../models/tiny-gemma-embedding.gguf")),
        model(include_bytes!("../models/tiny-qwen3.gguf")),
        model(include_bytes!("../models/tiny-nomic-bert.gguf")),
        model(include_bytes!("../models/tiny-modern-bert.gguf")),
    ]
});

/// The reranker: each text scored against the first (the query). Scores finite, one per
/// pair, in order; a pair is flagged truncated iff `[CLS] query [SEP] document [SEP]` is
/// longer than `max_len` (the tiny BERT frames every text as `[CLS] … [SEP]`).
fn check_reranker(model: &Model, texts: &[String]) {
    let Some(query) = texts.first() else {
        return;
    };
    let pairs: Vec<(&str, &str)> = texts.iter().map(|d| (query.as_str(), d.as_str())).collect();
    let scored = model
        .score_pairs(&pairs)
        .expect("score_pairs accepts any text");
    assert_eq!(scored.len(), pairs.len());
    let q = model
        .tokenize(query)
        .expect("tokenize accepts any text")
        .len();
    for (i, (s, text)) in scored.iter().zip(texts).enumerate() {
        assert_eq!(s.index, i);
        assert!(s.score.is_finite(), "non-finite score for {text:?}");
        let d = model
            .tokenize(text)
            .expect("tokenize accepts any text")
            .len();
        assert_eq!(
            s.truncated,
            q + d - 1 > model.max_len(),
            "truncation flag of {query:?} / {text:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(&selector) = data.first() else {
        return;
    };
    let model = &MODELS[usize::from(selector / 2) % MODELS.len()];
    let texts: Vec<String> = data[1..]
        .split(|&b| b == 0xFF)
        .take(4)
        .filter_map(|part| {
            let mut with_mode = vec![selector];
            with_mode.extend_from_slice(part);
            common::text(&with_mode)
        })
        .collect();
    if model.is_reranker() {
        return check_reranker(model, &texts);
    }
    let e = model.embed(&texts).expect("embed accepts any text");
    assert_eq!(e.len(), texts.len());
    for (i, text) in texts.iter().enumerate() {
        let row = e.row(i);
        assert_eq!(row.len(), model.dim());
        assert!(
            row.iter().all(|x| x.is_finite()),
            "non-finite output for {text:?}"
        );
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm} for {text:?}");
        let full = model
            .tokenize(text)
            .expect("tokenize accepts any text")
            .len();
        assert_eq!(
            e.truncated(i),
            full > model.max_len(),
            "truncation flag of {text:?}"
        );
        assert_eq!(
            e.tokens(i),
            full.min(model.max_len()),
            "token count of {text:?}"
        );
    }
});
