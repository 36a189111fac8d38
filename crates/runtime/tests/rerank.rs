//! Cross-encoder (reranker) support in the runtime: pair encoding against Hugging Face's pair
//! ids and token types, scores against sentence-transformers' `CrossEncoder.predict`, the head
//! in both layouts (with and without BERT's pooler) against a direct computation, batch
//! invariance, and refusal of malformed heads and batches.
//!
//! `tests/data/tiny-reranker-dev-pairs.jsonl` is a copy of `../shared/fixtures`' (147 pairs in 25
//! groups); pair encoding runs on the committed `tiny-nomic-bert-vocab.gguf` (the same cut
//! MiniLM vocabulary, padded) and on the shared reranker GGUFs when present; scores need the
//! shared `tiny-reranker.{f32,q8_0}.gguf` and are skipped without them.

#![allow(clippy::single_range_in_vec_init, reason = "one packed sequence")]

use std::ops::Range;
use std::path::Path;

mod common;

use ggufembed_runtime::bert::{BertModel, BertScratch, BertWeights, HeadShape};
use ggufembed_runtime::exec::Exec;
use ggufembed_runtime::gguf_loader::{GgmlType, GgufFile, Value};
use ggufembed_runtime::kernels::kernels;
use ggufembed_runtime::{Batch, BatchLimits, Pooling, RuntimeError, Tokenizer};
use ggufembed_testkit::{Classifier, TinyBert};

const MAX_LEN: usize = 512;

#[derive(serde::Deserialize)]
struct Pair {
    group: usize,
    query: String,
    document: String,
    ids: Vec<u32>,
    token_type_ids: Vec<u32>,
    truncated: bool,
    score: f64,
}

fn pairs() -> Vec<Pair> {
    let text = std::fs::read_to_string(common::data("tiny-reranker-dev-pairs.jsonl")).unwrap();
    let pairs: Vec<Pair> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("parse a pair"))
        .collect();
    assert_eq!(pairs.len(), 147, "fixture pair count");
    pairs
}

fn assert_pairs_encode_as_hugging_face(t: &Tokenizer, what: &str) {
    let pairs = pairs();
    let mut truncated = 0;
    for (i, p) in pairs.iter().enumerate() {
        let got = t.encode_pair(&p.query, &p.document, MAX_LEN).unwrap();
        assert_eq!(
            got.ids,
            p.ids,
            "{what}: pair {i} ids (query {:?}, document {:?})",
            p.query.chars().take(40).collect::<String>(),
            p.document.chars().take(40).collect::<String>()
        );
        assert_eq!(got.types, p.token_type_ids, "{what}: pair {i} types");
        assert_eq!(
            got.truncated, p.truncated,
            "{what}: pair {i} truncation flag"
        );
        truncated += usize::from(p.truncated);
    }
    assert!(truncated >= 5, "{truncated} truncated pairs exercised");
    assert!(pairs.iter().any(|p| p.query.is_empty()));
    assert!(pairs.iter().any(|p| p.document.is_empty()));
}

#[test]
fn pairs_encode_as_hugging_face() {
    let t = common::tokenizer(&common::data("tiny-nomic-bert-vocab.gguf"));
    assert_pairs_encode_as_hugging_face(&t, "tiny-nomic-bert vocab");
}

#[test]
fn shared_reranker_pairs_encode_as_hugging_face() {
    for quant in ["f32", "q8_0"] {
        let Some(path) = common::shared(&format!("models/tiny-reranker.{quant}.gguf")) else {
            return;
        };
        assert_pairs_encode_as_hugging_face(&common::tokenizer(&path), quant);
    }
}

