//! Benchmark models: random weights at a real model's shape, in the tensor names, layout and
//! metadata of llama.cpp's converter, so that llama.cpp loads the same file we time (weights do
//! not change speed). One generator for every architecture: a [`Shape`] names the architecture
//! and its sizes, and [`build`] writes the tensors that architecture's graph reads. The
//! `tokenizer.*` metadata is copied from another GGUF (a tiny model of the same architecture,
//! whose vocabulary sets the embedding table's size). Matrices are Q8_0, norms and biases F32;
//! the values come from a seed, so the output is the same bytes on every run.
//!
//! `cargo run --release -p ggufembed-runtime --example make_bench_model -- ARCH OUT.gguf
//! [TOKENIZER.gguf]` (or `scripts/make-bench-model.sh`) writes the shapes in [`SHAPES`].

use gguf_loader::{GgmlType, GgufError, GgufFile, GgufWriter, Value};
use ggufembed_kernels::{BlockQ8_0, QK8_0, quantize_row_q8_0};

/// The architectures [`build`] writes, with what differs between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `gemma-embedding` (EmbeddingGemma): RMSNorm sandwich, q/k norms, GQA, sliding window,
    /// GeGLU, dense projections after pooling.
    Gemma,
    /// `qwen3` (Qwen3-Embedding): causal decoder, q/k norms, GQA, SwiGLU, last-token pooling.
    Qwen3,
    /// `nomic-bert` (nomic-embed-text): post-LayerNorm BERT with RoPE, fused QKV, SwiGLU.
    NomicBert,
    /// `modern-bert` (ModernBERT): pre-LayerNorm without biases, fused QKV, local and global
    /// layers with two RoPE bases, GeGLU from one fused `ffn_up`.
    ModernBert,
}

impl Arch {
    /// `general.architecture`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Gemma => "gemma-embedding",
            Arch::Qwen3 => "qwen3",
            Arch::NomicBert => "nomic-bert",
            Arch::ModernBert => "modern-bert",
        }
    }
}

/// The shape of a generated model.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Which graph the tensors are for.
    pub arch: Arch,
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
    /// Feed-forward width (of the gated product).
    pub n_ff: usize,
    /// Context length.
    pub n_ctx: usize,
    /// Sliding window, as the converter writes it (0: none). Gemma and ModernBERT.
    pub sliding_window: usize,
    /// Gemma: `dense_2` and `dense_3` outputs (ignored by the other architectures).
    pub dense: (usize, usize),
}

/// EmbeddingGemma-300M (its vocabulary of 262,144 aside): width 768, 24 layers (every 6th
/// global), 3 query heads and 1 KV head of width 256, FFN 1152, window 512, dense 768 → 3072 →
/// 768, context 2048.
pub const EMBEDDINGGEMMA_300M: Shape = Shape {
    arch: Arch::Gemma,
    n_embd: 768,
    n_layer: 24,
    n_head: 3,
    n_head_kv: 1,
    head_dim: 256,
    n_ff: 1152,
    n_ctx: 2048,
    sliding_window: 512,
    dense: (3072, 768),
};

/// Qwen3-Embedding-0.6B (its vocabulary of 151,669 aside): width 1024, 28 layers, 16 query
/// heads and 8 KV heads of width 128, FFN 3072, context 32,768.
pub const QWEN3_EMBEDDING_0_6B: Shape = Shape {
    arch: Arch::Qwen3,
    n_embd: 1024,
    n_layer: 28,
    n_head: 16,
    n_head_kv: 8,
    head_dim: 128,
    n_ff: 3072,
    n_ctx: 32768,
    sliding_window: 0,
    dense: (0, 0),
};

/// nomic-embed-text-v1.5 (its vocabulary of 30,522 aside): width 768, 12 layers, 12 heads of
/// width 64, SwiGLU 3072, context 2048.
pub const NOMIC_EMBED_TEXT_V1_5: Shape = Shape {
    arch: Arch::NomicBert,
    n_embd: 768,
    n_layer: 12,
    n_head: 12,
    n_head_kv: 12,
    head_dim: 64,
    n_ff: 3072,
    n_ctx: 2048,
    sliding_window: 0,
    dense: (0, 0),
};

