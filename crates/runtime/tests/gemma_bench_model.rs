//! The benchmark-model generator (`examples/make_bench_gemma.rs`) at a small shape: the file it
//! writes loads, embeds a text to finite vectors, and is the same bytes for the same seed.

mod common;

#[allow(dead_code)]
#[path = "../examples/make_bench_gemma.rs"]
mod make_bench_gemma;

use make_bench_gemma::Shape;

use ggufembed_runtime::exec::Exec;
use ggufembed_runtime::gemma::{GemmaModel, GemmaScratch};
use ggufembed_runtime::gguf_loader::GgufFile;
use ggufembed_runtime::kernels::kernels;
use ggufembed_runtime::{Pooling, Tokenizer};

/// Small, but with everything the real shape has: more query heads than KV heads, a query width
/// (3 × 32) unlike the model width, sliding and global layers, dense layers of other widths.
const SMALL: Shape = Shape {
    n_embd: 64,
    n_layer: 7,
    n_head: 3,
    n_head_kv: 1,
    head_dim: 32,
    n_ff: 96,
    n_ctx: 128,
    sliding_window: 6,
    dense_hidden: 160,
    dense_out: 96,
};

fn small_model(seed: u64) -> Vec<u8> {
    let tokenizer = GgufFile::open(common::data("tiny-embeddinggemma.q8_0.gguf")).unwrap();
    make_bench_gemma::build(&SMALL, &tokenizer, seed)
        .unwrap()
        .to_bytes()
}

#[test]
fn generated_model_loads_and_embeds() {
    let bytes = small_model(7);
    assert_eq!(bytes, small_model(7), "same seed, same bytes");
    assert_ne!(bytes, small_model(8), "another seed, other weights");
    let file = GgufFile::from_bytes(&bytes).unwrap();
    let model = GemmaModel::load(&file, "gemma-embedding").unwrap();
    let c = &model.config;
    assert_eq!((c.n_head, c.n_head_kv, c.head_dim), (3, 1, 32));
    assert_eq!(model.dim(), 96);
    let global: Vec<usize> = (0..c.n_layer).filter(|&l| c.is_global(l)).collect();
    assert_eq!(global, [5]);

    let ids = Tokenizer::from_gguf(&file)
        .unwrap()
        .encode("A random model still embeds text of some length, longer than the window.")
        .unwrap();
    let w = model.bind(&file).unwrap();
    let mut out = vec![0.0; model.dim()];
    w.forward(
        &Exec::serial(kernels()),
        &ids,
        std::slice::from_ref(&(0..ids.len())),
        Pooling::Mean,
        &mut out,
        &mut GemmaScratch::default(),
    )
    .unwrap();
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
    assert!(out.iter().any(|&v| v != 0.0));
}