#[test]
fn pair_encoding_edge_cases() {
    let t = common::tokenizer(&common::data("tiny-nomic-bert-vocab.gguf"));
    let (cls, sep) = (2, 3);
    let empty = t.encode_pair("", "", MAX_LEN).unwrap();
    assert_eq!(empty.ids, [cls, sep, sep]);
    assert_eq!(empty.types, [0, 0, 1]);
    // max_len 3 keeps only the specials, and says so.
    let cut = t.encode_pair("a b c", "d e", 3).unwrap();
    assert_eq!(
        (cut.ids, cut.types, cut.truncated),
        (vec![cls, sep, sep], vec![0, 0, 1], true)
    );
    let err = t.encode_pair("a", "b", 2).unwrap_err();
    assert!(err.to_string().contains("max_len"), "{err}");
    // Single-text encoding is unchanged by the pair path.
    let q = t.encode("a b c").unwrap();
    let p = t.encode_pair("a b c", "", MAX_LEN).unwrap();
    assert_eq!(&p.ids[..q.len()], &q[..]);
    // Other tokenizer families have no known pair template.
    let bpe = common::tokenizer(&common::data("tiny-qwen3-embedding-vocab.gguf"));
    let err = bpe.encode_pair("a", "b", MAX_LEN).unwrap_err();
    assert!(err.to_string().contains("pair encoding"), "{err}");
}

/// One packed batch of pairs: ids, types, ranges.
fn pack(pairs: &[(&[u32], &[u32])]) -> (Vec<u32>, Vec<u32>, Vec<Range<usize>>) {
    let (mut ids, mut types, mut seqs) = (Vec::new(), Vec::new(), Vec::new());
    for (i, t) in pairs {
        seqs.push(ids.len()..ids.len() + i.len());
        ids.extend_from_slice(i);
        types.extend_from_slice(t);
    }
    (ids, types, seqs)
}

fn score(w: &BertWeights<'_>, pairs: &[(&[u32], &[u32])], s: &mut BertScratch) -> Vec<f32> {
    let (ids, types, seqs) = pack(pairs);
    let mut out = vec![0.0; seqs.len() * w.n_labels().unwrap()];
    let batch = Batch {
        types: Some(&types),
        ..Batch::new(&ids, &seqs)
    };
    let batch = batch.check(&w.limits()).expect("check");
    w.score(&Exec::serial(kernels()), &batch, &mut out, s)
        .expect("score");
    out
}

/// Spearman's rank correlation (no ties in these groups).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        for (k, &i) in idx.iter().enumerate() {
            r[i] = k as f64;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// Scores every fixture pair with the shared model (in packed batches of up to 2,048 tokens)
/// and returns (max |diff|, mean |diff|, worst group Spearman, max relative error). With
/// `zero_types`, every token gets type 0 (what llama.cpp's BERT graph does).
fn shared_scores(quant: &str, zero_types: bool) -> Option<(f64, f64, f64, f64)> {
    let path = common::shared(&format!("models/tiny-reranker.{quant}.gguf"))?;
    let file = GgufFile::open(&path).unwrap();
    let model = BertModel::load(&file, "bert").unwrap();
    assert_eq!(
        model.config.pooling,
        Pooling::Rank,
        "the file is a reranker"
    );
    assert_eq!(
        model.head,
        Some(HeadShape {
            pooler: true,
            n_labels: 1
        })
    );
    let w = model.bind(&file).unwrap();
    let t = Tokenizer::from_gguf(&file).unwrap();
    let pairs = pairs();
    let mut encoded: Vec<_> = pairs
        .iter()
        .map(|p| t.encode_pair(&p.query, &p.document, MAX_LEN).unwrap())
        .collect();
    if zero_types {
        for e in &mut encoded {
            e.types.fill(0);
        }
    }
    let mut s = BertScratch::default();
    let mut scores = Vec::new();
    let mut start = 0;
    while start < encoded.len() {
        let (mut end, mut tokens) = (start, 0);
        while end < encoded.len() && (end == start || tokens + encoded[end].ids.len() <= 2048) {
            tokens += encoded[end].ids.len();
            end += 1;
        }
        let batch: Vec<(&[u32], &[u32])> = encoded[start..end]
            .iter()
            .map(|e| (&e.ids[..], &e.types[..]))
            .collect();
        scores.extend(score(&w, &batch, &mut s).into_iter().map(f64::from));
        start = end;
    }
    let diffs: Vec<f64> = scores
        .iter()
        .zip(&pairs)
        .map(|(s, p)| (s - p.score).abs())
        .collect();
    let max_rel = diffs
        .iter()
        .zip(&pairs)
        .map(|(d, p)| d / p.score.abs().max(1.0))
        .fold(0.0, f64::max);
    let max = diffs.iter().copied().fold(0.0, f64::max);
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let mut worst_rho = 1.0f64;
    let n_groups = pairs.iter().map(|p| p.group).max().unwrap() + 1;
    for g in 0..n_groups {
        let (ours, theirs): (Vec<f64>, Vec<f64>) = scores
            .iter()
            .zip(&pairs)
            .filter(|(_, p)| p.group == g)
            .map(|(s, p)| (*s, p.score))
            .unzip();
        worst_rho = worst_rho.min(spearman(&ours, &theirs));
    }
    eprintln!(
        "tiny-reranker {quant}{}: |diff| max {max:.6}, mean {mean:.6}, max relative {max_rel:.2e}, \
         worst group Spearman {worst_rho:.4} over {n_groups} groups",
        if zero_types {
            " (all token types 0)"
        } else {
            ""
        }
    );
    Some((max, mean, worst_rho, max_rel))
}

