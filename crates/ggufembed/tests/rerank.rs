//! `Model::rerank` / `score_pairs`: errors on the wrong kind of model, sorting and `top_n`,
//! the sigmoid, bit-identical scores whatever the batch, threads, mode or budget (on a tiny
//! cross-encoder from the testkit), and parity with sentence-transformers' `CrossEncoder` on
//! the shared dev pairs (skipped when `../shared` is absent).

use std::path::{Path, PathBuf};

use ggufembed::gguf_loader::GgmlType;
use ggufembed::{Error, Options, Parallelism, Pooling, RerankOptions, sigmoid};
use ggufembed_testkit::{Classifier, TinyBert};

fn tiny_reranker(dir: &Path, ty: GgmlType) -> PathBuf {
    TinyBert {
        matrix_type: ty,
        classifier: Some(Classifier {
            pooler: true,
            n_labels: 1,
        }),
        ..TinyBert::default()
    }
    .write(dir, &format!("reranker-{ty}.gguf"))
}

fn open(path: &Path, threads: usize, mode: Parallelism, budget: Option<usize>) -> ggufembed::Model {
    let mut o = Options::default();
    o.threads = Some(threads);
    o.parallelism = mode;
    o.token_budget = budget;
    ggufembed::open_with(path, o).unwrap()
}

const DOCS: &[&str] = &[
    "the cat sat on the mat.",
    "a dog ran fast",
    "",
    "hello world, embed text model test!",
    "red blue red blue red blue red blue red blue red blue red blue red blue red blue red blue",
    "is the dog slow?",
    "the mat",
];

#[test]
fn wrong_kind_of_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let reranker = ggufembed::open(tiny_reranker(dir.path(), GgmlType::F32)).unwrap();
    assert!(reranker.is_reranker());
    assert_eq!(reranker.pooling(), Pooling::Rank);
    let e = reranker.embed(&["the cat"]).unwrap_err();
    assert!(matches!(e, Error::WrongModel(_)), "{e}");
    assert!(e.to_string().contains("reranker"), "{e}");
    assert!(matches!(
        reranker.embed_tokens(&[[2u32, 5, 3]]).unwrap_err(),
        Error::WrongModel(_)
    ));

    let embedder = ggufembed::open(TinyBert::default().write(dir.path(), "e.gguf")).unwrap();
    assert!(!embedder.is_reranker());
    let e = embedder.rerank("the cat", &["a dog"]).unwrap_err();
    assert!(matches!(e, Error::WrongModel(_)), "{e}");
    assert!(e.to_string().contains("not a reranker"), "{e}");
    assert!(embedder.score_pairs(&[("a", "b")]).is_err());

    // Pooling cannot turn a reranker into an embedder, nor an embedder into a reranker.
    let with_pooling = |p: Pooling| {
        let mut o = Options::default();
        o.pooling = Some(p);
        o
    };
    let e = ggufembed::open_with(
        tiny_reranker(dir.path(), GgmlType::F32),
        with_pooling(Pooling::Mean),
    )
    .unwrap_err();
    assert!(e.to_string().contains("reranker"), "{e}");
    let e =
        ggufembed::open_with(dir.path().join("e.gguf"), with_pooling(Pooling::Rank)).unwrap_err();
    assert!(
        e.to_string().contains("rank pooling needs a reranker"),
        "{e}"
    );
}

/// Untrusted pairs through the public API: the scheduler's one check refuses a bad id, a
/// token type the model has no row for, and an empty pair, naming the pair and why.
#[test]
fn bad_pairs_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = ggufembed::open(tiny_reranker(dir.path(), GgmlType::F32)).unwrap();
    let good = model.tokenize_pair("the cat", "a dog").unwrap();
    assert!(model.score_tokens(std::slice::from_ref(&good)).is_ok());
    let mut bad_type = good.clone();
    *bad_type.types.last_mut().unwrap() = 7;
    let mut bad_id = good.clone();
    bad_id.ids[1] = 1_000_000;
    let mut empty = good.clone();
    empty.ids.clear();
    empty.types.clear();
    let mut short_types = good.clone();
    short_types.types.pop();
    for (pair, want) in [
        (
            &bad_type,
            "sequence 1: token type 7 is outside the model's 2 types",
        ),
        (&bad_id, "sequence 1: id 1000000 is outside the vocabulary"),
        (&empty, "sequence 1 has 0 tokens"),
        (&short_types, "token types for"),
    ] {
        let e = model
            .score_tokens(&[good.clone(), pair.clone()])
            .unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

#[test]
fn rerank_sorts_truncates_and_maps_through_the_sigmoid() {
    let dir = tempfile::tempdir().unwrap();
    let m = ggufembed::open(tiny_reranker(dir.path(), GgmlType::F32)).unwrap();
    let raw = m
        .score_pairs(&DOCS.iter().map(|d| ("the cat", *d)).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(
        raw.iter().map(|s| s.index).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5, 6]
    );
    let ranked = m.rerank("the cat", DOCS).unwrap();
    assert_eq!(ranked.len(), DOCS.len());
    for w in ranked.windows(2) {
        assert!(w[0].score >= w[1].score, "{ranked:?}");
    }
    for r in &ranked {
        assert_eq!(r.score, raw[r.index].score, "rerank = score_pairs, sorted");
    }
    let top = m
        .rerank_with(
            "the cat",
            DOCS,
            RerankOptions {
                top_n: Some(2),
                sigmoid: true,
            },
        )
        .unwrap();
    assert_eq!(top.len(), 2);
    for (t, r) in top.iter().zip(&ranked) {
        assert_eq!((t.index, t.score), (r.index, sigmoid(r.score)));
        assert!(t.score > 0.0 && t.score < 1.0);
    }
    assert_eq!(sigmoid(0.0), 0.5);
    // The tiny model has 48 positions: the long document is cut, and flagged.
    let long = "red ".repeat(100);
    let s = m.score_pairs(&[("the cat", long.as_str())]).unwrap();
    assert!(s[0].truncated && s[0].score.is_finite());
    assert!(!raw[0].truncated);
    // No documents, no scores.
    assert!(m.rerank::<&str>("q", &[]).unwrap().is_empty());
}

/// A pair's score is bit-identical alone or batched, in any order, with any threads, mode and
/// token budget, for F32, F16 and Q8_0 weights.
#[test]
fn scores_do_not_depend_on_batch_threads_mode_or_budget() {
    let dir = tempfile::tempdir().unwrap();
    let queries = ["the cat", "", "is a dog red?"];
    let pairs: Vec<(&str, &str)> = queries
        .iter()
        .flat_map(|q| DOCS.iter().map(move |d| (*q, *d)))
        .collect();
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0] {
        let path = tiny_reranker(dir.path(), ty);
        let base = open(&path, 1, Parallelism::AcrossTexts, None);
        let alone: Vec<f32> = pairs
            .iter()
            .map(|p| base.score_pairs(&[*p]).unwrap()[0].score)
            .collect();
        for (threads, mode, budget) in [
            (1, Parallelism::AcrossTexts, None),
            (3, Parallelism::AcrossTexts, Some(16)),
            (2, Parallelism::WithinMatmul, None),
            (4, Parallelism::Auto, Some(64)),
        ] {
            let m = open(&path, threads, mode, budget);
            let got: Vec<f32> = m
                .score_pairs(&pairs)
                .unwrap()
                .iter()
                .map(|s| s.score)
                .collect();
            assert_eq!(
                got, alone,
                "{ty} threads {threads} {mode:?} budget {budget:?}"
            );
            let rev: Vec<_> = pairs.iter().rev().copied().collect();
            let mut back: Vec<f32> = m
                .score_pairs(&rev)
                .unwrap()
                .iter()
                .map(|s| s.score)
                .collect();
            back.reverse();
            assert_eq!(back, alone, "{ty} reversed");
        }
    }
}

