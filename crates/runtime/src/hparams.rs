//! Range-checked reading of `{arch}.*` hyper-parameters, shared by the graphs' configs: every
//! size is refused unless it is in `1..=max`, every float unless finite and positive, so that a
//! hostile file cannot make scratch sizes overflow or reach a kernel's assertions.

use gguf_loader::{GgufFile, Value};

use crate::error::{Result, RuntimeError};
use crate::pooling::Pooling;

/// Reads `{arch}.*` keys with range checks; errors name the full key.
pub(crate) struct Reader<'f> {
    pub file: &'f GgufFile,
    pub arch: &'f str,
}

impl Reader<'_> {
    /// The full key `{arch}.{k}`.
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

    /// The pooling the file asks for (`pooling_type`; mean when absent).
    pub fn pooling(&self) -> Result<Pooling> {
        let key = self.key("pooling_type");
        let Some(v) = self.file.get(&key) else {
            return Ok(Pooling::Mean);
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

    /// The attention heads and head width shared by the rotary encoders: `head_count`,
    /// `head_count_kv` (equal to `head_count` when absent; must divide it), and the head width
    /// `n_embd / n_head` (which `key_length`/`value_length` must equal when present). The width
    /// must be even (RoPE rotates pairs) and `rope.dimension_count`, when present, the whole
    /// head (partial RoPE is refused). Returns `(n_head, n_head_kv, head_dim)`.
    pub fn rotary_heads(&self, n_embd: usize, max_heads: usize) -> Result<(usize, usize, usize)> {
        let n_head = self.size("attention.head_count", max_heads)?;
        let n_head_kv = self
            .opt_size("attention.head_count_kv", max_heads)?
            .unwrap_or(n_head);
        if !n_head.is_multiple_of(n_head_kv) {
            return Err(RuntimeError::metadata(
                self.key("attention.head_count_kv"),
                format!("{n_head_kv} KV heads do not divide the {n_head} query heads"),
            ));
        }
        if !n_embd.is_multiple_of(n_head) {
            return Err(RuntimeError::metadata(
                self.key("attention.head_count"),
                format!("{n_head} heads do not divide the width {n_embd}"),
            ));
        }
        let head_dim = n_embd / n_head;
        for k in ["attention.key_length", "attention.value_length"] {
            if let Some(v) = self.opt_size(k, n_embd)?
                && v != head_dim
            {
                return Err(RuntimeError::metadata(
                    self.key(k),
                    format!("{v} differs from the head width {head_dim} (width / heads)"),
                ));
            }
        }
        if !head_dim.is_multiple_of(2) {
            return Err(RuntimeError::metadata(
                self.key("attention.head_count"),
                format!("head width {head_dim} is odd; RoPE rotates pairs"),
            ));
        }
        if let Some(rot) = self.opt_size("rope.dimension_count", n_embd)?
            && rot != head_dim
        {
            return Err(RuntimeError::metadata(
                self.key("rope.dimension_count"),
                format!("partial RoPE ({rot} of {head_dim} dimensions) is not supported"),
            ));
        }
        Ok((n_head, n_head_kv, head_dim))
    }
}
