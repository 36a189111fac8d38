//! nomic-bert and ModernBERT through the public API: every dev text at `max_len` 256, ids
//! identical to Hugging Face's and embeddings against the references (f32 ≥ 0.99999, q8_0 ≥
//! 0.998 on every text), bit-identical across threads and parallel modes. The tiny models and
//! their references are in `../shared` (`models/tiny-{nomic-bert,modernbert}.*.gguf`,
//! `fixtures/*-dev-reference.jsonl`); without it these tests print SKIPPED. The graphs
//! themselves are also tested without `../shared` in `crates/runtime/tests/`.

mod common;

use std::path::PathBuf;

use common::reference::cosine;

use ggufembed::{Options, Parallelism, open_with};

fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/{rel} not found");
        None
    }
}

struct Case {
    text: String,
    ids: Vec<u32>,
    embedding_256: Vec<f32>,
}

fn case(line: &str) -> Case {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let nums = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    Case {
        text: v["text"].as_str().unwrap().to_string(),
        ids: nums("ids").into_iter().map(|x| x as u32).collect(),
        embedding_256: nums("embedding_256")
            .into_iter()
            .map(|x| x as f32)
            .collect(),
    }
}

/// `(min, mean)` cosine over the dev texts; panics on any id difference, on a cosine below
/// `bar`, or if threads or modes change a single bit.
fn check(name: &str, arch: &str, quant: &str, bar: f64) -> Option<(f64, f64)> {
    let reference = shared(&format!("fixtures/tiny-{name}-dev-reference.jsonl"))?;
    let path = shared(&format!("models/tiny-{name}.{quant}.gguf"))?;
    let cases: Vec<Case> = std::fs::read_to_string(reference)
        .unwrap()
        .lines()
        .map(case)
        .collect();
    assert_eq!(cases.len(), 261);
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let mut first: Option<Vec<f32>> = None;
    let mut result = (1.0f64, 0.0f64);
    for (threads, mode) in [
        (1, Parallelism::AcrossTexts),
        (3, Parallelism::Auto),
        (2, Parallelism::WithinMatmul),
    ] {
        let options = Options::default()
            .max_len(256)
            .threads(threads)
            .parallelism(mode);
        let model = open_with(&path, options).unwrap();
        assert_eq!(model.architecture(), arch);
        assert_eq!(model.dim(), 64);
        let e = model.embed(&texts).unwrap();
        let (mut worst, mut sum) = ((1.0f64, 0usize), 0.0);
        for (i, c) in cases.iter().enumerate() {
            if threads == 1 {
                let mut want = c.ids.clone();
                if want.len() > 256 {
                    want.truncate(255);
                    want.extend(c.ids.last());
                }
                let (ids, _) = model.tokenize_for_embedding(&c.text).unwrap();
                assert_eq!(ids, want, "{name} {quant}: ids of text {i}");
                assert_eq!(
                    e.tokens(i),
                    want.len(),
                    "{name} {quant}: tokens of text {i}"
                );
            }
            let cos = cosine(e.row(i), &c.embedding_256);
            sum += cos;
            if cos < worst.0 {
                worst = (cos, i);
            }
        }
        let mean = sum / cases.len() as f64;
        println!(
            "{name} {quant} ({threads} threads, {mode:?}): worst cosine {:.7} on text {}, mean {mean:.7}",
            worst.0, worst.1
        );
        assert!(
            worst.0 >= bar,
            "{name} {quant}: cosine {} on text {} < {bar}",
            worst.0,
            worst.1
        );
        result = (worst.0, mean);
        match &first {
            None => first = Some(e.as_slice().to_vec()),
            Some(f) => assert!(
                f == e.as_slice(),
                "{name} {quant}: {threads} threads {mode:?} differ"
            ),
        }
    }
    Some(result)
}

#[test]
fn nomic_bert_f32_matches_the_reference() {
    check("nomic-bert", "nomic-bert", "f32", 0.99999);
}

#[test]
fn nomic_bert_q8_0_matches_the_reference() {
    check("nomic-bert", "nomic-bert", "q8_0", 0.998);
}

#[test]
fn modernbert_f32_matches_the_reference() {
    check("modernbert", "modern-bert", "f32", 0.99999);
}

#[test]
fn modernbert_q8_0_matches_the_reference() {
    check("modernbert", "modern-bert", "q8_0", 0.998);
}

/// nomic's presets are prepended as its model card requires: `query` embeds exactly what the
/// text with `search_query: ` written before it embeds.
#[test]
fn nomic_prompt_presets_prepend_the_task_prefix() {
    let Some(path) = shared("models/tiny-nomic-bert.f32.gguf") else {
        return;
    };
    let plain = open_with(&path, Options::default()).unwrap();
    for (name, prefix) in [
        ("query", "search_query: "),
        ("document", "search_document: "),
        ("classification", "classification: "),
        ("clustering", "clustering: "),
    ] {
        let m = open_with(&path, Options::default().prompt_name(name)).unwrap();
        assert_eq!(m.prompt(), prefix);
        let a = m.embed(&["what is rotary attention?"]).unwrap();
        let b = plain
            .embed(&[format!("{prefix}what is rotary attention?")])
            .unwrap();
        assert_eq!(a.row(0), b.row(0), "preset {name}");
    }
}
