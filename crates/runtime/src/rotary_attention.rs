//! The attention step the rotary architectures share (nomic-bert, ModernBERT, Qwen3,
//! EmbeddingGemma): Q, K and V from one quantization of the input, an optional RMSNorm of each
//! Q and K head, NeoX RoPE with positions restarting at 0 per sequence, attention per sequence
//! (grouped-query, causal or bidirectional, optionally windowed), then the output projection.
//!
//! [`AttentionScratch::attend`] stops at the attention output so that a graph may keep only
//! some rows before projecting them (Qwen3 projects one row per sequence in its last layer);
//! [`project_output`] is the projection. Every step computes each row (token) independently of
//! the others within a sequence, so results stay bit-identical whatever a text is batched with.

use std::ops::Range;

use ggufembed_kernels::{AttentionInputs, AttentionParams, rope_neox};

use crate::exec::Exec;
use crate::graph::grow;
use crate::profile::{self, Op};
use crate::weights::{MatmulScratch, Matrix};

/// The head layout, rotary tables and mask of one layer's attention.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads<'r> {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (dividing `n_head`).
    pub n_head_kv: usize,
    /// Width of one head (even).
    pub head_dim: usize,
    /// Whether query `i` sees keys `0..=i` only.
    pub causal: bool,
    /// On a sliding-window layer, the keys `|i − j| ≤ window` each query sees.
    pub window: Option<usize>,
    /// The `(cos, sin)` RoPE table pair of this layer's base, covering the longest sequence.
    pub rope: (&'r [f32], &'r [f32]),
}

impl Heads<'_> {
    fn q_width(&self) -> usize {
        self.n_head * self.head_dim
    }

    fn kv_width(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

/// One layer's attention weights: the three projections with their optional biases, and the
/// optional per-head RMSNorm of Q and K (`attn_q_norm`, `attn_k_norm`) with its epsilon.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QkvWeights<'l, 'w> {
    pub q: (&'l Matrix<'w>, Option<&'w [f32]>),
    pub k: (&'l Matrix<'w>, Option<&'w [f32]>),
    pub v: (&'l Matrix<'w>, Option<&'w [f32]>),
    pub qk_norm: Option<(&'w [f32], &'w [f32], f32)>,
}

/// Q, K, V, the attention output and the attention kernel's own buffer; grows to the largest
/// batch seen.
#[derive(Debug, Default)]
pub(crate) struct AttentionScratch {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    attn: Vec<f32>,
}

impl AttentionScratch {
    /// Attention over the packed sequences `seqs` of `x` (`t × k`: Q, K and V are computed for
    /// every row): returns the attention output, `t × q_width`, before the output projection.
    pub fn attend(
        &mut self,
        exec: &Exec<'_>,
        heads: &Heads<'_>,
        w: &QkvWeights<'_, '_>,
        x: &[f32],
        seqs: &[Range<usize>],
        matmul: &mut MatmulScratch,
    ) -> &mut [f32] {
        let kernels = exec.kernels;
        let t = x.len() / w.q.0.k;
        let (qw, kvw) = (heads.q_width(), heads.kv_width());
        let q = grow(&mut self.q, t * qw);
        let k = grow(&mut self.k, t * kvw);
        let v = grow(&mut self.v, t * kvw);
        let ctx = grow(&mut self.ctx, t * qw);
        let k_in = w.q.0.k as u64;
        let qkv_timer =
            profile::scope_ops(Op::Qkv, 2 * t as u64 * k_in * (qw as u64 + 2 * kvw as u64));
        Matrix::matmul_shared_input(
            exec,
            x,
            t,
            [
                (w.q.0, w.q.1, &mut *q),
                (w.k.0, w.k.1, &mut *k),
                (w.v.0, w.v.1, &mut *v),
            ],
            matmul,
        );
        drop(qkv_timer);
        if let Some((q_norm, k_norm, eps)) = w.qk_norm {
            let _t = profile::scope(Op::Norm);
            kernels.rms_norm(q, heads.head_dim, q_norm, eps);
            kernels.rms_norm(k, heads.head_dim, k_norm, eps);
        }
        let (cos, sin) = heads.rope;
        for r in seqs {
            let qs = r.start * qw..r.end * qw;
            let ks = r.start * kvw..r.end * kvw;
            let rope_timer = profile::scope(Op::Rope);
            rope_neox(&mut q[qs.clone()], heads.n_head, heads.head_dim, cos, sin);
            rope_neox(
                &mut k[ks.clone()],
                heads.n_head_kv,
                heads.head_dim,
                cos,
                sin,
            );
            drop(rope_timer);
            let mut p =
                AttentionParams::new(r.len(), heads.n_head, heads.n_head_kv, heads.head_dim);
            p.causal = heads.causal;
            p.window = heads.window;
            // QKᵀ and PV: 4 · visible (query, key) pairs · q_width, for the profiler's GFLOP/s.
            let attn_ops = if profile::is_enabled() {
                let pairs: u64 = (0..r.len())
                    .map(|i| {
                        let (lo, hi) = p.visible_keys(i);
                        (hi - lo) as u64
                    })
                    .sum();
                4 * pairs * qw as u64
            } else {
                0
            };
            let _t = profile::scope_ops(Op::Attention, attn_ops);
            let inputs = AttentionInputs {
                q: &q[qs.clone()],
                k: &k[ks.clone()],
                v: &v[ks],
                mask: None,
            };
            kernels.attention(inputs, &p, &mut ctx[qs], &mut self.attn);
        }
        ctx
    }
}

/// The output projection of the first `m` rows of `ctx` into `out` (`m × n`), timed as
/// attention output.
pub(crate) fn project_output(
    exec: &Exec<'_>,
    o: (&Matrix<'_>, Option<&[f32]>),
    ctx: &[f32],
    m: usize,
    out: &mut [f32],
    matmul: &mut MatmulScratch,
) {
    let (o, bias) = o;
    let _t = profile::scope_ops(Op::AttnOut, 2 * m as u64 * o.k as u64 * o.n as u64);
    o.matmul(exec, &ctx[..m * o.k], m, bias, out, matmul);
}