/// ModernBERT-base (its vocabulary of 50,368 aside): width 768, 22 layers, 12 heads of width
/// 64, GeGLU 1152, local window 128 with every third layer global, context 8192.
pub const MODERNBERT_BASE: Shape = Shape {
    arch: Arch::ModernBert,
    n_embd: 768,
    n_layer: 22,
    n_head: 12,
    n_head_kv: 12,
    head_dim: 64,
    n_ff: 1152,
    n_ctx: 8192,
    sliding_window: 128,
    dense: (0, 0),
};

/// The real shapes by command-line name, with the tiny model whose tokenizer they take by
/// default (a file in `crates/runtime/tests/data`).
pub const SHAPES: &[(&str, Shape, &str)] = &[
    (
        "gemma",
        EMBEDDINGGEMMA_300M,
        "tiny-embeddinggemma-vocab.gguf",
    ),
    (
        "qwen3",
        QWEN3_EMBEDDING_0_6B,
        "tiny-qwen3-embedding-vocab.gguf",
    ),
    (
        "nomic-bert",
        NOMIC_EMBED_TEXT_V1_5,
        "tiny-nomic-bert-vocab.gguf",
    ),
    ("modern-bert", MODERNBERT_BASE, "tiny-modernbert-vocab.gguf"),
];

/// xorshift64*: deterministic uniform values.
struct Rng(u64);

