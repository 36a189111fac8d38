//! Lane-explicit bodies of the elementwise kernels, shared by every ISA.
//!
//! Reductions keep `L = 16` independent lane sums (one zmm, two ymm, four NEON registers) and
//! combine them with a fixed pairwise tree, so LLVM vectorizes them without reassociating and
//! every ISA produces the same bits. Each ISA file instantiates these `#[inline(always)]` bodies
//! inside `#[target_feature]` wrappers. These kernels are memory-bound or transcendental-bound
//! (a few % of a forward pass), so compiler vectorization is preferred over hand intrinsics.

use crate::attention::AttentionParams;
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

/// Activation quantization for the Q8_0 matmul (see `q8_0::QuantizedActivations`): per 16
/// values `d = amax/127`, `id = d != 0 ? 1/d : 0`, `q = roundf(x·id)`; codes also stored as
/// `q + 128` (u8). `x.len() == qs.len() == qu8.len() == 16 · d.len()`.
#[inline(always)]
pub(crate) fn quantize_act(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32]) {
    const B: usize = crate::q8_0::QK_ACT;
    for (((xs, q), u), ds) in x
        .chunks_exact(B)
        .zip(qs.chunks_exact_mut(B))
        .zip(qu8.chunks_exact_mut(B))
        .zip(d.iter_mut())
    {
        let mut amax = 0.0f32;
        for &v in xs {
            let a = v.abs();
            amax = if amax > a { amax } else { a };
        }
        let dv = amax / 127.0;
        let id = if dv != 0.0 { 1.0 / dv } else { 0.0 };
        *ds = dv;
        for i in 0..B {
            let c = crate::q8_0::round_to_i8(xs[i] * id);
            q[i] = c;
            u[i] = (c as u8) ^ 0x80;
        }
    }
}

/// Attention over one sequence for the KV heads `p.kv_heads` (see [`crate::attention`]).
///
/// Per KV head, K is transposed once into `kt[e][j]` so that a query's scores are computed for
/// up to 64 keys at a time (`s[j] = fma(q[e], kt[e][j], s[j])` over `e` in order, several
/// independent chains in flight), and the output accumulates `V` rows in key order
/// (`o[e] = fma(p[j], v[j][e], o[e])`, up to 64 dims at a time). Each score and each output
/// element is one fixed sequence of fused operations whatever the sequence length, window, chunk
/// or ISA, so results do not depend on the batch. The earlier per-key dot products with a lane
/// tree, then one 16-lane chain at a time (FMA-latency bound), took 13 % and 10 % of a MiniLM
/// pass.
#[inline(always)]
pub(crate) fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let (d, hq, hkv, n) = (p.head_dim, p.n_heads, p.n_kv_heads, p.seq);
    let group = hq / hkv;
    // Rows of `kt` are padded with zeros so that any visible range `lo..hi` can be read in whole
    // chunks of `L` keys (the extra lanes are computed and discarded).
    let np = n + L;
    scratch.resize(d * np + 2 * np, 0.0);
    let (kt, scores) = scratch.split_at_mut(d * np);
    let (s0, s1) = scores.split_at_mut(np);
    let vstride = hkv * d;
    for g in p.kv_heads.clone() {
        for (e, row) in kt.chunks_exact_mut(np).enumerate() {
            for (j, t) in row[..n].iter_mut().enumerate() {
                *t = k[(j * hkv + g) * d + e];
            }
            row[n..].fill(0.0);
        }
        let vh = &v[g * d..];
        for h in g * group..(g + 1) * group {
            let mut i = 0;
            while i < n {
                let (lo, hi) = p.visible_keys(i);
                let qi = &q[(i * hq + h) * d..][..d];
                let m = mask.map(|m| &m[lo..hi]);
                // Two queries with the same visible keys share every K and V load (two
                // independent fma chains per register instead of one: attention was
                // latency-bound, 30 % of a MiniLM pass on 256-token passages).
                if i + 1 < n && p.visible_keys(i + 1) == (lo, hi) {
                    let qn = &q[((i + 1) * hq + h) * d..][..d];
                    let mut c = lo;
                    while c < hi {
                        let (o0, o1) = (&mut s0[c - lo..], &mut s1[c - lo..]);
                        c += L * match (hi - c).div_ceil(L) {
                            1 => score_pair::<1>(qi, qn, kt, np, c, o0, o1),
                            _ => score_pair::<2>(qi, qn, kt, np, c, o0, o1),
                        };
                    }
                    softmax(&mut s0[..hi - lo], p.scale, m);
                    softmax(&mut s1[..hi - lo], p.scale, m);
                    let (a, b) = out.split_at_mut(((i + 1) * hq + h) * d);
                    let (o0, o1) = (&mut a[(i * hq + h) * d..][..d], &mut b[..d]);
                    let (p0, p1) = (&s0[..hi - lo], &s1[..hi - lo]);
                    let mut e0 = 0;
                    while e0 < d {
                        e0 += match (d - e0) / L {
                            0 => {
                                value_tail(p0, vh, vstride, lo, e0, o0);
                                value_tail(p1, vh, vstride, lo, e0, o1)
                            }
                            1 => value_pair::<1>(p0, p1, vh, vstride, lo, e0, o0, o1),
                            _ => value_pair::<2>(p0, p1, vh, vstride, lo, e0, o0, o1),
                        };
                    }
                    i += 2;
                    continue;
                }
                let mut c = lo;
                while c < hi {
                    let o = &mut s0[c - lo..];
                    c += L * match (hi - c).div_ceil(L) {
                        1 => score_chunks::<1>(qi, kt, np, c, o),
                        2 => score_chunks::<2>(qi, kt, np, c, o),
                        3 => score_chunks::<3>(qi, kt, np, c, o),
                        _ => score_chunks::<4>(qi, kt, np, c, o),
                    };
                }
                let s = &mut s0[..hi - lo];
                softmax(s, p.scale, m);
                let oi = &mut out[(i * hq + h) * d..][..d];
                let mut e0 = 0;
                while e0 < d {
                    e0 += match (d - e0) / L {
                        0 => value_tail(s, vh, vstride, lo, e0, oi),
                        1 => value_chunks::<1>(s, vh, vstride, lo, e0, oi),
                        2 => value_chunks::<2>(s, vh, vstride, lo, e0, oi),
                        3 => value_chunks::<3>(s, vh, vstride, lo, e0, oi),
                        _ => value_chunks::<4>(s, vh, vstride, lo, e0, oi),
                    };
                }
                i += 1;
            }
        }
    }
}

