//! BERT hyper-parameters from `bert.*` metadata, validated before anything is allocated.

use gguf_loader::{GgufFile, Value};

use crate::error::{Result, RuntimeError};
use crate::pooling::Pooling;

/// Largest width, feed-forward size, context and layer count accepted: far above any real
/// encoder, low enough that a hostile file cannot make scratch sizes overflow or explode.
const MAX_WIDTH: usize = 1 << 16;
const MAX_FF: usize = 1 << 18;
const MAX_CONTEXT: usize = 1 << 16;
const MAX_LAYERS: usize = 1024;

/// llama.cpp's `LLAMA_POOLING_TYPE_RANK`: the classification head scores the `[CLS]` row.
const POOLING_RANK: u64 = 4;

/// The output projection of a sequence-classification head; its presence marks a
/// cross-encoder when the file names no pooling type.
pub(crate) const CLS_OUTPUT: &str = "cls.output.weight";

/// BERT hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    /// Hidden width (`bert.embedding_length`).
    pub n_embd: usize,
    /// Transformer blocks (`bert.block_count`).
    pub n_layer: usize,
    /// Attention heads (`bert.attention.head_count`).
    pub n_head: usize,
    /// Feed-forward width (`bert.feed_forward_length`).
    pub n_ff: usize,
    /// Positions the model was trained with (`bert.context_length`).
    pub n_ctx: usize,
    /// LayerNorm epsilon (`bert.attention.layer_norm_epsilon`).
    pub eps: f32,
    /// Pooling the file asks for (`bert.pooling_type`; mean when absent). [`Pooling::Rank`]
    /// for a cross-encoder (reranker) scoring pairs with its classification head:
    /// `bert.pooling_type` = 4 (llama.cpp's `rank`), or no `pooling_type` in a file holding
    /// `cls.output.weight` (llama.cpp's converter writes no pooling type for
    /// `BertForSequenceClassification`).
    pub pooling: Pooling,
    /// Causal attention (`bert.attention.causal`; false when absent).
    pub causal: bool,
}

impl BertConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Reads and checks the hyper-parameters of architecture `arch` (`bert` and its relatives
    /// share the key layout).
    pub fn from_gguf(file: &GgufFile, arch: &str) -> Result<BertConfig> {
        let key = |k: &str| format!("{arch}.{k}");
        let size = |k: &str, max: usize| -> Result<usize> {
            let k = key(k);
            if let Some(Value::Array(_)) = file.get(&k) {
                return Err(RuntimeError::metadata(
                    &k,
                    "per-layer values are not supported for this architecture",
                ));
            }
            let v = file.get_uint(&k)?;
            if v == 0 || v > max as u64 {
                return Err(RuntimeError::metadata(
                    &k,
                    format!("{v} is out of range (1..={max})"),
                ));
            }
            Ok(v as usize)
        };
        let n_embd = size("embedding_length", MAX_WIDTH)?;
        let n_layer = size("block_count", MAX_LAYERS)?;
        let n_head = size("attention.head_count", MAX_WIDTH)?;
        let n_ff = size("feed_forward_length", MAX_FF)?;
        let n_ctx = size("context_length", MAX_CONTEXT)?;
        if !n_embd.is_multiple_of(n_head) {
            return Err(RuntimeError::metadata(
                key("attention.head_count"),
                format!("{n_head} heads do not divide the width {n_embd}"),
            ));
        }
        let eps_key = key("attention.layer_norm_epsilon");
        let eps = file.get_f64_lossy(&eps_key)?;
        if !(eps.is_finite() && eps > 0.0 && eps < 1.0) {
            return Err(RuntimeError::metadata(
                eps_key,
                format!("{eps} is not a usable epsilon (0 < eps < 1)"),
            ));
        }
        let pooling_key = key("pooling_type");
        let pooling = match file.get(&pooling_key) {
            None if file.tensor(CLS_OUTPUT).is_some() => Pooling::Rank,
            None => Pooling::Mean,
            Some(v) => {
                let p = v.as_u64().ok_or_else(|| {
                    RuntimeError::metadata(
                        &pooling_key,
                        format!("holds {}, expected an integer", v.type_description()),
                    )
                })?;
                if p == POOLING_RANK {
                    Pooling::Rank
                } else {
                    Pooling::from_gguf(p).ok_or_else(|| {
                        RuntimeError::metadata(
                            &pooling_key,
                            format!(
                                "pooling type {p} is not supported (0 none, 1 mean, 2 cls, \
                                 3 last, 4 rank)"
                            ),
                        )
                    })?
                }
            }
        };
        let causal_key = key("attention.causal");
        let causal = match file.get(&causal_key) {
            None => false,
            Some(_) => file.get_bool(&causal_key)?,
        };
        Ok(BertConfig {
            n_embd,
            n_layer,
            n_head,
            n_ff,
            n_ctx,
            eps: eps as f32,
            pooling,
            causal,
        })
    }
}
