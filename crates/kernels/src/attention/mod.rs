//! Scaled dot-product attention for one sequence: `softmax(Q·Kᵀ·scale + mask)·V`.
//!
//! Layouts are token-major, as the QKV projections produce them: `q` and `out` are
//! `seq × n_heads × head_dim`, `k` and `v` are `seq × n_kv_heads × head_dim`. Grouped-query
//! attention: query head `h` reads KV head `h / (n_heads / n_kv_heads)`. One call computes the
//! query heads of the KV heads in `kv_heads`, so the runtime may split heads across threads.
//! Masks: causal, a bidirectional sliding window, and an additive per-key mask (padding).
//!
//! This family owns its bodies: `blocked.rs` is the flash-style kernel (query tiles along the
//! lanes × key tiles, lane-wise online softmax, register-blocked `Kᵀ·Q` and `P·V`
//! micro-kernels), written once over the 16-lane vector of `lanes.rs`; `avx512.rs`, `avx2.rs`,
//! `neon.rs` implement that vector with intrinsics and pick their tile shape; `scalar.rs` is the
//! oracle. The module imports nothing
//! from the other families; its table is a `PerIsa` of [`AttentionFn`]s filled from its tier
//! modules, picked by the [`Kernels`] token (the registry, `isa`, imports nothing of it). Results are bit-identical across ISAs.
//!
//! The earlier per-query kernel (K transposed per head, all scores of one or two queries, then
//! softmax, then `P·V`) ran MiniLM passages' attention at ~30 GFLOP/s per core on Zen 4 (42 % of
//! a pass); it re-read every K and V row once per query (pair) and was load-bound. The first
//! blocked kernel (keys along the lanes, 8-query tiles) reached ~47 GFLOP/s per core on the Ice
//! Lake server, spending a third of its time on per-row horizontal reductions, scalar softmax
//! bookkeeping and the K transpose; see docs/PERFORMANCE.md for the current kernel.

use std::ops::Range;

use crate::isa::{Kernels, PerIsa};
use crate::kernels;
use crate::operands::AttentionInputs;

pub(crate) mod blocked;
pub(crate) mod lanes;
pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

/// Shape and options of an [`attention`] call.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionParams {
    /// Tokens in the sequence.
    pub seq: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`).
    pub n_kv_heads: usize,
    /// Dimension per head (any; 32–256 in practice).
    pub head_dim: usize,
    /// Score scale, usually `1 / sqrt(head_dim)`.
    pub scale: f32,
    /// Key `j` is visible from query `i` only if `j <= i`.
    pub causal: bool,
    /// Bidirectional sliding window: key `j` is visible from query `i` only if `|i - j| < w`.
    pub window: Option<usize>,
    /// KV heads to compute (with their query heads); `0..n_kv_heads` for all.
    pub kv_heads: Range<usize>,
}

impl AttentionParams {
    /// Non-causal full attention over all heads, `scale = 1/sqrt(head_dim)`.
    pub fn new(seq: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize) -> Self {
        AttentionParams {
            seq,
            n_heads,
            n_kv_heads,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
            causal: false,
            window: None,
            kv_heads: 0..n_kv_heads,
        }
    }

    /// Keys `lo..hi` visible from query `i`.
    pub fn visible_keys(&self, i: usize) -> (usize, usize) {
        let mut lo = 0;
        let mut hi = if self.causal { i + 1 } else { self.seq };
        if let Some(w) = self.window {
            lo = (i + 1).saturating_sub(w);
            hi = hi.min(i + w);
        }
        (lo, hi.min(self.seq))
    }
}

/// One ISA's attention body (arguments pre-checked by [`check_args`]).
pub(crate) type AttentionFn =
    unsafe fn(&[f32], &[f32], &[f32], &AttentionParams, Option<&[f32]>, &mut [f32], &mut Vec<f32>);

/// Every tier's attention.
static TABLES: PerIsa<AttentionFn> = PerIsa {
    scalar: scalar::attention,
    #[cfg(target_arch = "x86_64")]
    avx2: avx2::attention,
    #[cfg(target_arch = "x86_64")]
    avx512: avx512::attention,
    #[cfg(target_arch = "aarch64")]
    neon: neon::attention,
    #[cfg(target_arch = "aarch64")]
    neon_dotprod: neon::attention,
};

impl Kernels {
    /// See [`attention`](crate::attention()).
    pub fn attention(
        &self,
        inputs: AttentionInputs<'_>,
        p: &AttentionParams,
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        let AttentionInputs { q, k, v, mask } = inputs;
        check_args(q, k, v, p, mask, out);
        // SAFETY: a `Kernels` exists only for an ISA the CPU supports (see `kernels_for`) and
        // picks that ISA's entry; every length the body indexes with was checked above.
        unsafe { (self.pick(&TABLES))(q, k, v, p, mask, out, scratch) }
    }
}

/// Attention for one sequence on the detected tier (layouts and masks: see [`attention`
/// module](crate::attention)).
///
/// `inputs.mask` is an optional additive per-key mask (`0` or `-inf` for padding). `scratch`
/// holds the packed K/V rows and the tiles (about `2 · seq · head_dim` floats plus `Qᵀ`, scores
/// and outputs of one 32-query tile) and is reused across calls. A query with no visible key gets
/// zeros.
///
/// # Panics
/// On shape mismatches, `n_heads % n_kv_heads != 0`, `head_dim == 0`, `window == Some(0)`, a
/// bad `kv_heads` or `seq >= 2^24`.
pub fn attention(
    inputs: AttentionInputs<'_>,
    p: &AttentionParams,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    kernels().attention(inputs, p, out, scratch);
}

/// The checks every [`AttentionFn`] relies on.
///
/// # Panics
/// On shape mismatches, `n_heads % n_kv_heads != 0`, `head_dim == 0`, `window == Some(0)`, a
/// bad `kv_heads` or `seq >= 2^24`.
pub(crate) fn check_args(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    out: &[f32],
) {
    assert!(
        p.n_kv_heads > 0 && p.n_heads.is_multiple_of(p.n_kv_heads),
        "attention: n_kv_heads must divide n_heads"
    );
    assert!(p.head_dim > 0, "attention: head_dim must be > 0");
    assert!(p.window != Some(0), "attention: window must be >= 1");
    // The blocked kernel compares key indices as f32 lanes, exact below 2^24.
    assert!(p.seq < 1 << 24, "attention: seq must be < 2^24");
    assert!(
        p.kv_heads.start <= p.kv_heads.end && p.kv_heads.end <= p.n_kv_heads,
        "attention: bad kv_heads range"
    );
    let qlen = p.seq * p.n_heads * p.head_dim;
    let kvlen = p.seq * p.n_kv_heads * p.head_dim;
    assert_eq!(
        q.len(),
        qlen,
        "attention: q.len() != seq * n_heads * head_dim"
    );
    assert_eq!(
        out.len(),
        qlen,
        "attention: out.len() != seq * n_heads * head_dim"
    );
    assert_eq!(
        k.len(),
        kvlen,
        "attention: k.len() != seq * n_kv_heads * head_dim"
    );
    assert_eq!(
        v.len(),
        kvlen,
        "attention: v.len() != seq * n_kv_heads * head_dim"
    );
    assert!(
        mask.is_none_or(|m| m.len() == p.seq),
        "attention: mask.len() != seq"
    );
}
