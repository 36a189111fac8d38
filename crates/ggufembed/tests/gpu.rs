//! The GPU path (feature `gpu`) through the public API, on whatever adapter the machine has
//! (Mesa's lavapipe in CI):
//! - all-MiniLM-L6-v2 on the dev fixture against sentence-transformers (f32 ≥ 0.99999, q8_0 ≥
//!   0.998) and against our own CPU path (f32 ≥ 0.99999; q8_0 ≥ 0.999, see below), when the
//!   shared models are present;
//! - a generated tiny BERT (F32, F16, Q8_0; every pooling) against the CPU path, always;
//! - bit-identical results whatever a text is batched with; clear errors where the GPU path
//!   cannot run.
//!
//! Without an adapter the tests print SKIPPED, unless `GGUFEMBED_REQUIRE_GPU=1` (set by CI)
//! makes that a failure.
#![cfg(feature = "gpu")]

mod common;

use std::path::{Path, PathBuf};

use common::reference::{cosine, minilm_fixture, minilm_model};

use common::TinyBert;
use gguf_loader::GgmlType;
use ggufembed::{Device, Model, Options, Pooling, open_with};

/// Opens `path` on the GPU, or `None` (SKIPPED) when the machine has no adapter.
fn open_gpu(path: &Path, options: Options) -> Option<Model> {
    match open_with(path, options.device(Device::Gpu)) {
        Ok(m) => {
            assert_eq!(m.device(), Device::Gpu);
            eprintln!("on {}", m.gpu_adapter().unwrap());
            Some(m)
        }
        Err(e) if e.to_string().contains("no usable GPU adapter") => {
            if std::env::var("GGUFEMBED_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("GGUFEMBED_REQUIRE_GPU=1 but {e}");
            }
            eprintln!("SKIPPED: {e}");
            None
        }
        Err(e) => panic!("opening {} on the GPU: {e}", path.display()),
    }
}

/// Worst cosine of the GPU path against sentence-transformers and against the CPU path.
fn check_minilm(kind: &str, vs_reference: f64, vs_cpu: f64) {
    let Some(path) = minilm_model(kind) else {
        return;
    };
    let options = Options::default().max_len(256);
    let Some(gpu) = open_gpu(&path, options.clone()) else {
        return;
    };
    let cpu = open_with(&path, options.device(Device::Cpu)).unwrap();
    let cases = minilm_fixture();
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let g = gpu.embed(&texts).unwrap();
    let c = cpu.embed(&texts).unwrap();
    let (mut worst_ref, mut worst_cpu) = ((1.0f64, 0), (1.0f64, 0));
    for (i, case) in cases.iter().enumerate() {
        let r = cosine(g.row(i), &case.embedding);
        let k = cosine(g.row(i), c.row(i));
        if r < worst_ref.0 {
            worst_ref = (r, i);
        }
        if k < worst_cpu.0 {
            worst_cpu = (k, i);
        }
    }
    eprintln!(
        "{kind}: {} texts, worst cosine vs sentence-transformers {:.9} (text {}), vs CPU {:.9} (text {})",
        cases.len(),
        worst_ref.0,
        worst_ref.1,
        worst_cpu.0,
        worst_cpu.1
    );
    assert!(
        worst_ref.0 >= vs_reference,
        "{kind}: text {} has cosine {} against sentence-transformers (bar {vs_reference})",
        worst_ref.1,
        worst_ref.0
    );
    assert!(
        worst_cpu.0 >= vs_cpu,
        "{kind}: text {} has cosine {} against the CPU path (bar {vs_cpu})",
        worst_cpu.1,
        worst_cpu.0
    );
}

#[test]
fn minilm_f32_matches_sentence_transformers_and_cpu() {
    check_minilm("f32", 0.99999, 0.99999);
}

/// The CPU's Q8_0 path also quantizes activations (per 16 values, a speed trade of its int8
/// kernels); the GPU keeps them f32 and is the closer of the two to sentence-transformers
/// (worst 0.99944 against the CPU's 0.9985 on lavapipe). Against the CPU the worst text is
/// 0.99917, hence the looser bar there; the f32 file holds both paths to 0.99999.
#[test]
fn minilm_q8_0_matches_sentence_transformers_and_cpu() {
    check_minilm("q8_0", 0.998, 0.999);
}

const TEXTS: &[&str] = &[
    "the cat sat on the mat",
    "",
    "a dog ran fast and the cat is slow , hello world !",
    "embed text model test",
    "blue",
    "the red dog sat on a blue mat . the cat ran . hello ? the world is red and blue",
];

