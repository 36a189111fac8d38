//! Lane-explicit bodies of the elementwise kernels, shared by every ISA.
//!
//! Reductions keep `L = 16` independent lane sums (one zmm, two ymm, four NEON registers) and
//! combine them with a fixed pairwise tree, so LLVM vectorizes them without reassociating and
//! every ISA produces the same bits. Each ISA file instantiates these `#[inline(always)]` bodies
//! inside `#[target_feature]` wrappers. These kernels are memory-bound or transcendental-bound
//! (a few % of a forward pass), so compiler vectorization is preferred over hand intrinsics.

use crate::block::{BlockQ8_0, QK8_0};
use crate::math;

const L: usize = 16;

#[inline(always)]
fn reduce(mut v: [f32; L]) -> f32 {
    let mut w = L / 2;
    while w > 0 {
        for i in 0..w {
            v[i] += v[i + w];
        }
        w /= 2;
    }
    v[0]
}

#[inline(always)]
fn sum_by(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; L];
    let mut it = x.chunks_exact(L);
    for c in &mut it {
        for i in 0..L {
            acc[i] += f(c[i]);
        }
    }
    for (a, &v) in acc.iter_mut().zip(it.remainder()) {
        *a += f(v);
    }
    reduce(acc)
}

#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; L];
    let mut it = x.chunks_exact(L);
    for c in &mut it {
        for i in 0..L {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    for (a, &v) in acc.iter_mut().zip(it.remainder()) {
        *a = if v > *a { v } else { *a };
    }
    acc.iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

#[inline(always)]
fn normalize_row(x: &mut [f32], gamma: &[f32], beta: Option<&[f32]>, eps: f32) {
    let n = x.len() as f32;
    let mean = sum_by(x, |v| v) / n;
    let var = sum_by(x, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    match beta {
        Some(beta) => {
            for ((v, &g), &b) in x.iter_mut().zip(gamma).zip(beta) {
                *v = ((*v - mean) * inv).mul_add(g, b);
            }
        }
        None => {
            for (v, &g) in x.iter_mut().zip(gamma) {
                *v = (*v - mean) * inv * g;
            }
        }
    }
}

/// LayerNorm of each `dim`-long row of `x`, in place.
#[inline(always)]
pub(crate) fn layer_norm(x: &mut [f32], dim: usize, gamma: &[f32], beta: Option<&[f32]>, eps: f32) {
    for row in x.chunks_exact_mut(dim) {
        normalize_row(row, gamma, beta, eps);
    }
}

/// `x = LayerNorm(x + residual)` row by row: the sum is formed while the row is hot in L1.
#[inline(always)]
pub(crate) fn add_layer_norm(
    x: &mut [f32],
    residual: &[f32],
    dim: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f32,
) {
    for (row, res) in x.chunks_exact_mut(dim).zip(residual.chunks_exact(dim)) {
        add(row, res);
        normalize_row(row, gamma, beta, eps);
    }
}

/// RMSNorm of each row: `x · w / sqrt(mean(x²) + eps)`.
#[inline(always)]
pub(crate) fn rms_norm(x: &mut [f32], dim: usize, weight: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(dim) {
        let ms = sum_by(row, |v| v * v) / dim as f32;
        let inv = 1.0 / (ms + eps).sqrt();
        for (v, &g) in row.iter_mut().zip(weight) {
            *v = *v * inv * g;
        }
    }
}

/// `x += y` elementwise.
#[inline(always)]
pub(crate) fn add(x: &mut [f32], y: &[f32]) {
    for (d, &s) in x.iter_mut().zip(y) {
        *d += s;
    }
}

/// Adds `bias` to every row.
#[inline(always)]
pub(crate) fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        add(row, bias);
    }
}

/// `x = gelu(x + bias)` per row, one pass.
#[inline(always)]
pub(crate) fn add_bias_gelu(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (d, &b) in row.iter_mut().zip(bias) {
            *d = math::gelu(*d + b);
        }
    }
}

/// Exact (erf) GELU in place.
#[inline(always)]
pub(crate) fn gelu(x: &mut [f32]) {
    for v in x {
        *v = math::gelu(*v);
    }
}

/// Tanh-approximate GELU in place.
#[inline(always)]
pub(crate) fn gelu_tanh(x: &mut [f32]) {
    for v in x {
        *v = math::gelu_tanh(*v);
    }
}

/// SiLU in place.
#[inline(always)]
pub(crate) fn silu(x: &mut [f32]) {
    for v in x {
        *v = math::silu(*v);
    }
}

/// `out = gelu(gate) · up`.
#[inline(always)]
pub(crate) fn geglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = math::gelu(g) * u;
    }
}

/// `out = silu(gate) · up`.
#[inline(always)]
pub(crate) fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = math::silu(g) * u;
    }
}

/// `x = softmax(x · scale + mask)`; a row whose every entry is -inf becomes all zeros.
#[inline(always)]
pub(crate) fn softmax(x: &mut [f32], scale: f32, mask: Option<&[f32]>) {
    match mask {
        Some(mask) => {
            for (v, &m) in x.iter_mut().zip(mask) {
                *v = v.mul_add(scale, m);
            }
        }
        None => {
            for v in x.iter_mut() {
                *v *= scale;
            }
        }
    }
    let max = max_of(x);
    if max == f32::NEG_INFINITY {
        x.fill(0.0);
        return;
    }
    for v in x.iter_mut() {
        *v = math::exp(*v - max);
    }
    let sum = sum_by(x, |v| v);
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// Mean of rows `t0..t1` of the `dim`-wide matrix `x`, into `out`; tokens summed in order.
#[inline(always)]
pub(crate) fn mean_pool(x: &[f32], dim: usize, t0: usize, t1: usize, out: &mut [f32]) {
    out.fill(0.0);
    for row in x[t0 * dim..t1 * dim].chunks_exact(dim) {
        add(out, row);
    }
    let inv = 1.0 / (t1 - t0) as f32;
    for v in out.iter_mut() {
        *v *= inv;
    }
}

/// `x /= max(‖x‖₂, 1e-12)` (sentence-transformers' `Normalize`).
#[inline(always)]
pub(crate) fn l2_normalize(x: &mut [f32]) {
    let norm = sum_by(x, |v| v * v).sqrt().max(1e-12);
    for v in x.iter_mut() {
        *v /= norm;
    }
}

/// Q8_0 blocks to f32.
#[inline(always)]
pub(crate) fn dequantize_q8_0(blocks: &[BlockQ8_0], out: &mut [f32]) {
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(QK8_0)) {
        let d = math::f16_bits_to_f32(b.d.to_bits());
        for (v, &q) in o.iter_mut().zip(&b.qs) {
            *v = d * f32::from(q);
        }
    }
}

/// F16 to f32 (exact).
#[inline(always)]
pub(crate) fn dequantize_f16(x: &[half::f16], out: &mut [f32]) {
    for (o, &h) in out.iter_mut().zip(x) {
        *o = math::f16_bits_to_f32(h.to_bits());
    }
}

/// BF16 to f32 (exact).
#[inline(always)]
pub(crate) fn dequantize_bf16(x: &[half::bf16], out: &mut [f32]) {
    for (o, &h) in out.iter_mut().zip(x) {
        *o = f32::from_bits(u32::from(h.to_bits()) << 16);
    }
}
