//! Range-checked reading of `{arch}.*` hyper-parameters, shared by the graphs' configs (gemma,
//! qwen3, nomic-bert, modern-bert): every size is refused unless it is in `1..=max`, every float
//! unless finite and positive, so that a hostile file cannot make scratch sizes overflow or reach
//! a kernel's assertions; every error names the full key.

use gguf_loader::{GgufFile, Value};

use crate::error::{Result, RuntimeError};
use crate::pooling::Pooling;

/// Largest width, feed-forward size, context, head count and layer count accepted: far above
/// any real model, low enough that a hostile file cannot make scratch sizes overflow.
pub(crate) const MAX_WIDTH: usize = 1 << 16;
pub(crate) const MAX_FF: usize = 1 << 18;
pub(crate) const MAX_CONTEXT: usize = 1 << 17;
pub(crate) const MAX_HEADS: usize = 1 << 10;
pub(crate) const MAX_LAYERS: usize = 1024;

/// The attention heads of a RoPE decoder layer, checked together.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads {
    /// Query heads (`attention.head_count`).
    pub n_head: usize,
    /// Key/value heads (`attention.head_count_kv`; `n_head` when absent); divides `n_head`.
    pub n_head_kv: usize,
    /// Width of one head (`attention.key_length`; `n_embd / n_head` when absent).
    pub head_dim: usize,
}

/// Reads `{arch}.*` keys with range checks.
pub(crate) struct Reader<'f> {
    pub file: &'f GgufFile,
    pub arch: &'f str,
}

