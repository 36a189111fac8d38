//! Qwen3-Embedding through the public API: every dev text at `max_len` 256, ids identical to
//! Hugging Face's (`<|endoftext|>` last, kept by truncation) and embeddings against
//! sentence-transformers (f32 ≥ 0.99999, q8_0 ≥ 0.998), bit-identical across threads, parallel
//! modes and token budgets; its prompt presets and Matryoshka dimensions. Fixtures are the tiny
//! random-weight Qwen3-Embedding files committed in `crates/runtime/tests/data/` (no
//! `../shared` needed).

mod common;

use std::path::PathBuf;

use common::reference::cosine;

use ggufembed::{Options, Parallelism, Pooling, open_with};
use serde_json::Value;

/// `<|endoftext|>`, appended to every input and pooled.
const EOS: u32 = 1200;

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
        std::fs::read_to_string(data("tiny-qwen3-embedding-dev-reference-256.jsonl")).unwrap();
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
    assert_eq!(cases.len(), 261, "fixture line count");
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let mut first: Option<Vec<f32>> = None;
    for (threads, mode, budget) in [
        (1, Parallelism::AcrossTexts, None),
        (3, Parallelism::Auto, Some(100)),
        (2, Parallelism::WithinMatmul, None),
    ] {
        let mut options = Options::default()
            .max_len(256)
            .threads(threads)
            .parallelism(mode);
        options.token_budget = budget;
        let model = open_with(data(file), options).unwrap();
        assert_eq!(model.architecture(), "qwen3");
        assert_eq!(model.pooling(), Pooling::Last);
        assert_eq!(model.dim(), 64);
        let e = model.embed(&texts).unwrap();
        let (mut worst, mut sum) = ((1.0f64, 0usize), 0.0);
        for (i, c) in cases.iter().enumerate() {
            if threads == 1 {
                let (ids, n) = model.tokenize_for_embedding(&c.text).unwrap();
                assert_eq!(ids, c.ids, "{file}: ids of text {i}");
                assert_eq!(ids.last(), Some(&EOS), "{file}: text {i} ends with EOS");
                assert_eq!(e.tokens(i), c.ids.len(), "{file}: tokens of text {i}");
                assert_eq!(e.truncated(i), n > 256, "{file}: truncation of text {i}");
            }
            let cos = cosine(e.row(i), &c.embedding);
            sum += cos;
            if cos < worst.0 {
                worst = (cos, i);
            }
        }
        println!(
            "{file} ({threads} threads, {mode:?}, budget {budget:?}): worst cosine {:.7} on \
             text {}, mean {:.7}",
            worst.0,
            worst.1,
            sum / cases.len() as f64
        );
        assert!(
            worst.0 >= bar,
            "{file}: cosine {} on text {} < {bar}",
            worst.0,
            worst.1
        );
        // Bit-identical across threads, modes and budgets.
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
    check("tiny-qwen3-embedding.f32.gguf", 0.99999);
}

#[test]
fn q8_0_matches_sentence_transformers() {
    check("tiny-qwen3-embedding.q8_0.gguf", 0.998);
}

/// A text's vector alone equals its vector amid others, streamed or not.
#[test]
fn neighbours_do_not_change_a_text() {
    let model = open_with(
        data("tiny-qwen3-embedding.q8_0.gguf"),
        Options::default().threads(2),
    )
    .unwrap();
    let target = "The quick brown fox jumps over the lazy dog.";
    let alone = model.embed(&[target]).unwrap();
    let mixed = model
        .embed(&["short", target, &"a longer neighbour text ".repeat(20)])
        .unwrap();
    assert_eq!(alone.row(0), mixed.row(1));
    let streamed: Vec<_> = model
        .embed_iter(["x", target])
        .map(|r| r.unwrap().vector)
        .collect();
    assert_eq!(streamed[1], alone.row(0));
}

#[test]
fn prompt_presets_are_qwen3_embeddings() {
    let path = data("tiny-qwen3-embedding.f32.gguf");
    let presets = ggufembed::prompt_presets("qwen3");
    let query = "Instruct: Given a web search query, retrieve relevant passages that answer the \
                 query\nQuery:";
    assert_eq!(presets, [("query", query), ("document", "")]);
    let q = open_with(&path, Options::default().prompt_name("query")).unwrap();
    assert_eq!(q.prompt(), query);
    let plain = ggufembed::open(&path).unwrap();
    assert_eq!(
        q.embed(&["what is rust"]).unwrap().row(0),
        plain
            .embed(&[format!("{query}what is rust")])
            .unwrap()
            .row(0)
    );
    let d = open_with(&path, Options::default().prompt_name("document")).unwrap();
    assert_eq!(d.prompt(), "");
    assert_eq!(
        d.embed(&["a passage"]).unwrap().row(0),
        plain.embed(&["a passage"]).unwrap().row(0)
    );
    let err = open_with(&path, Options::default().prompt_name("STS"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown preset 'STS' (known: query, document)"),
        "{err}"
    );
}

#[test]
fn dimensions_cut_and_renormalize() {
    let path = data("tiny-qwen3-embedding.f32.gguf");
    let texts = ["one text", "and another, longer one"];
    let full = ggufembed::open(&path).unwrap().embed(&texts).unwrap();
    let cut = open_with(&path, Options::default().dimensions(16)).unwrap();
    assert_eq!((cut.dim(), cut.native_dim()), (16, 64));
    let e = cut.embed(&texts).unwrap();
    assert_eq!(e.dim(), 16);
    for i in 0..texts.len() {
        let mut want = full.row(i).to_vec();
        ggufembed::truncate_embedding(&mut want, 16, true);
        assert_eq!(e.row(i), want, "text {i}");
        let norm: f64 = e.row(i).iter().map(|&x| f64::from(x).powi(2)).sum();
        assert!((norm - 1.0).abs() < 1e-6, "{norm}");
    }
    // Streaming cuts too; the full width is the identity.
    let s = cut.embed_iter(texts).next().unwrap().unwrap();
    assert_eq!(s.vector, e.row(0));
    let same = open_with(&path, Options::default().dimensions(64)).unwrap();
    assert_eq!(same.embed(&texts).unwrap(), full);
    for d in [0, 65] {
        let err = open_with(&path, Options::default().dimensions(d))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("invalid option dimensions: {d} is outside 1..=64")),
            "{err}"
        );
    }
}
