//! The parallel runtime: bit-identical results whatever the batch, order, thread count,
//! parallelism mode and token budget; streaming; concurrent callers.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use common::{TinyBert, WORDS};
use gguf_loader::GgmlType;
use ggufembed::{Model, Options, Parallelism};
use proptest::prelude::*;

/// A tiny BERT wide enough (128 × 512) that matmuls over a dozen tokens get split across
/// workers in the within-matmul mode.
fn model_path(ty: GgmlType) -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static PATHS: OnceLock<HashMap<u32, std::path::PathBuf>> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let paths = PATHS.get_or_init(|| {
        [GgmlType::F32, GgmlType::Q8_0, GgmlType::F16]
            .into_iter()
            .map(|ty| {
                let p = TinyBert {
                    n_embd: 128,
                    n_head: 4,
                    n_ff: 512,
                    n_ctx: 64,
                    matrix_type: ty,
                    ..TinyBert::default()
                }
                .write(dir.path(), &format!("m-{ty}.gguf"));
                (ty as u32, p)
            })
            .collect()
    });
    &paths[&(ty as u32)]
}

fn texts() -> Vec<String> {
    let mut v: Vec<String> = vec![String::new(), "hello world".into()];
    for i in 0..30 {
        v.push(
            (0..1 + (i * 7) % 40)
                .map(|j| WORDS[(i + j * 3) % WORDS.len()])
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    v
}

/// Every text embedded alone, on one thread: the reference.
fn reference(ty: GgmlType) -> &'static Vec<Vec<f32>> {
    static REFS: OnceLock<HashMap<u32, Vec<Vec<f32>>>> = OnceLock::new();
    let refs = REFS.get_or_init(|| {
        [GgmlType::F32, GgmlType::Q8_0, GgmlType::F16]
            .into_iter()
            .map(|ty| {
                let m = ggufembed::open_with(
                    model_path(ty),
                    Options::default()
                        .threads(1)
                        .parallelism(Parallelism::AcrossTexts),
                )
                .unwrap();
                let rows = texts()
                    .iter()
                    .map(|t| m.embed(&[t]).unwrap().row(0).to_vec())
                    .collect();
                (ty as u32, rows)
            })
            .collect()
    });
    &refs[&(ty as u32)]
}

fn open(ty: GgmlType, threads: usize, mode: Parallelism, budget: usize) -> Model {
    ggufembed::open_with(
        model_path(ty),
        Options::default()
            .threads(threads)
            .parallelism(mode)
            .token_budget(budget),
    )
    .unwrap()
}

fn ggml_type() -> impl Strategy<Value = GgmlType> {
    prop_oneof![
        Just(GgmlType::F32),
        Just(GgmlType::Q8_0),
        Just(GgmlType::F16)
    ]
}

fn mode() -> impl Strategy<Value = Parallelism> {
    prop_oneof![
        Just(Parallelism::Auto),
        Just(Parallelism::AcrossTexts),
        Just(Parallelism::WithinMatmul)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// A random batch (repeats allowed, any order) on 1–4 threads, any mode and token budget:
    /// every embedding is bit-identical to the text's embedding alone on one thread.
    #[test]
    fn embeddings_do_not_depend_on_batch_threads_mode_or_budget(
        ty in ggml_type(),
        picks in prop::collection::vec(0..32usize, 0..40),
        threads in 1..=4usize,
        mode in mode(),
        budget in prop_oneof![Just(1usize), Just(13), Just(64), Just(4096)],
    ) {
        let texts = texts();
        let want = reference(ty);
        let model = open(ty, threads, mode, budget);
        let batch: Vec<&str> = picks.iter().map(|&i| texts[i].as_str()).collect();
        let got = model.embed(&batch).unwrap();
        prop_assert_eq!(got.len(), batch.len());
        for (row, &i) in picks.iter().enumerate() {
            prop_assert!(
                got.row(row) == want[i].as_slice(),
                "{} text {} at row {} ({} threads, {:?}, budget {})",
                ty, i, row, threads, mode, budget
            );
        }
    }
}

#[test]
fn within_matmul_mode_matches_across_texts_bit_for_bit() {
    for ty in [GgmlType::F32, GgmlType::Q8_0, GgmlType::F16] {
        let texts = texts();
        let want = reference(ty);
        let model = open(ty, 3, Parallelism::WithinMatmul, 4096);
        let got = model.embed(&texts).unwrap();
        for (i, w) in want.iter().enumerate() {
            assert_eq!(got.row(i), w.as_slice(), "{ty} text {i}");
        }
        // Auto with one text and several threads takes the within-matmul path too.
        let auto = open(ty, 2, Parallelism::Auto, 4096);
        let longest = texts.iter().max_by_key(|t| t.len()).unwrap();
        let i = texts.iter().position(|t| t == longest).unwrap();
        assert_eq!(auto.embed(&[longest]).unwrap().row(0), want[i].as_slice());
    }
}

#[test]
fn embed_iter_streams_in_order_with_bounded_lookahead() {
    let texts = texts();
    let model = ggufembed::open_with(
        model_path(GgmlType::Q8_0),
        Options::default().threads(2).token_budget(64),
    )
    .unwrap();
    let want = model.embed(&texts).unwrap();
    // A long stream: the iterator must not read it all before yielding.
    let n = 2000;
    let pulled = std::cell::Cell::new(0usize);
    let source = (0..n).map(|i| {
        pulled.set(pulled.get() + 1);
        (i, texts[i % texts.len()].clone())
    });
    struct Item((usize, String));
    impl AsRef<str> for Item {
        fn as_ref(&self) -> &str {
            &self.0.1
        }
    }
    let mut it = model.embed_iter(source.map(Item));
    let first = it.next().unwrap().unwrap();
    assert_eq!(first.input.0.0, 0);
    assert!(
        pulled.get() < n,
        "the first result came after reading all {n} texts"
    );
    assert_eq!(first.vector, want.row(0));
    let mut count = 1;
    for r in it {
        let e = r.unwrap();
        let (i, _) = e.input.0;
        assert_eq!(i, count, "out of order");
        assert_eq!(e.vector, want.row(i % texts.len()), "text {i}");
        assert_eq!(e.tokens, want.tokens(i % texts.len()));
        count += 1;
    }
    assert_eq!(count, n);
    assert_eq!(model.embed_iter(Vec::<String>::new()).count(), 0);
}

#[test]
fn embed_tokens_matches_embed_and_checks_its_input() {
    let model =
        ggufembed::open_with(model_path(GgmlType::F32), Options::default().threads(2)).unwrap();
    let texts = texts();
    let ids: Vec<Vec<u32>> = texts.iter().map(|t| model.tokenize(t).unwrap()).collect();
    let a = model.embed(&texts).unwrap();
    let b = model.embed_tokens(&ids).unwrap();
    assert_eq!(a.as_slice(), b.as_slice());
    let err = |seqs: &[Vec<u32>]| model.embed_tokens(seqs).unwrap_err().to_string();
    assert!(err(&[vec![]]).contains("sequence 0 has 0 tokens"));
    assert!(err(&[vec![2, 3], vec![2; 65]]).contains("sequence 1 has 65 tokens"));
    assert!(err(&[vec![2, 99_999, 3]]).contains("id 99999 is outside the vocabulary"));
}

#[test]
fn budgets_are_checked_and_derived() {
    let path = model_path(GgmlType::Q8_0);
    let bad = |o: Options| ggufembed::open_with(path, o).unwrap_err().to_string();
    assert!(bad(Options::default().token_budget(0)).contains("token_budget"));
    assert!(bad(Options::default().memory_budget(0)).contains("memory_budget"));
    assert!(
        bad(Options::default().latency_target(std::time::Duration::ZERO))
            .contains("latency_target")
    );
    assert!(bad(Options::default().threads(100_000)).contains("threads"));
    // A larger memory budget gives a larger (clamped) token budget.
    let small = ggufembed::open_with(path, Options::default().memory_budget(1 << 20)).unwrap();
    let large = ggufembed::open_with(path, Options::default().memory_budget(64 << 20)).unwrap();
    assert!(small.token_budget() < large.token_budget());
    assert!((64..=8192).contains(&small.token_budget()));
    assert_eq!(
        ggufembed::open_with(path, Options::default().token_budget(100))
            .unwrap()
            .token_budget(),
        100
    );
}