#[test]
fn shared_f32_scores_match_sentence_transformers() {
    let Some((_, _, rho, max_rel)) = shared_scores("f32", false) else {
        return;
    };
    assert!(
        max_rel <= 1e-3,
        "f32: max |diff|/max(1,|ref|) {max_rel:.2e} > 1e-3"
    );
    assert_eq!(rho, 1.0, "f32: every group in the reference's order");
}

#[test]
fn shared_q8_0_scores_rank_as_sentence_transformers() {
    let Some((max, mean, rho, _)) = shared_scores("q8_0", false) else {
        return;
    };
    assert!(max <= 0.25, "q8_0: max |diff| {max:.4} > 0.25");
    assert!(mean <= 0.06, "q8_0: mean |diff| {mean:.4} > 0.06");
    assert!(rho >= 0.99, "q8_0: worst group Spearman {rho:.4} < 0.99");
}

/// The segment ids matter: with every token of type 0 (llama.cpp's BERT graph), the same
/// weights drift far from sentence-transformers and groups fall out of order.
#[test]
fn shared_scores_need_the_segment_ids() {
    let Some((max, mean, rho, _)) = shared_scores("f32", true) else {
        return;
    };
    assert!(
        max > 0.5 && mean > 0.1,
        "types 0: max {max:.3} mean {mean:.3}"
    );
    assert!(rho < 0.99, "types 0: worst Spearman {rho:.3}");
}

fn tiny(dir: &Path, name: &str, classifier: Option<Classifier>, ty: GgmlType) -> GgufFile {
    let path = TinyBert {
        matrix_type: ty,
        classifier,
        ..TinyBert::default()
    }
    .write(dir, name);
    GgufFile::open(path).unwrap()
}

