//! Qwen3 hyper-parameters from `qwen3.*` metadata, validated before anything is allocated.

use gguf_loader::GgufFile;

use crate::error::{Result, RuntimeError};
use crate::hparams::{Heads, MAX_CONTEXT, MAX_FF, MAX_LAYERS, MAX_WIDTH, Reader};
use crate::pooling::Pooling;

/// Qwen3 (Qwen3-Embedding) hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Qwen3Config {
    /// Hidden width (`embedding_length`).
    pub n_embd: usize,
    /// Decoder blocks (`block_count`).
    pub n_layer: usize,
    /// Query heads (`attention.head_count`).
    pub n_head: usize,
    /// Key/value heads (`attention.head_count_kv`; `n_head` when absent); divides `n_head`.
    pub n_head_kv: usize,
    /// Width of one head, for queries, keys and values (`attention.key_length`, equal to
    /// `attention.value_length` when present; `n_embd / n_head` when absent).
    pub head_dim: usize,
    /// Feed-forward width (`feed_forward_length`).
    pub n_ff: usize,
    /// Positions the model was trained with (`context_length`).
    pub n_ctx: usize,
    /// RMSNorm epsilon (`attention.layer_norm_rms_epsilon`), for every norm including the
    /// per-head Q/K norms.
    pub eps: f32,
    /// RoPE frequency base (`rope.freq_base`).
    pub rope_base: f32,
    /// Pooling the file asks for (`pooling_type`; last token when absent, as Qwen3-Embedding
    /// pools).
    pub pooling: Pooling,
}

impl Qwen3Config {
    /// Width of the query projection and of the attention output (`n_head · head_dim`).
    pub fn q_width(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of the key and value projections (`n_head_kv · head_dim`).
    pub fn kv_width(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Reads and checks the hyper-parameters of architecture `arch` (`qwen3`).
    pub fn from_gguf(file: &GgufFile, arch: &str) -> Result<Qwen3Config> {
        let r = Reader { file, arch };
        let n_embd = r.size("embedding_length", MAX_WIDTH)?;
        let n_layer = r.size("block_count", MAX_LAYERS)?;
        let n_ff = r.size("feed_forward_length", MAX_FF)?;
        let n_ctx = r.size("context_length", MAX_CONTEXT)?;
        let Heads {
            n_head,
            n_head_kv,
            head_dim,
        } = r.heads(n_embd)?;
        let eps = r.rms_epsilon()?;
        let rope_base = r.positive("rope.freq_base", None)?;
        // Context-extension schemes (YaRN, linear) would rescale the angles; none is
        // implemented, so a file asking for one is refused rather than run differently.
        let scaling = r.key("rope.scaling.type");
        if file.get(&scaling).is_some() {
            match file.get_str(&scaling)? {
                "none" => {}
                other => {
                    return Err(RuntimeError::metadata(
                        &scaling,
                        format!("RoPE scaling '{other}' is not supported (only none)"),
                    ));
                }
            }
        }
        Ok(Qwen3Config {
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_ctx,
            eps,
            rope_base,
            pooling: r.pooling(Pooling::Last)?,
        })
    }
}