impl Reader<'_> {
    /// The full key name, `{arch}.{k}`.
    pub fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }

    /// A required size in `1..=max`.
    pub fn size(&self, k: &str, max: usize) -> Result<usize> {
        let key = self.key(k);
        self.opt_size(k, max)?
            .ok_or_else(|| gguf_loader::GgufError::MissingKey { key }.into())
    }

    /// An optional size in `1..=max`.
    pub fn opt_size(&self, k: &str, max: usize) -> Result<Option<usize>> {
        let key = self.key(k);
        match self.file.get(&key) {
            None => Ok(None),
            Some(Value::Array(_)) => Err(RuntimeError::metadata(
                &key,
                "per-layer values are not supported for this architecture",
            )),
            Some(_) => {
                let v = self.file.get_uint(&key)?;
                if v == 0 || v > max as u64 {
                    return Err(RuntimeError::metadata(
                        &key,
                        format!("{v} is out of range (1..={max})"),
                    ));
                }
                Ok(Some(v as usize))
            }
        }
    }

    /// An optional unsigned integer of any value (`0` allowed), for keys where `0` means "off".
    pub fn opt_uint(&self, k: &str) -> Result<Option<u64>> {
        let key = self.key(k);
        match self.file.get(&key) {
            None => Ok(None),
            Some(Value::Array(_)) => Err(RuntimeError::metadata(
                &key,
                "per-layer values are not supported for this architecture",
            )),
            Some(_) => Ok(Some(self.file.get_uint(&key)?)),
        }
    }

    /// A finite positive float, `default` when absent (required when `default` is `None`).
    pub fn positive(&self, k: &str, default: Option<f32>) -> Result<f32> {
        let key = self.key(k);
        let v = match (self.file.get(&key), default) {
            (None, Some(d)) => return Ok(d),
            _ => self.file.get_f64_lossy(&key)?,
        };
        if !(v.is_finite() && v > 0.0 && (v as f32).is_normal()) {
            return Err(RuntimeError::metadata(
                &key,
                format!("{v} is not a finite positive number"),
            ));
        }
        Ok(v as f32)
    }

    /// A normalization epsilon: required, `0 < eps < 1`.
    pub fn epsilon(&self, k: &str) -> Result<f32> {
        let eps = self.positive(k, None)?;
        if eps >= 1.0 {
            return Err(RuntimeError::metadata(
                self.key(k),
                format!("{eps} is not a usable epsilon (0 < eps < 1)"),
            ));
        }
        Ok(eps)
    }

    /// An optional boolean, `false` when absent.
    pub fn flag(&self, k: &str) -> Result<bool> {
        let key = self.key(k);
        match self.file.get(&key) {
            None => Ok(false),
            Some(_) => Ok(self.file.get_bool(&key)?),
        }
    }

    /// An optional string.
    pub fn opt_str(&self, k: &str) -> Result<Option<&str>> {
        let key = self.key(k);
        match self.file.get(&key) {
            None => Ok(None),
            Some(_) => Ok(Some(self.file.get_str(&key)?)),
        }
    }

    /// The heads of a grouped-query attention with full-width RoPE: KV heads dividing the query
    /// heads, an even head width (RoPE rotates pairs), values as wide as keys, and no partial
    /// RoPE (`rope.dimension_count`, when present, is the head width).
    pub fn heads(&self, n_embd: usize) -> Result<Heads> {
        let n_head = self.size("attention.head_count", MAX_HEADS)?;
        let n_head_kv = self
            .opt_size("attention.head_count_kv", MAX_HEADS)?
            .unwrap_or(n_head);
        if !n_head.is_multiple_of(n_head_kv) {
            return Err(RuntimeError::metadata(
                self.key("attention.head_count_kv"),
                format!("{n_head_kv} KV heads do not divide the {n_head} query heads"),
            ));
        }
        let key_length = self.opt_size("attention.key_length", MAX_WIDTH)?;
        let head_dim = match key_length {
            Some(k) => k,
            None if n_embd.is_multiple_of(n_head) => n_embd / n_head,
            None => {
                return Err(RuntimeError::metadata(
                    self.key("attention.head_count"),
                    format!("{n_head} heads do not divide the width {n_embd} (no key_length)"),
                ));
            }
        };
        if !head_dim.is_multiple_of(2) {
            // Name the key the width came from: key_length, or the head count it was derived by.
            let source = match key_length {
                Some(_) => "attention.key_length",
                None => "attention.head_count",
            };
            return Err(RuntimeError::metadata(
                self.key(source),
                format!("head width {head_dim} is odd; RoPE rotates pairs"),
            ));
        }
        if n_head * head_dim > MAX_WIDTH {
            return Err(RuntimeError::metadata(
                self.key("attention.key_length"),
                format!("{n_head} heads × {head_dim} exceed the largest width {MAX_WIDTH}"),
            ));
        }
        if let Some(v) = self.opt_size("attention.value_length", MAX_WIDTH)?
            && v != head_dim
        {
            return Err(RuntimeError::metadata(
                self.key("attention.value_length"),
                format!("{v} differs from the key length {head_dim}"),
            ));
        }
        if let Some(rot) = self.opt_size("rope.dimension_count", MAX_WIDTH)?
            && rot != head_dim
        {
            return Err(RuntimeError::metadata(
                self.key("rope.dimension_count"),
                format!("partial RoPE ({rot} of {head_dim} dimensions) is not supported"),
            ));
        }
        Ok(Heads {
            n_head,
            n_head_kv,
            head_dim,
        })
    }

    /// An RMSNorm epsilon (`attention.layer_norm_rms_epsilon`): required, `0 < eps < 1`.
    pub fn rms_epsilon(&self) -> Result<f32> {
        self.epsilon("attention.layer_norm_rms_epsilon")
    }

    /// The heads of a rotary encoder (nomic-bert, modern-bert), whose heads split the width
    /// exactly (`n_head × head_dim = n_embd`, which `key_length` must agree with when present),
    /// with at most `max_heads` query heads; otherwise as [`Reader::heads`]. Returns
    /// `(n_head, n_head_kv, head_dim)`.
    pub fn rotary_heads(&self, n_embd: usize, max_heads: usize) -> Result<(usize, usize, usize)> {
        let h = self.heads(n_embd)?;
        if h.n_head > max_heads {
            return Err(RuntimeError::metadata(
                self.key("attention.head_count"),
                format!("{} is out of range (1..={max_heads})", h.n_head),
            ));
        }
        if h.n_head * h.head_dim != n_embd {
            return Err(RuntimeError::metadata(
                self.key("attention.key_length"),
                format!(
                    "{} differs from the head width {} (width / heads)",
                    h.head_dim,
                    n_embd / h.n_head
                ),
            ));
        }
        Ok((h.n_head, h.n_head_kv, h.head_dim))
    }

    /// `pooling_type`, `default` when absent.
    pub fn pooling(&self, default: Pooling) -> Result<Pooling> {
        let key = self.key("pooling_type");
        let Some(v) = self.file.get(&key) else {
            return Ok(default);
        };
        let p = v.as_u64().ok_or_else(|| {
            RuntimeError::metadata(
                &key,
                format!("holds {}, expected an integer", v.type_description()),
            )
        })?;
        Pooling::from_gguf(p).ok_or_else(|| {
            RuntimeError::metadata(
                &key,
                format!(
                    "pooling type {p} is not supported (0 none, 1 mean, 2 cls, 3 last; \
                     4 rank is a reranker's score, not an embedding)"
                ),
            )
        })
    }
}