/// [`score_chunks`] for two queries at once (the same fma chain per score); returns `C`.
#[inline(always)]
fn score_pair<const C: usize>(
    q0: &[f32],
    q1: &[f32],
    kt: &[f32],
    np: usize,
    c: usize,
    out0: &mut [f32],
    out1: &mut [f32],
) -> usize {
    let mut a0 = [[0.0f32; L]; C];
    let mut a1 = [[0.0f32; L]; C];
    for (e, (&x0, &x1)) in q0.iter().zip(q1).enumerate() {
        let kc = &kt[e * np + c..][..C * L];
        for ((r0, r1), kk) in a0.iter_mut().zip(a1.iter_mut()).zip(kc.chunks_exact(L)) {
            for l in 0..L {
                r0[l] = x0.mul_add(kk[l], r0[l]);
                r1[l] = x1.mul_add(kk[l], r1[l]);
            }
        }
    }
    for ((o0, o1), (r0, r1)) in out0[..C * L]
        .chunks_exact_mut(L)
        .zip(out1[..C * L].chunks_exact_mut(L))
        .zip(a0.iter().zip(&a1))
    {
        o0.copy_from_slice(r0);
        o1.copy_from_slice(r1);
    }
    C
}

/// [`value_chunks`] for two queries at once (the same fma chain per element); returns `C·L`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn value_pair<const C: usize>(
    p0: &[f32],
    p1: &[f32],
    v: &[f32],
    stride: usize,
    lo: usize,
    e0: usize,
    out0: &mut [f32],
    out1: &mut [f32],
) -> usize {
    let mut a0 = [[0.0f32; L]; C];
    let mut a1 = [[0.0f32; L]; C];
    for (j, (&w0, &w1)) in p0.iter().zip(p1).enumerate() {
        let vj = &v[(lo + j) * stride + e0..][..C * L];
        for ((r0, r1), vv) in a0.iter_mut().zip(a1.iter_mut()).zip(vj.chunks_exact(L)) {
            for l in 0..L {
                r0[l] = w0.mul_add(vv[l], r0[l]);
                r1[l] = w1.mul_add(vv[l], r1[l]);
            }
        }
    }
    for (c, (r0, r1)) in a0.iter().zip(&a1).enumerate() {
        out0[e0 + c * L..e0 + (c + 1) * L].copy_from_slice(r0);
        out1[e0 + c * L..e0 + (c + 1) * L].copy_from_slice(r1);
    }
    C * L
}

/// Scores of keys `c..c + C·L` for one query (`C·L` accumulators, one fma chain per key);
/// returns `C`.
#[inline(always)]
fn score_chunks<const C: usize>(
    qi: &[f32],
    kt: &[f32],
    np: usize,
    c: usize,
    out: &mut [f32],
) -> usize {
    let mut acc = [[0.0f32; L]; C];
    for (e, &qe) in qi.iter().enumerate() {
        let kc = &kt[e * np + c..][..C * L];
        for (a, kk) in acc.iter_mut().zip(kc.chunks_exact(L)) {
            for l in 0..L {
                a[l] = qe.mul_add(kk[l], a[l]);
            }
        }
    }
    for (o, a) in out[..C * L].chunks_exact_mut(L).zip(&acc) {
        o.copy_from_slice(a);
    }
    C
}

/// Output dims `e0..e0 + C·L` of one query: `Σ_j p[j]·v[lo + j]` in key order; returns `C·L`.
/// `v` starts at the KV head's first row, rows `stride` apart.
#[inline(always)]
fn value_chunks<const C: usize>(
    p: &[f32],
    v: &[f32],
    stride: usize,
    lo: usize,
    e0: usize,
    out: &mut [f32],
) -> usize {
    let mut acc = [[0.0f32; L]; C];
    for (j, &pj) in p.iter().enumerate() {
        let vj = &v[(lo + j) * stride + e0..][..C * L];
        for (a, vv) in acc.iter_mut().zip(vj.chunks_exact(L)) {
            for l in 0..L {
                a[l] = pj.mul_add(vv[l], a[l]);
            }
        }
    }
    for (o, a) in out[e0..e0 + C * L].chunks_exact_mut(L).zip(&acc) {
        o.copy_from_slice(a);
    }
    C * L
}

/// The last `< L` output dims (head dims that are not a multiple of 16): the same fma chains.
#[inline(always)]
fn value_tail(p: &[f32], v: &[f32], stride: usize, lo: usize, e0: usize, out: &mut [f32]) -> usize {
    let w = out.len() - e0;
    let mut acc = [0.0f32; L];
    for (j, &pj) in p.iter().enumerate() {
        let vj = &v[(lo + j) * stride + e0..][..w];
        for (a, &x) in acc.iter_mut().zip(vj) {
            *a = pj.mul_add(x, *a);
        }
    }
    out[e0..].copy_from_slice(&acc[..w]);
    w
}