impl Rng {
    /// `n` values uniform in `offset ± scale`.
    fn fill(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
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
fn q8_0_bytes(values: &[f32]) -> Vec<u8> {
    let mut blocks = vec![BlockQ8_0::default(); values.len() / QK8_0];
    quantize_row_q8_0(values, &mut blocks);
    bytemuck::cast_slice(&blocks).to_vec()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The tensors being written, with the two random streams (matrices; norms and biases).
struct Tensors {
    w: GgufWriter<'static>,
    matrices: Rng,
    vectors: Rng,
}

impl Tensors {
    /// A Q8_0 matrix of `n` rows by `k` inputs, uniform in ±1/√k (unit-variance-ish outputs).
    fn matrix(&mut self, name: &str, k: usize, n: usize) -> Result<(), GgufError> {
        let v = self.matrices.fill(k * n, 1.0 / (k as f32).sqrt(), 0.0);
        self.w
            .add_tensor(name, GgmlType::Q8_0, &[k as u64, n as u64], q8_0_bytes(&v))
    }

    /// An F32 matrix (small tables the converter keeps in F32, e.g. token types).
    fn f32_matrix(&mut self, name: &str, k: usize, n: usize) -> Result<(), GgufError> {
        let v = self.vectors.fill(k * n, 0.1, 0.0);
        self.w
            .add_tensor(name, GgmlType::F32, &[k as u64, n as u64], f32_bytes(&v))
    }

    /// A norm weight near 1 (Gemma's `1 + w` as the converter folds it, too).
    fn norm(&mut self, name: &str, n: usize) -> Result<(), GgufError> {
        let v = self.vectors.fill(n, 0.1, 1.0);
        self.w
            .add_tensor(name, GgmlType::F32, &[n as u64], f32_bytes(&v))
    }

    /// A bias near 0.
    fn bias(&mut self, name: &str, n: usize) -> Result<(), GgufError> {
        let v = self.vectors.fill(n, 0.05, 0.0);
        self.w
            .add_tensor(name, GgmlType::F32, &[n as u64], f32_bytes(&v))
    }
}

/// Builds the model: `shape`, the `tokenizer.*` metadata of `tokenizer`, weights from `seed`.
///
/// # Errors
///
/// A tokenizer file without `tokenizer.ggml.tokens`, or a size the writer refuses (e.g. a
/// matrix whose input width is not a multiple of 32).
pub fn build(
    shape: &Shape,
    tokenizer: &GgufFile,
    seed: u64,
) -> Result<GgufWriter<'static>, GgufError> {
    let s = shape;
    let arch = s.arch.name();
    let n_vocab = tokenizer.get_any_array("tokenizer.ggml.tokens")?.len();
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", arch)?;
    w.add_metadata("general.name", format!("random {arch}-shaped model"))?;
    for (key, value) in arch_metadata(s, n_vocab) {
        w.add_metadata(format!("{arch}.{key}"), value)?;
    }
    w.add_metadata("general.file_type", Value::U32(7))?; // MOSTLY_Q8_0
    for (key, value) in tokenizer.metadata() {
        if key.starts_with("tokenizer.") {
            w.add_metadata(key, value.clone())?;
        }
    }
    let mut t = Tensors {
        w,
        matrices: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
        vectors: Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B),
    };
    match s.arch {
        Arch::Gemma | Arch::Qwen3 => decoder_tensors(s, n_vocab, &mut t)?,
        Arch::NomicBert => nomic_bert_tensors(s, n_vocab, &mut t)?,
        Arch::ModernBert => modern_bert_tensors(s, n_vocab, &mut t)?,
    }
    Ok(t.w)
}

/// The `{arch}.*` keys llama.cpp's converter writes for `s`.
fn arch_metadata(s: &Shape, n_vocab: usize) -> Vec<(&'static str, Value)> {
    let u = |v: usize| Value::U32(v as u32);
    let mut keys = vec![
        ("block_count", u(s.n_layer)),
        ("context_length", u(s.n_ctx)),
        ("embedding_length", u(s.n_embd)),
        ("feed_forward_length", u(s.n_ff)),
        ("attention.head_count", u(s.n_head)),
    ];
    match s.arch {
        Arch::Gemma => keys.extend([
            ("attention.head_count_kv", u(s.n_head_kv)),
            ("rope.freq_base", Value::F32(1_000_000.0)),
            ("rope.freq_base_swa", Value::F32(10_000.0)),
            ("attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
            ("attention.key_length", u(s.head_dim)),
            ("attention.value_length", u(s.head_dim)),
            ("attention.sliding_window", u(s.sliding_window)),
            ("dense_2_feat_in", u(s.n_embd)),
            ("dense_2_feat_out", u(s.dense.0)),
            ("dense_3_feat_in", u(s.dense.0)),
            ("dense_3_feat_out", u(s.dense.1)),
            ("pooling_type", u(1)),
        ]),
        Arch::Qwen3 => keys.extend([
            ("attention.head_count_kv", u(s.n_head_kv)),
            ("rope.freq_base", Value::F32(1_000_000.0)),
            ("attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
            ("attention.key_length", u(s.head_dim)),
            ("attention.value_length", u(s.head_dim)),
            ("pooling_type", u(3)),
        ]),
        Arch::NomicBert => keys.extend([
            ("rope.freq_base", Value::F32(1000.0)),
            ("attention.layer_norm_epsilon", Value::F32(1e-12)),
            ("attention.causal", Value::Bool(false)),
            ("pooling_type", u(1)),
        ]),
        Arch::ModernBert => keys.extend([
            ("rope.freq_base", Value::F32(160_000.0)),
            ("rope.freq_base_swa", Value::F32(10_000.0)),
            ("attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("attention.layer_norm_epsilon", Value::F32(1e-5)),
            ("attention.causal", Value::Bool(false)),
            ("pooling_type", u(1)),
            ("attention.sliding_window", u(s.sliding_window)),
            ("attention.sliding_window_pattern", u(3)),
            ("rope.scaling.type", Value::from("none")),
            ("vocab_size", u(n_vocab)),
            ("hidden_activation", Value::from("gelu")),
        ]),
    }
    keys
}

/// Gemma's and Qwen3's tensors: RMSNorm pre-norm blocks with q/k norms and separate Q, K, V
/// (Gemma adds its post-norms and dense projections).
fn decoder_tensors(s: &Shape, n_vocab: usize, t: &mut Tensors) -> Result<(), GgufError> {
    let (d, qw, kvw) = (s.n_embd, s.n_head * s.head_dim, s.n_head_kv * s.head_dim);
    let gemma = s.arch == Arch::Gemma;
    t.matrix("token_embd.weight", d, n_vocab)?;
    if gemma {
        t.matrix("dense_2.weight", d, s.dense.0)?;
        t.matrix("dense_3.weight", s.dense.0, s.dense.1)?;
    }
    t.norm("output_norm.weight", d)?;
    for i in 0..s.n_layer {
        let b = |name: &str| format!("blk.{i}.{name}.weight");
        t.norm(&b("attn_norm"), d)?;
        t.matrix(&b("attn_q"), d, qw)?;
        t.matrix(&b("attn_k"), d, kvw)?;
        t.matrix(&b("attn_v"), d, kvw)?;
        t.norm(&b("attn_q_norm"), s.head_dim)?;
        t.norm(&b("attn_k_norm"), s.head_dim)?;
        t.matrix(&b("attn_output"), qw, d)?;
        if gemma {
            t.norm(&b("post_attention_norm"), d)?;
        }
        t.norm(&b("ffn_norm"), d)?;
        t.matrix(&b("ffn_gate"), d, s.n_ff)?;
        t.matrix(&b("ffn_up"), d, s.n_ff)?;
        t.matrix(&b("ffn_down"), s.n_ff, d)?;
        if gemma {
            t.norm(&b("post_ffw_norm"), d)?;
        }
    }
    Ok(())
}

/// nomic-bert's tensors: token and type embeddings with a LayerNorm, fused QKV, post-norm
/// blocks with SwiGLU.
fn nomic_bert_tensors(s: &Shape, n_vocab: usize, t: &mut Tensors) -> Result<(), GgufError> {
    let (d, qw, kvw) = (s.n_embd, s.n_head * s.head_dim, s.n_head_kv * s.head_dim);
    t.matrix("token_embd.weight", d, n_vocab)?;
    t.f32_matrix("token_types.weight", d, 2)?;
    t.norm("token_embd_norm.weight", d)?;
    t.bias("token_embd_norm.bias", d)?;
    for i in 0..s.n_layer {
        let b = |name: &str| format!("blk.{i}.{name}");
        t.matrix(&b("attn_qkv.weight"), d, qw + 2 * kvw)?;
        t.matrix(&b("attn_output.weight"), qw, d)?;
        t.norm(&b("attn_output_norm.weight"), d)?;
        t.bias(&b("attn_output_norm.bias"), d)?;
        t.matrix(&b("ffn_up.weight"), d, s.n_ff)?;
        t.matrix(&b("ffn_gate.weight"), d, s.n_ff)?;
        t.matrix(&b("ffn_down.weight"), s.n_ff, d)?;
        t.norm(&b("layer_output_norm.weight"), d)?;
        t.bias(&b("layer_output_norm.bias"), d)?;
    }
    Ok(())
}

/// ModernBERT's tensors: bias-free LayerNorms (none before layer 0's attention), fused QKV, one
/// `ffn_up` holding both GeGLU halves.
fn modern_bert_tensors(s: &Shape, n_vocab: usize, t: &mut Tensors) -> Result<(), GgufError> {
    let (d, qw, kvw) = (s.n_embd, s.n_head * s.head_dim, s.n_head_kv * s.head_dim);
    t.matrix("token_embd.weight", d, n_vocab)?;
    t.norm("token_embd_norm.weight", d)?;
    t.norm("output_norm.weight", d)?;
    for i in 0..s.n_layer {
        let b = |name: &str| format!("blk.{i}.{name}.weight");
        if i > 0 {
            t.norm(&b("attn_norm"), d)?;
        }
        t.matrix(&b("attn_qkv"), d, qw + 2 * kvw)?;
        t.matrix(&b("attn_output"), qw, d)?;
        t.norm(&b("ffn_norm"), d)?;
        t.matrix(&b("ffn_up"), d, 2 * s.n_ff)?;
        t.matrix(&b("ffn_down"), s.n_ff, d)?;
    }
    Ok(())
}