struct Pair {
    group: usize,
    query: String,
    document: String,
    truncated: bool,
    score: f64,
}

fn shared(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} not found", path.display());
        None
    }
}

/// The shared model through the public API: (max |diff| / max(1, |ref|), max |diff|, mean
/// |diff|, whether every group's order is the reference's).
fn shared_parity(quant: &str) -> Option<(f64, f64, f64, bool)> {
    let model = shared(&format!("models/tiny-reranker.{quant}.gguf"))?;
    let pairs = shared("fixtures/tiny-reranker-dev-pairs.jsonl")?;
    let pairs: Vec<Pair> = std::fs::read_to_string(pairs)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Pair {
                group: v["group"].as_u64().unwrap() as usize,
                query: v["query"].as_str().unwrap().to_owned(),
                document: v["document"].as_str().unwrap().to_owned(),
                truncated: v["truncated"].as_bool().unwrap(),
                score: v["score"].as_f64().unwrap(),
            }
        })
        .collect();
    let m = open(&model, 2, Parallelism::Auto, None);
    assert_eq!(m.max_len(), 512);
    let input: Vec<(&str, &str)> = pairs
        .iter()
        .map(|p| (p.query.as_str(), p.document.as_str()))
        .collect();
    let scored = m.score_pairs(&input).unwrap();
    let (mut rel, mut max, mut sum) = (0.0f64, 0.0f64, 0.0);
    for (s, p) in scored.iter().zip(&pairs) {
        assert_eq!(s.truncated, p.truncated);
        let d = (f64::from(s.score) - p.score).abs();
        rel = rel.max(d / p.score.abs().max(1.0));
        max = max.max(d);
        sum += d;
    }
    // Ranking: within each group, our order equals the reference's.
    let mut in_order = true;
    let groups = pairs.iter().map(|p| p.group).max().unwrap() + 1;
    for g in 0..groups {
        let idx: Vec<usize> = (0..pairs.len()).filter(|&i| pairs[i].group == g).collect();
        let mut ours = idx.clone();
        ours.sort_by(|&a, &b| scored[b].score.total_cmp(&scored[a].score));
        let mut theirs = idx;
        theirs.sort_by(|&a, &b| pairs[b].score.total_cmp(&pairs[a].score));
        in_order &= ours == theirs;
        // rerank() gives the same order as sorting score_pairs.
        let q = &pairs[theirs[0]].query;
        let docs: Vec<&str> = theirs.iter().map(|&i| pairs[i].document.as_str()).collect();
        let r = m.rerank(q, &docs).unwrap();
        let order: Vec<usize> = r.iter().map(|s| theirs[s.index]).collect();
        assert_eq!(order, ours, "group {g}: rerank order");
    }
    let mean = sum / pairs.len() as f64;
    eprintln!(
        "Model::score_pairs {quant}: max |diff| {max:.6} (relative {rel:.2e}), mean {mean:.6}, \
         every group in order: {in_order}"
    );
    Some((rel, max, mean, in_order))
}

#[test]
fn shared_reranker_matches_sentence_transformers() {
    if let Some((rel, _, _, in_order)) = shared_parity("f32") {
        assert!(rel <= 1e-3, "f32 relative error {rel:.2e}");
        assert!(in_order, "f32 ranking");
    }
    if let Some((_, max, mean, in_order)) = shared_parity("q8_0") {
        assert!(max <= 0.25 && mean <= 0.06, "q8_0 max {max} mean {mean}");
        assert!(in_order, "q8_0 ranking");
    }
}
