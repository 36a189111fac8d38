//! Parity with sentence-transformers on the MiniLM dev fixture: every text, max length 256.
//!
//! The fixture (`tests/data/minilm-dev-reference-256.jsonl`: text, HF ids, sentence-transformers
//! float32 embedding at max_seq_length 256) is committed. The models are the shared GGUFs when
//! `../shared/models` exists; otherwise these tests print SKIPPED.

mod common;

use common::reference::{cosine, minilm_fixture as fixture, minilm_model as model_path};
use ggufembed::{Options, open_with};

fn check(kind: &str, bar: f64) {
    let Some(path) = model_path(kind) else { return };
    let model = open_with(&path, Options::default().max_len(256)).unwrap();
    let cases = fixture();
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let emb = model.embed(&texts).unwrap();
    let mut worst = (1.0f64, 0usize);
    let mut all = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let expected_tokens = case.ids.len().min(256);
        assert_eq!(emb.tokens(i), expected_tokens, "text {i}");
        assert_eq!(emb.truncated(i), case.ids.len() > 256, "text {i}");
        let c = cosine(emb.row(i), &case.embedding);
        all.push((c, i));
        if c < worst.0 {
            worst = (c, i);
        }
    }
    all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    for (c, i) in all.iter().take(3) {
        eprintln!(
            "  {kind} {c:.6} text {i} tokens {} {:?}",
            emb.tokens(*i),
            cases[*i].text.chars().take(30).collect::<String>()
        );
    }
    eprintln!(
        "{kind}: worst cosine {:.7} on text {} ({:?}…)",
        worst.0,
        worst.1,
        &cases[worst.1].text.chars().take(40).collect::<String>()
    );
    assert!(
        worst.0 >= bar,
        "{kind}: cosine {} < {bar} on text {}",
        worst.0,
        worst.1
    );
}

#[test]
fn f32_matches_sentence_transformers() {
    check("f32", 0.99999);
}

#[test]
fn f16_matches_sentence_transformers() {
    check("f16", 0.9999);
}

#[test]
fn q8_0_matches_sentence_transformers() {
    check("q8_0", 0.998);
}
