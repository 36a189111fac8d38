//! The MiniLM dev fixture, the shared model files, and cosine similarity, for the accuracy
//! suites (CPU and GPU).

use std::path::PathBuf;

use serde_json::Value;

/// One text of `tests/data/minilm-dev-reference-256.jsonl`: the Hugging Face tokenizer's ids
/// and the sentence-transformers float32 embedding at max_seq_length 256.
pub struct MiniLmCase {
    pub text: String,
    pub ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

pub fn minilm_fixture() -> Vec<MiniLmCase> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm-dev-reference-256.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            MiniLmCase {
                text: v["text"].as_str().unwrap().to_string(),
                ids: v["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect(),
                embedding: v["embedding_256"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect(),
            }
        })
        .collect()
}

/// all-MiniLM-L6-v2 as `kind` (f32, f16, q8_0) from ../shared/models or models/, or `None`
/// (printing SKIPPED).
pub fn minilm_model(kind: &str) -> Option<PathBuf> {
    let name = format!("all-MiniLM-L6-v2.{kind}.gguf");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for dir in [root.join("../shared/models"), root.join("models")] {
        if dir.join(&name).exists() {
            return Some(dir.join(&name));
        }
    }
    eprintln!(
        "SKIPPED: {name} not found in ../shared/models or models/ (run scripts/fetch-minilm.sh and convert)"
    );
    None
}

/// Cosine similarity, accumulated in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
