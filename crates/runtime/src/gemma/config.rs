//! EmbeddingGemma hyper-parameters from `gemma-embedding.*` metadata, validated before anything
//! is allocated.

use gguf_loader::GgufFile;

use crate::error::{Result, RuntimeError};
use crate::hparams::{Heads, MAX_CONTEXT, MAX_FF, MAX_LAYERS, MAX_WIDTH, Reader};
use crate::pooling::Pooling;

/// Every this many layers one is global (full attention); the others use the sliding window.
/// The files do not say it: llama.cpp fixes it for the architecture (`set_swa_pattern(6)`), as
/// Hugging Face's `Gemma3TextConfig` does (`sliding_window_pattern = 6`).
pub const SWA_PATTERN: usize = 6;

/// The optional `dense_2` → `dense_3` projections that sentence-transformers applies after
/// pooling (written by llama.cpp's converter with `--sentence-transformers-dense-modules`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmaDense {
    /// Outputs of `dense_2` = inputs of `dense_3` (`dense_2_feat_out`, `dense_3_feat_in`).
    pub hidden: usize,
    /// Outputs of `dense_3` (`dense_3_feat_out`): the embedding width.
    pub out: usize,
}

/// EmbeddingGemma hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct GemmaConfig {
    /// Hidden width (`embedding_length`).
    pub n_embd: usize,
    /// Transformer blocks (`block_count`).
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
    /// RMSNorm epsilon (`attention.layer_norm_rms_epsilon`).
    pub eps: f32,
    /// RoPE frequency base of the global layers (`rope.freq_base`).
    pub rope_base: f32,
    /// RoPE frequency base of the sliding-window layers (`rope.freq_base_swa`; 10,000 when
    /// absent, the value llama.cpp fixes for the architecture).
    pub rope_base_swa: f32,
    /// The sliding window as the file states it (`attention.sliding_window`), `1..=n_ctx`. It
    /// is symmetric: key `j` is visible from query `i` when `|i − j| ≤ sliding_window / 2` (see
    /// [`GemmaConfig::attention_window`]).
    pub sliding_window: usize,
    /// Pooling the file asks for (`pooling_type`; mean when absent).
    pub pooling: Pooling,
    /// The dense projections after pooling, when the file has them (`dense_2_feat_in/out`,
    /// `dense_3_feat_in/out`: all four keys or none).
    pub dense: Option<GemmaDense>,
}

impl GemmaConfig {
    /// Whether layer `il` attends globally (every [`SWA_PATTERN`]th layer: 5, 11, 17, …) rather
    /// than within the sliding window.
    pub fn is_global(&self, il: usize) -> bool {
        (il + 1).is_multiple_of(SWA_PATTERN)
    }

    /// The window to pass to the attention kernel (`|i − j| < w`) on sliding layers:
    /// `sliding_window / 2 + 1`, i.e. `|i − j| ≤ sliding_window / 2`. This is llama.cpp's
    /// `LLAMA_SWA_TYPE_SYMMETRIC` and Hugging Face's bidirectional Gemma3 (whose config turns
    /// `sliding_window` into `sliding_window // 2 + 1` with an exclusive bound); the reference
    /// embeddings agree with it and not with `|i − j| < sliding_window`.
    pub fn attention_window(&self) -> usize {
        self.sliding_window / 2 + 1
    }

    /// Width of the query projection and of the attention output (`n_head · head_dim`).
    pub fn q_width(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of the key and value projections (`n_head_kv · head_dim`).
    pub fn kv_width(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Width of the output vectors: `dense_3`'s outputs, or `n_embd` without dense layers.
    pub fn dim(&self) -> usize {
        self.dense.map_or(self.n_embd, |d| d.out)
    }

    /// Reads and checks the hyper-parameters of architecture `arch` (`gemma-embedding`).
    pub fn from_gguf(file: &GgufFile, arch: &str) -> Result<GemmaConfig> {
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
        let sliding_window = r.size("attention.sliding_window", MAX_CONTEXT)?;
        if sliding_window > n_ctx {
            return Err(RuntimeError::metadata(
                r.key("attention.sliding_window"),
                format!("{sliding_window} is larger than the context length {n_ctx}"),
            ));
        }
        let eps = r.rms_epsilon()?;
        let rope_base = r.positive("rope.freq_base", None)?;
        let rope_base_swa = r.positive("rope.freq_base_swa", Some(10_000.0))?;
        Ok(GemmaConfig {
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_ctx,
            eps,
            rope_base,
            rope_base_swa,
            sliding_window,
            pooling: r.pooling(Pooling::Mean)?,
            dense: dense(&r, n_embd)?,
        })
    }
}

/// The four `dense_*_feat_*` keys: all absent (no dense layers) or all present and chained
/// `n_embd → hidden → out`.
fn dense(r: &Reader<'_>, n_embd: usize) -> Result<Option<GemmaDense>> {
    let names = [
        "dense_2_feat_in",
        "dense_2_feat_out",
        "dense_3_feat_in",
        "dense_3_feat_out",
    ];
    let mut vals = [None; 4];
    for (v, name) in vals.iter_mut().zip(names) {
        *v = r.opt_size(name, MAX_FF)?;
    }
    let [in2, out2, in3, out3] = match vals {
        [None, None, None, None] => return Ok(None),
        [Some(a), Some(b), Some(c), Some(d)] => [a, b, c, d],
        _ => {
            let i = vals.iter().position(Option::is_none).unwrap_or(0);
            return Err(RuntimeError::metadata(
                r.key(names[i]),
                "missing while other dense_* keys are present",
            ));
        }
    };
    if in2 != n_embd {
        return Err(RuntimeError::metadata(
            r.key("dense_2_feat_in"),
            format!("{in2} differs from the width {n_embd}"),
        ));
    }
    if in3 != out2 {
        return Err(RuntimeError::metadata(
            r.key("dense_3_feat_in"),
            format!("{in3} differs from dense_2_feat_out {out2}"),
        ));
    }
    Ok(Some(GemmaDense {
        hidden: out2,
        out: out3,
    }))
}
