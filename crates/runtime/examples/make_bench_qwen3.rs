//! Writes a Qwen3-Embedding-0.6B-shaped Q8_0 GGUF with random weights, for speed measurements
//! (weights do not change speed): width 1024, 28 layers, 16 query heads and 8 KV heads of width
//! 128, FFN 3072 SwiGLU, context 32,768, last-token pooling, in the layout and metadata of
//! llama.cpp's converter. The tokenizer metadata is copied from another GGUF (by default the
//! tiny Qwen3-Embedding test model, whose 1,203-token vocabulary sets the embedding table's
//! size). Matrices are Q8_0, norms F32; the values come from a fixed seed, so the output is the
//! same bytes on every run.
//!
//! ```text
//! cargo run --release -p ggufembed-runtime --example make_bench_qwen3 -- OUT.gguf [TOKENIZER.gguf]
//! ```
//! (`scripts/make-bench-qwen3.sh OUT.gguf` runs this.) `tests/qwen3_bench_model.rs` runs the
//! same generator at a small shape.

use std::error::Error;
use std::path::{Path, PathBuf};

use ggufembed_runtime::gguf_loader::{GgmlType, GgufFile, GgufWriter, Value};

#[allow(dead_code)] // Only its value helpers are used here.
#[path = "make_bench_gemma.rs"]
mod make_bench_gemma;

use make_bench_gemma::{Rng, f32_bytes, q8_0_bytes};

/// The shape of a generated model.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Hidden width.
    pub n_embd: usize,
    /// Layers.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_head_kv: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Feed-forward width.
    pub n_ff: usize,
    /// Context length.
    pub n_ctx: usize,
}

/// Qwen3-Embedding-0.6B's shape (its vocabulary of 151,669 aside).
pub const QWEN3_EMBEDDING_0_6B: Shape = Shape {
    n_embd: 1024,
    n_layer: 28,
    n_head: 16,
    n_head_kv: 8,
    head_dim: 128,
    n_ff: 3072,
    n_ctx: 32768,
};

const ARCH: &str = "qwen3";

/// Builds the model: `shape`, the `tokenizer.*` metadata of `tokenizer`, weights from `seed`.
pub fn build(
    shape: &Shape,
    tokenizer: &GgufFile,
    seed: u64,
) -> Result<GgufWriter<'static>, Box<dyn Error>> {
    let s = shape;
    let n_vocab = tokenizer.get_any_array("tokenizer.ggml.tokens")?.len();
    let mut w = GgufWriter::new();
    let u = |v: usize| Value::U32(v as u32);
    w.add_metadata("general.architecture", ARCH)?;
    w.add_metadata("general.name", "random Qwen3-Embedding-shaped model")?;
    for (key, value) in [
        ("block_count", u(s.n_layer)),
        ("context_length", u(s.n_ctx)),
        ("embedding_length", u(s.n_embd)),
        ("feed_forward_length", u(s.n_ff)),
        ("attention.head_count", u(s.n_head)),
        ("attention.head_count_kv", u(s.n_head_kv)),
        ("rope.freq_base", Value::F32(1_000_000.0)),
        ("attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
        ("attention.key_length", u(s.head_dim)),
        ("attention.value_length", u(s.head_dim)),
        ("pooling_type", u(3)),
    ] {
        w.add_metadata(format!("{ARCH}.{key}"), value)?;
    }
    w.add_metadata("general.file_type", Value::U32(7))?; // MOSTLY_Q8_0
    for (key, value) in tokenizer.metadata() {
        if key.starts_with("tokenizer.") {
            w.add_metadata(key, value.clone())?;
        }
    }

    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // A matrix of `n` rows by `k` inputs, uniform in ±1/√k (unit-variance-ish outputs).
    let mut matrix = |w: &mut GgufWriter<'static>, name: &str, k: usize, n: usize| {
        let v = rng.fill(k * n, 1.0 / (k as f32).sqrt(), 0.0);
        w.add_tensor(name, GgmlType::Q8_0, &[k as u64, n as u64], q8_0_bytes(&v))
    };
    let (d, qw, kvw) = (s.n_embd, s.n_head * s.head_dim, s.n_head_kv * s.head_dim);
    matrix(&mut w, "token_embd.weight", d, n_vocab)?;
    let mut norm_rng = Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B);
    let mut norm = |w: &mut GgufWriter<'static>, name: &str, n: usize| {
        w.add_tensor(
            name,
            GgmlType::F32,
            &[n as u64],
            f32_bytes(&norm_rng.fill(n, 0.1, 1.0)),
        )
    };
    norm(&mut w, "output_norm.weight", d)?;
    for i in 0..s.n_layer {
        let b = |t: &str| format!("blk.{i}.{t}.weight");
        norm(&mut w, &b("attn_norm"), d)?;
        matrix(&mut w, &b("attn_q"), d, qw)?;
        matrix(&mut w, &b("attn_k"), d, kvw)?;
        matrix(&mut w, &b("attn_v"), d, kvw)?;
        norm(&mut w, &b("attn_q_norm"), s.head_dim)?;
        norm(&mut w, &b("attn_k_norm"), s.head_dim)?;
        matrix(&mut w, &b("attn_output"), qw, d)?;
        norm(&mut w, &b("ffn_norm"), d)?;
        matrix(&mut w, &b("ffn_gate"), d, s.n_ff)?;
        matrix(&mut w, &b("ffn_up"), d, s.n_ff)?;
        matrix(&mut w, &b("ffn_down"), s.n_ff, d)?;
    }
    Ok(w)
}

/// Writes the model to `out`.
pub fn write(shape: &Shape, tokenizer: &Path, seed: u64, out: &Path) -> Result<(), Box<dyn Error>> {
    let tokenizer = GgufFile::open(tokenizer)?;
    build(shape, &tokenizer, seed)?.write_file(out)?;
    Ok(())
}

#[allow(dead_code)] // `tests/qwen3_bench_model.rs` includes this file for `build` only.
fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: make_bench_qwen3 OUT.gguf [TOKENIZER.gguf]");
        std::process::exit(2);
    };
    let tokenizer = args.next().map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/tiny-qwen3-embedding.q8_0.gguf")
        },
        PathBuf::from,
    );
    write(&QWEN3_EMBEDDING_0_6B, &tokenizer, 0x7177_656E, &out)?;
    println!(
        "{}: {} bytes",
        out.display(),
        std::fs::metadata(&out)?.len()
    );
    Ok(())
}
