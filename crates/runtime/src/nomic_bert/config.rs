//! nomic-bert hyper-parameters from `nomic-bert.*` metadata, validated before anything is
//! allocated.

use gguf_loader::GgufFile;

use crate::error::Result;
use crate::hparams::Reader;
use crate::pooling::Pooling;

/// Largest width, feed-forward size, context, head count and layer count accepted: far above
/// any real model, low enough that a hostile file cannot make scratch sizes overflow.
const MAX_WIDTH: usize = 1 << 16;
const MAX_FF: usize = 1 << 18;
const MAX_CONTEXT: usize = 1 << 17;
const MAX_HEADS: usize = 1 << 10;
const MAX_LAYERS: usize = 1024;

/// RoPE base when `rope.freq_base` is absent (llama.cpp's default; nomic-embed-text's files
/// state 1000).
pub const DEFAULT_ROPE_BASE: f32 = 10_000.0;

/// nomic-bert hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct NomicBertConfig {
    /// Hidden width (`embedding_length`).
    pub n_embd: usize,
    /// Transformer blocks (`block_count`).
    pub n_layer: usize,
    /// Query heads (`attention.head_count`); divides the width.
    pub n_head: usize,
    /// Key/value heads (`attention.head_count_kv`; `n_head` when absent); divides `n_head`.
    pub n_head_kv: usize,
    /// Width of one head, `n_embd / n_head` (even: RoPE rotates pairs).
    pub head_dim: usize,
    /// Feed-forward width (`feed_forward_length`), of the gate, the up projection and the
    /// down projection's input.
    pub n_ff: usize,
    /// Positions the model was trained with (`context_length`).
    pub n_ctx: usize,
    /// LayerNorm epsilon (`attention.layer_norm_epsilon`).
    pub eps: f32,
    /// RoPE frequency base (`rope.freq_base`; [`DEFAULT_ROPE_BASE`] when absent).
    pub rope_base: f32,
    /// Pooling the file asks for (`pooling_type`; mean when absent).
    pub pooling: Pooling,
    /// Causal attention (`attention.causal`; false when absent, as in nomic's files).
    pub causal: bool,
}

impl NomicBertConfig {
    /// Width of the query projection and of the attention output (`n_head · head_dim`).
    pub fn q_width(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of the key and value projections (`n_head_kv · head_dim`).
    pub fn kv_width(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Reads and checks the hyper-parameters of architecture `arch` (`nomic-bert`).
    pub fn from_gguf(file: &GgufFile, arch: &str) -> Result<NomicBertConfig> {
        let r = Reader { file, arch };
        let n_embd = r.size("embedding_length", MAX_WIDTH)?;
        let n_layer = r.size("block_count", MAX_LAYERS)?;
        let (n_head, n_head_kv, head_dim) = r.rotary_heads(n_embd, MAX_HEADS)?;
        let n_ff = r.size("feed_forward_length", MAX_FF)?;
        let n_ctx = r.size("context_length", MAX_CONTEXT)?;
        Ok(NomicBertConfig {
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_ctx,
            eps: r.epsilon("attention.layer_norm_epsilon")?,
            rope_base: r.positive("rope.freq_base", Some(DEFAULT_ROPE_BASE))?,
            pooling: r.pooling(Pooling::Mean)?,
            causal: r.flag("attention.causal")?,
        })
    }
}