fn tensor(file: &GgufFile, name: &str) -> Vec<f64> {
    let info = file.tensor(name).unwrap();
    file.view_f32(info)
        .unwrap()
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

/// `y = W·x + b` with W `[n, k]` row-major.
fn affine(w: &[f64], b: &[f64], x: &[f64]) -> Vec<f64> {
    let k = x.len();
    b.iter()
        .enumerate()
        .map(|(j, bj)| bj + (0..k).map(|i| w[j * k + i] * x[i]).sum::<f64>())
        .collect()
}

/// Both layouts: the head's scores equal tanh-pooler-then-output (or output alone) applied in
/// f64 to the encoder's `[CLS]` row, token types included.
#[test]
fn head_matches_a_direct_computation_in_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let t_ids: &[u32] = &[2, 5, 6, 3, 7, 8, 9, 3];
    let t_types: &[u32] = &[0, 0, 0, 0, 1, 1, 1, 1];
    for pooler in [true, false] {
        let c = Classifier {
            pooler,
            n_labels: 2,
        };
        let file = tiny(
            dir.path(),
            &format!("r{pooler}.gguf"),
            Some(c),
            GgmlType::F32,
        );
        let model = BertModel::load(&file, "bert").unwrap();
        assert_eq!(model.config.pooling, Pooling::Rank);
        let w = model.bind(&file).unwrap();
        let exec = Exec::serial(kernels());
        let mut s = BertScratch::default();
        let d = model.config.n_embd;
        let mut h = vec![0.0; d];
        let seq = 0..8;
        let seqs = std::slice::from_ref(&seq);
        let batch = Batch {
            ids: t_ids,
            seqs,
            types: Some(t_types),
        };
        let batch = batch.check(&w.limits()).unwrap();
        w.forward(&exec, &batch, Pooling::Cls, &mut h, &mut s)
            .unwrap();
        let mut x: Vec<f64> = h.iter().map(|&v| f64::from(v)).collect();
        if pooler {
            x = affine(&tensor(&file, "cls.weight"), &tensor(&file, "cls.bias"), &x)
                .into_iter()
                .map(f64::tanh)
                .collect();
        }
        let want = affine(
            &tensor(&file, "cls.output.weight"),
            &tensor(&file, "cls.output.bias"),
            &x,
        );
        let got = score(&w, &[(t_ids, t_types)], &mut s);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (f64::from(*g) - w).abs() < 1e-4 * w.abs().max(1.0),
                "pooler {pooler}: {got:?} vs {want:?}"
            );
        }
        // Segment ids matter: all-zero types give other scores.
        let zeros = vec![0; t_ids.len()];
        let z = score(&w, &[(t_ids, &zeros)], &mut s);
        assert_ne!(z, got, "pooler {pooler}: token types had no effect");
        // No types is type 0 everywhere, bit for bit; `forward` with rank pooling is `score`.
        let mut none = vec![0.0; 2];
        let untyped = Batch::new(t_ids, seqs).check(&w.limits()).unwrap();
        w.forward(&exec, &untyped, Pooling::Rank, &mut none, &mut s)
            .unwrap();
        assert_eq!(none, z);
    }
}

/// A pair's score does not depend on its neighbours, their order, or the matrix type.
#[test]
fn scores_are_bit_identical_whatever_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = (0..7)
        .map(|i| {
            let n = 3 + (i * 5) % 17;
            let ids: Vec<u32> = (0..n).map(|j| 5 + ((i * 7 + j * 3) % 30) as u32).collect();
            let split = 1 + n / 3;
            let types = (0..n).map(|j| u32::from(j >= split)).collect();
            (ids, types)
        })
        .collect();
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0] {
        let c = Classifier {
            pooler: true,
            n_labels: 1,
        };
        let file = tiny(dir.path(), &format!("b{ty}.gguf"), Some(c), ty);
        let model = BertModel::load(&file, "bert").unwrap();
        let w = model.bind(&file).unwrap();
        let mut s = BertScratch::default();
        let alone: Vec<f32> = pairs
            .iter()
            .flat_map(|(i, t)| score(&w, &[(i, t)], &mut s))
            .collect();
        let all: Vec<(&[u32], &[u32])> = pairs.iter().map(|(i, t)| (&i[..], &t[..])).collect();
        assert_eq!(score(&w, &all, &mut s), alone, "{ty}: batched");
        let rev: Vec<_> = all.iter().rev().copied().collect();
        let mut back = score(&w, &rev, &mut s);
        back.reverse();
        assert_eq!(back, alone, "{ty}: reversed");
    }
}

fn load_err(classifier: Option<Classifier>, tweak: impl FnOnce(&mut TinyBert)) -> RuntimeError {
    let dir = tempfile::tempdir().unwrap();
    let mut tb = TinyBert {
        classifier,
        ..TinyBert::default()
    };
    tweak(&mut tb);
    let file = GgufFile::open(tb.write(dir.path(), "bad.gguf")).unwrap();
    BertModel::load(&file, "bert").expect_err("a malformed head must be refused")
}

