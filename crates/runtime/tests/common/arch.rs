//! Checks every architecture's graph tests share, written once over the registry's
//! [`Architecture`] trait: running packed batches, batch and matmul-split invariance, and the
//! refusal of hostile files (the error must name the field and say why).
#![allow(dead_code)]

use std::ops::Range;

use ggufembed_runtime::exec::Exec;
use ggufembed_runtime::gguf_loader::{GgufError, GgufFile, Value};
use ggufembed_runtime::kernels::kernels;
use ggufembed_runtime::pool::WorkerPool;
use ggufembed_runtime::registry::{Architecture, load_model};
use ggufembed_runtime::{Batch, BatchLimits, CheckedBatch, Pooling, RuntimeError};

use super::parity;

/// Runs `ids` packed as `seqs` through `A`'s graph: the pooled rows (or, with
/// [`Pooling::None`], one row per token).
pub fn run<A: Architecture>(
    w: &A::Weights<'_>,
    exec: &Exec<'_>,
    ids: &[u32],
    seqs: &[Range<usize>],
    pooling: Pooling,
    s: &mut A::Scratch,
) -> Vec<f32> {
    let rows: usize = seqs.iter().map(|r| pooling.rows(r.len())).sum();
    let mut out = vec![0.0; rows * A::out_dim(w, pooling)];
    let batch = Batch::new(ids, seqs).check(&A::limits(w)).expect("check");
    A::forward(w, exec, &batch, pooling, &mut out, s).expect("forward");
    out
}

/// Runs `texts` (already tokenized) as one packed batch.
pub fn embed<A: Architecture>(
    w: &A::Weights<'_>,
    exec: &Exec<'_>,
    texts: &[&[u32]],
    pooling: Pooling,
    s: &mut A::Scratch,
) -> Vec<f32> {
    let (ids, seqs) = parity::pack(texts);
    run::<A>(w, exec, &ids, &seqs, pooling, s)
}

/// `target`'s result, for every pooling, is the same bits alone and packed between `before`
/// and `after`, serial or with matmuls split across two workers, with a fresh or a reused
/// scratch. `label` names the file in a failure.
pub fn assert_batch_invariant<A: Architecture>(
    file: &GgufFile,
    arch: &str,
    label: &str,
    [before, target, after]: [&[u32]; 3],
) {
    let pool = WorkerPool::new(2).unwrap();
    let splitter = pool.splitter(2);
    let serial = Exec::serial(kernels());
    let split = Exec {
        kernels: kernels(),
        split: Some(&splitter),
    };
    let (_, w) = A::load(file, arch).expect("load the model");
    for pooling in [Pooling::Mean, Pooling::Cls, Pooling::Last, Pooling::None] {
        let alone = embed::<A>(&w, &serial, &[target], pooling, &mut Default::default());
        let offset = pooling.rows(before.len()) * A::out_dim(&w, pooling);
        let mut s = A::Scratch::default();
        for exec in [&serial, &split] {
            let packed = embed::<A>(&w, exec, &[before, target, after], pooling, &mut s);
            assert_eq!(
                alone,
                packed[offset..offset + alone.len()],
                "{label} {pooling}: packed result differs (split: {})",
                exec.split.is_some()
            );
        }
        let again = embed::<A>(&w, &serial, &[target], pooling, &mut s);
        assert_eq!(alone, again, "{label} {pooling}: reused scratch differs");
    }
}

/// `file` is refused by `A` with an error that names `name` (the key or tensor) and contains
/// `needle`.
#[track_caller]
pub fn assert_refused<A: Architecture>(file: &GgufFile, arch: &str, name: &str, needle: &str) {
    let err = load_model::<A>(file, arch).expect_err("the file must be refused");
    let msg = err.to_string();
    let named = match &err {
        RuntimeError::Metadata { key, .. } => key == name,
        RuntimeError::Tensor { name: n, .. } => n == name,
        RuntimeError::Gguf(GgufError::MissingTensor { name: n }) => n == name,
        RuntimeError::Gguf(GgufError::MissingKey { key }) => key == name,
        RuntimeError::Gguf(GgufError::WrongType { key, .. }) => key == name,
        _ => false,
    };
    assert!(named, "error does not name {name}: {err:?}");
    assert!(msg.contains(name) && msg.contains(needle), "{msg}");
}

/// `base` with `{arch}.{key}` set to `value` (`None` removes it), tensors unchanged.
pub fn with_meta(base: &GgufFile, arch: &str, key: &str, value: Option<Value>) -> GgufFile {
    let key = format!("{arch}.{key}");
    super::synth::rewrite(
        base,
        |md| match &value {
            Some(v) => super::set(md, &key, v.clone()),
            None => md.retain(|(k, _)| *k != key),
        },
        |_, shape| Some(shape),
    )
}

/// Asserts that a graph refuses a batch checked for a larger vocabulary than its own
/// (`forward` runs the graph on the batch it is given): a checked batch must fit the graph
/// it reaches.
pub fn assert_refuses_looser_vocab(
    limits: BatchLimits,
    forward: impl FnOnce(&CheckedBatch<'_>) -> Result<(), RuntimeError>,
) {
    let looser = BatchLimits {
        n_vocab: limits.n_vocab + 1,
        ..limits
    };
    let (ids, seq) = ([1u32, 2], 0..2);
    let batch = Batch::new(&ids, std::slice::from_ref(&seq))
        .check(&looser)
        .unwrap();
    let err = forward(&batch).unwrap_err();
    assert!(err.to_string().contains("do not cover"), "{err}");
}
