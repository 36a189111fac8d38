//! Writes an EmbeddingGemma-300M-shaped Q8_0 GGUF with random weights, for speed measurements
//! (weights do not change speed): width 768, 24 layers (every 6th global), 3 query heads, 1 KV
//! head of width 256, FFN 1152, sliding window 512, context 2048, dense 768 → 3072 → 768, in the
//! layout and metadata of llama.cpp's converter. The tokenizer metadata is copied from another
//! GGUF (by default the tiny EmbeddingGemma test model, whose 1,001-piece vocabulary sets the
//! embedding table's size). Matrices are Q8_0, norms F32; the values come from a fixed seed, so
//! the output is the same bytes on every run.
//!
//! ```text
//! cargo run --release -p ggufembed-runtime --example make_bench_gemma -- OUT.gguf [TOKENIZER.gguf]
//! ```
//! (`scripts/make-bench-gemma.sh OUT.gguf` runs this.) `tests/gemma_bench_model.rs` runs the
//! same generator at a small shape.

use std::error::Error;
use std::path::{Path, PathBuf};

use ggufembed_runtime::gguf_loader::{GgmlType, GgufFile, GgufWriter, Value};
use ggufembed_runtime::kernels::{BlockQ8_0, QK8_0, quantize_row_q8_0};

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
    /// Sliding window (symmetric, as the converter writes it).
    pub sliding_window: usize,
    /// `dense_2` outputs.
    pub dense_hidden: usize,
    /// `dense_3` outputs.
    pub dense_out: usize,
}

/// EmbeddingGemma-300M's shape (its vocabulary of 262,144 aside).
pub const EMBEDDINGGEMMA_300M: Shape = Shape {
    n_embd: 768,
    n_layer: 24,
    n_head: 3,
    n_head_kv: 1,
    head_dim: 256,
    n_ff: 1152,
    n_ctx: 2048,
    sliding_window: 512,
    dense_hidden: 3072,
    dense_out: 768,
};

const ARCH: &str = "gemma-embedding";

/// xorshift64*: deterministic uniform values in `[-scale, scale)`.
pub struct Rng(pub u64);

impl Rng {
    /// `n` values uniform in `offset ± scale`.
    pub fn fill(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
                offset + (r as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }
}

/// `values` as Q8_0 blocks, in the file's byte layout.
pub fn q8_0_bytes(values: &[f32]) -> Vec<u8> {
    let mut blocks = vec![BlockQ8_0::default(); values.len() / QK8_0];
    quantize_row_q8_0(values, &mut blocks);
    let mut out = Vec::with_capacity(blocks.len() * 34);
    for b in &blocks {
        out.extend_from_slice(&b.d.to_le_bytes());
        out.extend(b.qs.iter().map(|&q| q as u8));
    }
    out
}

/// `values` as little-endian f32 bytes.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

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
    w.add_metadata("general.name", "random EmbeddingGemma-shaped model")?;
    for (key, value) in [
        ("block_count", u(s.n_layer)),
        ("context_length", u(s.n_ctx)),
        ("embedding_length", u(s.n_embd)),
        ("feed_forward_length", u(s.n_ff)),
        ("attention.head_count", u(s.n_head)),
        ("attention.head_count_kv", u(s.n_head_kv)),
        ("rope.freq_base", Value::F32(1_000_000.0)),
        ("rope.freq_base_swa", Value::F32(10_000.0)),
        ("attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
        ("attention.key_length", u(s.head_dim)),
        ("attention.value_length", u(s.head_dim)),
        ("attention.sliding_window", u(s.sliding_window)),
        ("dense_2_feat_in", u(s.n_embd)),
        ("dense_2_feat_out", u(s.dense_hidden)),
        ("dense_3_feat_in", u(s.dense_hidden)),
        ("dense_3_feat_out", u(s.dense_out)),
        ("pooling_type", u(1)),
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
    matrix(&mut w, "dense_2.weight", d, s.dense_hidden)?;
    matrix(&mut w, "dense_3.weight", s.dense_hidden, s.dense_out)?;
    let mut norm_rng = Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B);
    // Norm weights as the converter stores them (Gemma's `1 + w` folded in): near 1.
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
        norm(&mut w, &b("post_attention_norm"), d)?;
        norm(&mut w, &b("ffn_norm"), d)?;
        matrix(&mut w, &b("ffn_gate"), d, s.n_ff)?;
        matrix(&mut w, &b("ffn_up"), d, s.n_ff)?;
        matrix(&mut w, &b("ffn_down"), s.n_ff, d)?;
        norm(&mut w, &b("post_ffw_norm"), d)?;
    }
    Ok(w)
}

/// Writes the model to `out`.
pub fn write(shape: &Shape, tokenizer: &Path, seed: u64, out: &Path) -> Result<(), Box<dyn Error>> {
    let tokenizer = GgufFile::open(tokenizer)?;
    build(shape, &tokenizer, seed)?.write_file(out)?;
    Ok(())
}

#[allow(dead_code)] // `tests/gemma_bench_model.rs` includes this file for `build` only.
fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: make_bench_gemma OUT.gguf [TOKENIZER.gguf]");
        std::process::exit(2);
    };
    let tokenizer = args.next().map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/tiny-embeddinggemma.q8_0.gguf")
        },
        PathBuf::from,
    );
    write(&EMBEDDINGGEMMA_300M, &tokenizer, 0x6E6D_6D61, &out)?;
    println!(
        "{}: {} bytes",
        out.display(),
        std::fs::metadata(&out)?.len()
    );
    Ok(())
}
