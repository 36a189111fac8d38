//! Parity with a shared reference (`../shared/fixtures/*-dev-reference.jsonl`): ids through the
//! runtime's tokenizer, embeddings through a graph's `forward`, in packed batches.
#![allow(dead_code)]

use std::ops::Range;

use ggufembed_runtime::Tokenizer;
use ggufembed_runtime::kernels::kernels;

/// A reference line: the text, Hugging Face's untruncated ids (special tokens included) and the
/// reference float32 embedding at max length 256 (L2-normalized).
#[derive(serde::Deserialize)]
pub struct Case {
    pub text: String,
    pub ids: Vec<u32>,
    pub embedding_256: Vec<f32>,
}

/// The lines of a shared reference, or `None` (with a SKIPPED line) when `../shared` is absent.
pub fn reference(name: &str) -> Option<Vec<Case>> {
    let path = super::shared(&format!("fixtures/{name}"))?;
    let text = std::fs::read_to_string(path).expect("read the reference");
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("parse a reference line"))
            .collect(),
    )
}

/// Hugging Face's truncation to `max_len`: the first `max_len − 1` ids and the last one (the
/// closing special token).
pub fn truncated(ids: &[u32], max_len: usize) -> Vec<u32> {
    if ids.len() <= max_len {
        return ids.to_vec();
    }
    let mut t = ids[..max_len - 1].to_vec();
    t.extend(ids.last());
    t
}

/// Cosine similarity in f64.
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

/// Packs `texts` back to back: `(ids, seqs)`.
pub fn pack(texts: &[&[u32]]) -> (Vec<u32>, Vec<Range<usize>>) {
    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    for t in texts {
        seqs.push(ids.len()..ids.len() + t.len());
        ids.extend_from_slice(t);
    }
    (ids, seqs)
}

/// Tokenizes every case at `max_len` (ids must equal the reference's, truncated), embeds them in
/// packed batches of up to 2,048 tokens with `forward(ids, seqs) -> pooled rows`, normalizes
/// and compares with the reference. Returns `(min, mean)` cosine; panics below `bar` or on any
/// id difference.
pub fn check(
    label: &str,
    tokenizer: &Tokenizer,
    cases: &[Case],
    dim: usize,
    max_len: usize,
    bar: f64,
    mut forward: impl FnMut(&[u32], &[Range<usize>]) -> Vec<f32>,
) -> (f64, f64) {
    assert_eq!(cases.len(), 261, "reference line count");
    let mut ids = Vec::new();
    let tokenized: Vec<Vec<u32>> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cut = tokenizer
                .encode_truncated_into(&c.text, max_len, &mut ids)
                .expect("encode");
            assert_eq!(
                ids,
                truncated(&c.ids, max_len),
                "{label}: text {i} ids differ from Hugging Face's"
            );
            assert_eq!(
                cut,
                c.ids.len() > max_len,
                "{label}: text {i} truncation flag"
            );
            ids.clone()
        })
        .collect();
    let k = kernels();
    let mut results: Vec<(f64, usize)> = Vec::new();
    let mut start = 0;
    while start < cases.len() {
        let mut end = start + 1;
        let mut tokens = tokenized[start].len();
        while end < cases.len() && tokens + tokenized[end].len() <= 2048 {
            tokens += tokenized[end].len();
            end += 1;
        }
        let batch: Vec<&[u32]> = tokenized[start..end].iter().map(Vec::as_slice).collect();
        let (ids, seqs) = pack(&batch);
        let out = forward(&ids, &seqs);
        assert_eq!(out.len(), batch.len() * dim);
        for (j, row) in out.chunks_exact(dim).enumerate() {
            let mut row = row.to_vec();
            k.l2_normalize(&mut row);
            assert!(
                row.iter().all(|v| v.is_finite()),
                "{label}: text {} not finite",
                start + j
            );
            results.push((cosine(&row, &cases[start + j].embedding_256), start + j));
        }
        start = end;
    }
    let mean = results.iter().map(|r| r.0).sum::<f64>() / results.len() as f64;
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    for &(c, i) in results.iter().take(3) {
        eprintln!(
            "  {label}: cosine {c:.9} text {i} ({} tokens) {:?}",
            tokenized[i].len(),
            cases[i].text.chars().take(40).collect::<String>()
        );
    }
    let (worst, i) = results[0];
    eprintln!(
        "{label}: worst cosine {worst:.9} (1 - cos = {:.2e}), mean {mean:.9} over {} texts",
        1.0 - worst,
        results.len()
    );
    assert!(worst >= bar, "{label}: cosine {worst} < {bar} on text {i}");
    (worst, mean)
}