#[test]
fn tiny_bert_every_type_and_pooling_matches_cpu() {
    let dir = tempfile::tempdir().unwrap();
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0] {
        let spec = TinyBert {
            matrix_type: ty,
            ..TinyBert::default()
        };
        let path = spec.write(dir.path(), &format!("tiny-{ty}.gguf"));
        for pooling in [Pooling::Mean, Pooling::Cls, Pooling::Last, Pooling::None] {
            for normalize in [true, false] {
                let o = Options::default().pooling(pooling).normalize(normalize);
                let Some(gpu) = open_gpu(&path, o.clone()) else {
                    return;
                };
                let cpu = open_with(&path, o.device(Device::Cpu)).unwrap();
                let g = gpu.embed(TEXTS).unwrap();
                let c = cpu.embed(TEXTS).unwrap();
                assert_eq!(g.len(), c.len());
                for i in 0..TEXTS.len() {
                    assert_eq!(g.tokens(i), c.tokens(i));
                    assert_eq!(g.row(i).len(), c.row(i).len(), "{ty} {pooling} text {i}");
                    for (a, b) in g.row(i).chunks(g.dim()).zip(c.row(i).chunks(c.dim())) {
                        let cos = cosine(a, b);
                        // Q8_0 on the CPU quantizes activations too; the GPU keeps them f32.
                        let bar = if ty == GgmlType::Q8_0 { 0.999 } else { 0.99999 };
                        assert!(
                            cos >= bar,
                            "{ty} {pooling} normalize={normalize} text {i}: cosine {cos}"
                        );
                        if normalize {
                            let n: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum();
                            assert!((n - 1.0).abs() < 1e-5, "norm² {n}");
                        }
                    }
                }
            }
        }
    }
}

/// Same text, same bits: alone, in any batch, in any order, streamed.
#[test]
fn results_do_not_depend_on_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TinyBert {
        matrix_type: GgmlType::Q8_0,
        ..TinyBert::default()
    };
    let path = spec.write(dir.path(), "tiny.gguf");
    let Some(gpu) = open_gpu(&path, Options::default()) else {
        return;
    };
    let all = gpu.embed(TEXTS).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (i, t) in TEXTS.iter().enumerate() {
        let alone = gpu.embed(&[t]).unwrap();
        assert_eq!(bits(alone.row(0)), bits(all.row(i)), "text {i} alone");
    }
    let reversed: Vec<&str> = TEXTS.iter().rev().copied().collect();
    let r = gpu.embed(&reversed).unwrap();
    for i in 0..TEXTS.len() {
        assert_eq!(
            bits(r.row(TEXTS.len() - 1 - i)),
            bits(all.row(i)),
            "text {i} reversed"
        );
    }
    for (i, e) in gpu.embed_iter(TEXTS.iter()).enumerate() {
        assert_eq!(
            bits(&e.unwrap().vector),
            bits(all.row(i)),
            "text {i} streamed"
        );
    }
    let ids: Vec<Vec<u32>> = TEXTS.iter().map(|t| gpu.tokenize(t).unwrap()).collect();
    let tok = gpu.embed_tokens(&ids).unwrap();
    assert_eq!(bits(tok.row(2)), bits(all.row(2)), "embed_tokens");
}

/// More tokens than one device batch holds: split in input order, nothing lost, every text as
/// it is alone.
#[test]
fn batches_above_the_device_limit_are_split() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "tiny.gguf");
    let Some(gpu) = open_gpu(&path, Options::default()) else {
        return;
    };
    let limit = ggufembed_runtime::bert::GPU_MAX_TOKENS;
    let (mut texts, mut total) = (Vec::new(), 0);
    while total <= limit {
        let t = if texts.len() % 3 == 0 {
            TEXTS[5]
        } else {
            TEXTS[texts.len() % 5]
        };
        total += gpu.tokenize(t).unwrap().len().min(gpu.max_len());
        texts.push(t);
    }
    let e = gpu.embed(&texts).unwrap();
    assert_eq!(e.len(), texts.len());
    assert_eq!(e.token_counts().iter().sum::<usize>(), total);
    for t in TEXTS {
        let alone = gpu.embed(&[t]).unwrap();
        for (i, _) in texts.iter().enumerate().filter(|(_, x)| *x == t) {
            assert_eq!(e.row(i), alone.row(0), "text {i}");
        }
    }
}

#[test]
fn architectures_without_a_gpu_graph_are_refused_or_fall_back() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/tests/data/tiny-embeddinggemma.f32.gguf");
    let err = open_with(&path, Options::default().device(Device::Gpu)).unwrap_err();
    assert!(
        err.to_string().contains("the GPU backend runs BERT models"),
        "{err}"
    );
    let m = open_with(&path, Options::default()).unwrap();
    assert_eq!(m.device(), Device::Cpu);
}

/// One GPU model shared by several threads (their batches take turns on the device): every
/// result is the one a lone call gives.
#[test]
fn one_gpu_model_shared_by_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "tiny.gguf");
    let Some(gpu) = open_gpu(&path, Options::default()) else {
        return;
    };
    let want = gpu.embed(TEXTS).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (gpu, want) = (&gpu, &want);
            s.spawn(move || {
                for round in 0..3 {
                    let i = (t + round) % TEXTS.len();
                    let e = gpu
                        .embed(&[TEXTS[i], TEXTS[(i + 1) % TEXTS.len()]])
                        .unwrap();
                    assert_eq!(e.row(0), want.row(i), "thread {t} round {round}");
                }
            });
        }
    });
}
