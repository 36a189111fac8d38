//! Mixed K-quant files against sentence-transformers, on the 255 dev texts of llama.cpp's figures
//! in `../shared/README.md` (left out: the 3 texts over 256 tokens and the 3 on which llama.cpp's
//! tokenizer differs from Hugging Face's: the Korean, the Hindi, the 300-character word).
//!
//! Bars (issue 17): mean cosine ≥ llama.cpp's mean on the same file − 0.0005, 1st percentile ≥
//! llama.cpp's − 0.001. The models and the tiny model's fixture are in `../shared`; without it
//! these tests print SKIPPED.

mod common;

use std::path::PathBuf;

use common::reference::cosine;
use ggufembed::{Options, open_with};
use serde_json::Value;

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

/// (text, embedding_256) of the texts llama.cpp's figures use.
fn cases(fixture: &PathBuf) -> Vec<(String, Vec<f32>)> {
    let text = std::fs::read_to_string(fixture).unwrap();
    let all: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 261, "{}", fixture.display());
    let kept: Vec<(String, Vec<f32>)> = all
        .iter()
        .filter(|v| {
            let t = v["text"].as_str().unwrap();
            let hangul = t.chars().any(|c| ('\u{ac00}'..='\u{d7af}').contains(&c));
            let devanagari = t.chars().any(|c| ('\u{0900}'..='\u{097f}').contains(&c));
            let long_word = t.split_whitespace().any(|w| w.chars().count() >= 300);
            v["ids"].as_array().unwrap().len() <= 256 && !hangul && !devanagari && !long_word
        })
        .map(|v| {
            let e = v["embedding_256"].as_array().unwrap();
            (
                v["text"].as_str().unwrap().to_string(),
                e.iter().map(|x| x.as_f64().unwrap() as f32).collect(),
            )
        })
        .collect();
    assert_eq!(kept.len(), 255);
    kept
}

/// numpy's default (linear) percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

fn check(model: &str, fixture: &str, llama_mean: f64, llama_p1: f64) {
    let (Some(model_path), Some(fixture)) = (shared(&format!("models/{model}")), shared(fixture))
    else {
        return;
    };
    let m = open_with(&model_path, Options::default().max_len(256)).unwrap();
    let cases = cases(&fixture);
    let texts: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    let emb = m.embed(&texts).unwrap();
    let mut cos: Vec<f64> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| cosine(emb.row(i), &c.1))
        .collect();
    cos.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = cos.iter().sum::<f64>() / cos.len() as f64;
    let p1 = percentile(&cos, 1.0);
    eprintln!(
        "{model}: min {:.6} p1 {p1:.6} mean {mean:.6} (llama.cpp p1 {llama_p1} mean {llama_mean})",
        cos[0]
    );
    assert!(
        mean >= llama_mean - 0.0005,
        "{model}: mean {mean} < {llama_mean} - 0.0005"
    );
    assert!(
        p1 >= llama_p1 - 0.001,
        "{model}: p1 {p1} < {llama_p1} - 0.001"
    );
}

#[test]
fn tiny_bert256_q4_k_m_is_as_accurate_as_llama_cpp() {
    check(
        "tiny-bert256.Q4_K_M.gguf",
        "fixtures/tiny-bert256-dev-reference.jsonl",
        0.995186,
        0.994494,
    );
}

#[test]
fn minilm_q4_k_m_is_as_accurate_as_llama_cpp() {
    check(
        "all-MiniLM-L6-v2.Q4_K_M.gguf",
        "fixtures/minilm-dev-reference.jsonl",
        0.991069,
        0.970291,
    );
}
