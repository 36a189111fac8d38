//! EmbeddingGemma through the public API: every dev text at `max_len` 256, ids identical to
//! Hugging Face's and embeddings against sentence-transformers (f32 ≥ 0.99999, q8_0 ≥ 0.998),
//! across threads and parallel modes. Fixtures are the tiny random-weight EmbeddingGemma files
//! committed in `crates/runtime/tests/data/` (no `../shared` needed).

mod common;

use std::path::PathBuf;

use common::reference::cosine;

use ggufembed::{Options, Parallelism, open_with};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/tests/data")
        .join(name)
}

struct Case {
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn fixture() -> Vec<Case> {
    let text =
        std::fs::read_to_string(data("tiny-embeddinggemma-dev-reference-256.jsonl")).unwrap();
    let nums = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Case {
                text: v["text"].as_str().unwrap().to_string(),
                ids: nums(&v["ids_256"]).into_iter().map(|x| x as u32).collect(),
                embedding: nums(&v["embedding_256"])
                    .into_iter()
                    .map(|x| x as f32)
                    .collect(),
            }
        })
        .collect()
}

fn check(file: &str, bar: f64) {
    let cases = fixture();
    assert!(cases.len() > 200, "fixture has {} texts", cases.len());
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let mut first: Option<Vec<f32>> = None;
    for (threads, mode) in [
        (1, Parallelism::AcrossTexts),
        (3, Parallelism::Auto),
        (2, Parallelism::WithinMatmul),
    ] {
        let model = open_with(
            data(file),
            Options::default()
                .max_len(256)
                .threads(threads)
                .parallelism(mode),
        )
        .unwrap();
        assert_eq!(model.architecture(), "gemma-embedding");
        let e = model.embed(&texts).unwrap();
        let mut worst = (1.0f64, 0usize);
        for (i, c) in cases.iter().enumerate() {
            if threads == 1 {
                let mut ids = model.tokenize(&c.text).unwrap();
                if ids.len() > 256 {
                    ids.truncate(255);
                    ids.push(1); // <eos> kept last, as sentence-transformers truncates
                }
                assert_eq!(ids, c.ids, "{file}: ids of text {i}");
                assert_eq!(e.tokens(i), c.ids.len(), "{file}: tokens of text {i}");
            }
            let cos = cosine(e.row(i), &c.embedding);
            if cos < worst.0 {
                worst = (cos, i);
            }
        }
        println!(
            "{file} ({threads} threads, {mode:?}): worst cosine {:.7} on text {}",
            worst.0, worst.1
        );
        assert!(
            worst.0 >= bar,
            "{file}: cosine {} on text {} < {bar}",
            worst.0,
            worst.1
        );
        // Bit-identical across threads and modes.
        match &first {
            None => first = Some(e.as_slice().to_vec()),
            Some(f) => assert!(
                f == e.as_slice(),
                "{file}: {threads} threads {mode:?} differ"
            ),
        }
    }
}

#[test]
fn f32_matches_sentence_transformers() {
    check("tiny-embeddinggemma.f32.gguf", 0.99999);
}

#[test]
fn q8_0_matches_sentence_transformers() {
    check("tiny-embeddinggemma.q8_0.gguf", 0.998);
}
