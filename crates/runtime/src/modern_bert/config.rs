//! ModernBERT hyper-parameters from `modern-bert.*` metadata, validated before anything is
//! allocated.

use gguf_loader::GgufFile;

use crate::error::{Result, RuntimeError};
use crate::hparams::Reader;
use crate::pooling::Pooling;

/// Largest width, feed-forward size, context, head count and layer count accepted: far above
/// any real model, low enough that a hostile file cannot make scratch sizes overflow.
const MAX_WIDTH: usize = 1 << 16;
const MAX_FF: usize = 1 << 18;
const MAX_CONTEXT: usize = 1 << 17;
const MAX_HEADS: usize = 1 << 10;
const MAX_LAYERS: usize = 1024;

/// Every this many layers one is global when the file has no `attention.sliding_window_pattern`
/// (llama.cpp's default for the architecture, ModernBERT's `global_attn_every_n_layers`).
pub const DEFAULT_SWA_PATTERN: usize = 3;

/// RoPE base when `rope.freq_base` is absent (llama.cpp's default).
pub const DEFAULT_ROPE_BASE: f32 = 10_000.0;

/// The gated feed-forward's activation, from `hidden_activation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatedActivation {
    /// `gelu(a) ⊙ b` with exact (erf) GELU: `gelu`, `geglu`, or no key (ModernBERT).
    GeGlu,
    /// `silu(a) ⊙ b`: `silu`, `swish`, `swiglu` (e.g. Granite Embedding R2).
    SwiGlu,
}

/// ModernBERT hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ModernBertConfig {
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
    /// Feed-forward width (`feed_forward_length`): `ffn_up` has twice as many outputs (the
    /// activated half first, then the gate it multiplies).
    pub n_ff: usize,
    /// Positions the model was trained with (`context_length`).
    pub n_ctx: usize,
    /// LayerNorm epsilon (`attention.layer_norm_epsilon`).
    pub eps: f32,
    /// RoPE frequency base of the global layers (`rope.freq_base`; [`DEFAULT_ROPE_BASE`] when
    /// absent).
    pub rope_base: f32,
    /// RoPE frequency base of the sliding-window layers (`rope.freq_base_swa`; `rope_base` when
    /// absent, as llama.cpp).
    pub rope_base_swa: f32,
    /// The sliding window as the file states it (`attention.sliding_window`), `1..=n_ctx`;
    /// `None` when absent or 0 (every layer global). Symmetric: key `j` is visible from query
    /// `i` when `|i − j| ≤ sliding_window / 2` (see [`ModernBertConfig::attention_window`]).
    pub sliding_window: Option<usize>,
    /// Layer `il` is global when `il % swa_pattern == 0` (`attention.sliding_window_pattern`,
    /// [`DEFAULT_SWA_PATTERN`] when absent; 0 makes every layer local, as in llama.cpp).
    pub swa_pattern: usize,
    /// The feed-forward's activation (`hidden_activation`).
    pub activation: GatedActivation,
    /// Pooling the file asks for (`pooling_type`; mean when absent).
    pub pooling: Pooling,
    /// Causal attention (`attention.causal`; false when absent).
    pub causal: bool,
}

impl ModernBertConfig {
    /// Whether layer `il` attends globally (layers 0, 3, 6, … with the default pattern) rather
    /// than within the sliding window.
    pub fn is_global(&self, il: usize) -> bool {
        self.sliding_window.is_none()
            || (self.swa_pattern != 0 && il.is_multiple_of(self.swa_pattern))
    }

    /// The window to pass to the attention kernel (`|i − j| < w`) on sliding layers:
    /// `sliding_window / 2 + 1`, i.e. `|i − j| ≤ sliding_window / 2` (llama.cpp's
    /// `LLAMA_SWA_TYPE_SYMMETRIC`; Hugging Face's ModernBERT masks `|i − j| > local_attention
    /// / 2`). `None` on global layers.
    pub fn attention_window(&self, il: usize) -> Option<usize> {
        match self.sliding_window {
            Some(w) if !self.is_global(il) => Some(w / 2 + 1),
            _ => None,
        }
    }

    /// Width of the query projection and of the attention output (`n_head · head_dim`).
    pub fn q_width(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of the key and value projections (`n_head_kv · head_dim`).
    pub fn kv_width(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Reads and checks the hyper-parameters of architecture `arch` (`modern-bert`).
    pub fn from_gguf(file: &GgufFile, arch: &str) -> Result<ModernBertConfig> {
        let r = Reader { file, arch };
        let n_embd = r.size("embedding_length", MAX_WIDTH)?;
        let n_layer = r.size("block_count", MAX_LAYERS)?;
        let (n_head, n_head_kv, head_dim) = r.rotary_heads(n_embd, MAX_HEADS)?;
        let n_ff = r.size("feed_forward_length", MAX_FF)?;
        let n_ctx = r.size("context_length", MAX_CONTEXT)?;
        let sliding_window = match r.opt_uint("attention.sliding_window")? {
            None | Some(0) => None,
            Some(w) if w > n_ctx as u64 => {
                return Err(RuntimeError::metadata(
                    r.key("attention.sliding_window"),
                    format!("{w} is larger than the context length {n_ctx}"),
                ));
            }
            Some(w) => Some(w as usize),
        };
        let swa_pattern = match r.opt_uint("attention.sliding_window_pattern")? {
            None => DEFAULT_SWA_PATTERN,
            Some(p) if p > MAX_LAYERS as u64 => {
                return Err(RuntimeError::metadata(
                    r.key("attention.sliding_window_pattern"),
                    format!("{p} is out of range (0..={MAX_LAYERS})"),
                ));
            }
            Some(p) => p as usize,
        };
        let activation = match r.opt_str("hidden_activation")? {
            None | Some("gelu" | "geglu") => GatedActivation::GeGlu,
            Some("silu" | "swish" | "swiglu") => GatedActivation::SwiGlu,
            Some(other) => {
                return Err(RuntimeError::metadata(
                    r.key("hidden_activation"),
                    format!(
                        "activation '{other}' is not supported (gelu, geglu, silu, swish, swiglu)"
                    ),
                ));
            }
        };
        let rope_base = r.positive("rope.freq_base", Some(DEFAULT_ROPE_BASE))?;
        Ok(ModernBertConfig {
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_ctx,
            eps: r.epsilon("attention.layer_norm_epsilon")?,
            rope_base,
            rope_base_swa: r.positive("rope.freq_base_swa", Some(rope_base))?,
            sliding_window,
            swa_pattern,
            activation,
            pooling: r.pooling(Pooling::Mean)?,
            causal: r.flag("attention.causal")?,
        })
    }
}
