//! The benchmark-model generator (`ggufembed_testkit::bench_model`, run by
//! `examples/make_bench_model.rs`) at small shapes, one per architecture: the file it writes
//! opens through the registry as that architecture with the shape asked for, embeds a text to
//! finite vectors, and is the same bytes for the same seed.

mod common;

use ggufembed_runtime::exec::Exec;
use ggufembed_runtime::gemma::GemmaModel;
use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_runtime::kernels::kernels;
use ggufembed_runtime::modern_bert::ModernBertModel;
use ggufembed_runtime::nomic_bert::NomicBertModel;
use ggufembed_runtime::qwen3::Qwen3Model;
use ggufembed_runtime::registry::load_model;
use ggufembed_runtime::{Batch, MappedEncoder, Pooling, Tokenizer};
use ggufembed_testkit::bench_model::{
    Arch, EMBEDDINGGEMMA_300M, MODERNBERT_BASE, NOMIC_EMBED_TEXT_V1_5, QWEN3_EMBEDDING_0_6B,
    SHAPES, Shape, build,
};

/// `real` made small (heads of 32), keeping what the real shape has: more query heads than KV
/// heads and a query width unlike the model width where it has them (nomic-bert and ModernBERT
/// files have no `key_length`: their heads must span the width), sliding and global layers.
fn small(real: &Shape, n_layer: usize, n_head: usize, n_head_kv: usize, window: usize) -> Shape {
    Shape {
        n_embd: 64,
        n_layer,
        n_head,
        n_head_kv,
        head_dim: 32,
        n_ff: 96,
        n_ctx: 128,
        sliding_window: window,
        dense: if real.arch == Arch::Gemma {
            (160, 96)
        } else {
            (0, 0)
        },
        ..real.clone()
    }
}

fn tokenizer_of(arch: Arch) -> GgufFile {
    let (_, _, tiny) = SHAPES.iter().find(|(_, s, _)| s.arch == arch).unwrap();
    GgufFile::open(common::data(tiny)).unwrap()
}

/// Writes `shape` twice with one seed and once with another; returns the first.
fn deterministic_model(shape: &Shape) -> Vec<u8> {
    let tokenizer = tokenizer_of(shape.arch);
    let bytes = |seed| build(shape, &tokenizer, seed).unwrap().to_bytes();
    let first = bytes(7);
    assert_eq!(first, bytes(7), "{:?}: same seed, same bytes", shape.arch);
    assert_ne!(
        first,
        bytes(8),
        "{:?}: another seed, other weights",
        shape.arch
    );
    first
}

/// Opens `bytes` through the registry and embeds one text; returns the vector.
fn embed_one(bytes: &[u8], arch: &str) -> Vec<f32> {
    let file = GgufFile::from_bytes(bytes).unwrap();
    let ids = Tokenizer::from_gguf(&file)
        .unwrap()
        .encode("A random model still embeds text of some length, longer than the window.")
        .unwrap();
    let mapped = MappedEncoder::load(file).unwrap();
    let enc = mapped.encoder();
    assert_eq!(enc.architecture(), arch);
    let pooling = enc.default_pooling();
    let mut out = vec![0.0; enc.out_dim(pooling)];
    let seq = 0..ids.len();
    let batch = Batch::new(&ids, std::slice::from_ref(&seq))
        .check(&enc.batch_limits(enc.n_ctx()))
        .unwrap();
    enc.forward(
        &Exec::serial(kernels()),
        &batch,
        pooling,
        &mut out,
        &mut Default::default(),
    )
    .unwrap();
    assert!(out.iter().all(|v| v.is_finite()), "{arch}: {out:?}");
    assert!(out.iter().any(|&v| v != 0.0), "{arch}");
    out
}

#[test]
fn gemma_model_loads_and_embeds() {
    let bytes = deterministic_model(&small(&EMBEDDINGGEMMA_300M, 7, 3, 1, 6));
    let file = GgufFile::from_bytes(&bytes).unwrap();
    let model = load_model::<GemmaModel>(&file, "gemma-embedding").unwrap();
    let c = &model.config;
    assert_eq!((c.n_head, c.n_head_kv, c.head_dim), (3, 1, 32));
    assert_eq!(model.dim(), 96);
    let global: Vec<usize> = (0..c.n_layer).filter(|&l| c.is_global(l)).collect();
    assert_eq!(global, [5]);
    assert_eq!(embed_one(&bytes, "gemma-embedding").len(), 96);
}

#[test]
fn qwen3_model_loads_and_embeds() {
    let bytes = deterministic_model(&small(&QWEN3_EMBEDDING_0_6B, 3, 4, 2, 0));
    let file = GgufFile::from_bytes(&bytes).unwrap();
    let model = load_model::<Qwen3Model>(&file, "qwen3").unwrap();
    let c = &model.config;
    assert_eq!((c.n_head, c.n_head_kv, c.head_dim, c.n_ff), (4, 2, 32, 96));
    assert_eq!(model.pooling(), Pooling::Last);
    embed_one(&bytes, "qwen3");
}

#[test]
fn nomic_bert_model_loads_and_embeds() {
    let bytes = deterministic_model(&small(&NOMIC_EMBED_TEXT_V1_5, 2, 2, 2, 0));
    let file = GgufFile::from_bytes(&bytes).unwrap();
    let model = load_model::<NomicBertModel>(&file, "nomic-bert").unwrap();
    let c = &model.config;
    assert_eq!(
        (c.n_head, c.head_dim, c.n_ff, model.n_types),
        (2, 32, 96, 2)
    );
    assert_eq!(model.pooling(), Pooling::Mean);
    embed_one(&bytes, "nomic-bert");
}

#[test]
fn modern_bert_model_loads_and_embeds() {
    let bytes = deterministic_model(&small(&MODERNBERT_BASE, 4, 2, 2, 8));
    let file = GgufFile::from_bytes(&bytes).unwrap();
    let model = load_model::<ModernBertModel>(&file, "modern-bert").unwrap();
    let c = &model.config;
    assert_eq!((c.n_head, c.head_dim, c.n_ff), (2, 32, 96));
    let global: Vec<usize> = (0..c.n_layer).filter(|&l| c.is_global(l)).collect();
    assert_eq!(global, [0, 3]);
    embed_one(&bytes, "modern-bert");
}

#[test]
fn the_real_shapes_are_the_documented_ones() {
    let s = |s: &Shape| {
        (
            s.n_embd,
            s.n_layer,
            s.n_head,
            s.n_head_kv,
            s.head_dim,
            s.n_ff,
        )
    };
    assert_eq!(s(&NOMIC_EMBED_TEXT_V1_5), (768, 12, 12, 12, 64, 3072));
    assert_eq!(s(&QWEN3_EMBEDDING_0_6B), (1024, 28, 16, 8, 128, 3072));
    assert_eq!(s(&MODERNBERT_BASE), (768, 22, 12, 12, 64, 1152));
    assert_eq!(MODERNBERT_BASE.sliding_window, 128);
    assert_eq!(s(&EMBEDDINGGEMMA_300M), (768, 24, 3, 1, 256, 1152));
    let names: Vec<&str> = SHAPES.iter().map(|(n, ..)| *n).collect();
    assert_eq!(names, ["gemma", "qwen3", "nomic-bert", "modern-bert"]);
}
