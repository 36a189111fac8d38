//! The benchmark-model generator (`examples/make_bench_qwen3.rs`) at a small shape: the file it
//! writes loads as `qwen3`, embeds a text to finite vectors, and is the same bytes for the same
//! seed.

mod common;

#[allow(dead_code)]
#[path = "../examples/make_bench_qwen3.rs"]
mod make_bench_qwen3;

use make_bench_qwen3::Shape;

use ggufembed_runtime::exec::Exec;
use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_runtime::kernels::kernels;
use ggufembed_runtime::qwen3::{Qwen3Model, Qwen3Scratch};
use ggufembed_runtime::{Pooling, Tokenizer};

/// Small, but with everything the real shape has: twice as many query heads as KV heads and a
/// query width (4 × 32) unlike the model width.
const SMALL: Shape = Shape {
    n_embd: 64,
    n_layer: 3,
    n_head: 4,
    n_head_kv: 2,
    head_dim: 32,
    n_ff: 96,
    n_ctx: 128,
};

fn small_model(seed: u64) -> Vec<u8> {
    let tokenizer = GgufFile::open(common::data("tiny-qwen3-embedding.q8_0.gguf")).unwrap();
    make_bench_qwen3::build(&SMALL, &tokenizer, seed)
        .unwrap()
        .to_bytes()
}

#[test]
fn generated_model_loads_and_embeds() {
    let bytes = small_model(7);
    assert_eq!(bytes, small_model(7), "same seed, same bytes");
    assert_ne!(bytes, small_model(8), "another seed, other weights");
    let file = GgufFile::from_bytes(&bytes).unwrap();
    let model = Qwen3Model::load(&file, "qwen3").unwrap();
    let c = &model.config;
    assert_eq!((c.n_head, c.n_head_kv, c.head_dim, c.n_ff), (4, 2, 32, 96));
    assert_eq!(model.pooling(), Pooling::Last);

    let ids = Tokenizer::from_gguf(&file)
        .unwrap()
        .encode("A random model still embeds text of some length.")
        .unwrap();
    let w = model.bind(&file).unwrap();
    let mut out = vec![0.0; model.dim()];
    w.forward(
        &Exec::serial(kernels()),
        &ids,
        std::slice::from_ref(&(0..ids.len())),
        Pooling::Last,
        &mut out,
        &mut Qwen3Scratch::default(),
    )
    .unwrap();
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
    assert!(out.iter().any(|&v| v != 0.0));
}