#[test]
fn malformed_heads_are_refused_naming_the_problem() {
    let one = Some(Classifier {
        pooler: true,
        n_labels: 1,
    });
    let msg = |e: RuntimeError| e.to_string();
    // Pooling type rank without the output projection.
    let e = msg(load_err(None, |t| {
        t.overrides
            .push(("bert.pooling_type".into(), Some(Value::U32(4))))
    }));
    assert!(e.contains("cls.output.weight"), "{e}");
    // Wrong shapes.
    let e = msg(load_err(one, |t| {
        t.reshape.push(("cls.output.weight".into(), vec![32, 1]))
    }));
    assert!(
        e.contains("cls.output.weight") && e.contains("shape"),
        "{e}"
    );
    let e = msg(load_err(one, |t| {
        t.reshape.push(("cls.weight".into(), vec![64, 32]))
    }));
    assert!(e.contains("cls.weight"), "{e}");
    let e = msg(load_err(one, |t| {
        t.reshape.push(("cls.bias".into(), vec![3]))
    }));
    assert!(e.contains("cls.bias"), "{e}");
    // A pooler bias without its matrix.
    let e = msg(load_err(one, |t| t.drop_tensors.push("cls.weight".into())));
    assert!(e.contains("cls.bias") && e.contains("without"), "{e}");
    // Labels that do not match the output rows.
    let e = msg(load_err(one, |t| {
        t.overrides.push((
            "bert.classifier.output_labels".into(),
            Some(Value::Array(ggufembed_runtime::gguf_loader::Array::String(
                vec!["a".into(), "b".into()],
            ))),
        ))
    }));
    assert!(e.contains("output_labels") && e.contains("2 labels"), "{e}");
    // An unknown pooling type still names the supported ones.
    let e = msg(load_err(None, |t| {
        t.overrides
            .push(("bert.pooling_type".into(), Some(Value::U32(9))))
    }));
    assert!(e.contains("4 rank"), "{e}");
    // Biases are optional, as in llama.cpp.
    let dir = tempfile::tempdir().unwrap();
    let tb = TinyBert {
        classifier: one,
        drop_tensors: vec!["cls.bias".into(), "cls.output.bias".into()],
        ..TinyBert::default()
    };
    let file = GgufFile::open(tb.write(dir.path(), "nobias.gguf")).unwrap();
    BertModel::load(&file, "bert").unwrap().bind(&file).unwrap();
}

#[test]
fn malformed_batches_and_embedding_models_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = Classifier {
        pooler: false,
        n_labels: 1,
    };
    let file = tiny(dir.path(), "r.gguf", Some(c), GgmlType::F32);
    let model = BertModel::load(&file, "bert").unwrap();
    let w = model.bind(&file).unwrap();
    let exec = Exec::serial(kernels());
    let mut s = BertScratch::default();
    let ids = [2, 5, 3, 6, 3];
    let mut out = [0.0];
    let limits = w.limits();
    // Token types are checked with the ids, once (`Batch::check`), before the graph.
    let typed = |types: &'static [u32], seqs: &'static [Range<usize>]| {
        Batch {
            types: Some(types),
            ..Batch::new(&ids, seqs)
        }
        .check(&limits)
    };
    let e = typed(&[0, 0, 0, 2, 1], &[0..5]).unwrap_err();
    assert!(e.to_string().contains("token type 2"), "{e}");
    let e = typed(&[0, 0, 1], &[0..5]).unwrap_err();
    assert!(e.to_string().contains("3 token types for 5 ids"), "{e}");
    let e = typed(&[0; 5], &[0..0]).unwrap_err();
    assert!(e.to_string().contains("sequence 0 has 0 tokens"), "{e}");
    let whole = Batch::new(&ids, &[0..5]).check(&limits).unwrap();
    let e = w.score(&exec, &whole, &mut [0.0; 2], &mut s).unwrap_err();
    assert!(e.to_string().contains("output"), "{e}");
    // Types checked against no limit do not fit a graph that reads them.
    let unread = BatchLimits {
        n_types: None,
        ..limits
    };
    let loose = Batch {
        types: Some(&[0, 0, 0, 9, 9]),
        ..Batch::new(&ids, &[0..5])
    }
    .check(&unread)
    .unwrap();
    let e = w.score(&exec, &loose, &mut out, &mut s).unwrap_err();
    assert!(e.to_string().contains("do not cover"), "{e}");

    let file = tiny(dir.path(), "e.gguf", None, GgmlType::F32);
    let model = BertModel::load(&file, "bert").unwrap();
    assert!(model.config.pooling == Pooling::Mean && model.head.is_none());
    let w = model.bind(&file).unwrap();
    assert_eq!(w.n_labels(), None);
    let e = w.score(&exec, &whole, &mut out, &mut s).unwrap_err();
    assert!(e.to_string().contains("not a reranker"), "{e}");
}
