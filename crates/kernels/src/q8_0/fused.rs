//! Fused epilogues that write the next Q8_0 matmul's [`QuantizedActivations`] directly.
//!
//! A BERT layer used to write an f32 intermediate and read it back to quantize it: the FFN's
//! `gelu(x + b)` (`m × n_ff` f32, 5 MB for an 824-token micro-batch of MiniLM, written by the
//! activation pass and re-read by the quantizer), and each LayerNorm's output (re-read by the
//! quantizer of the next QKV or FFN-up matmul). These kernels quantize each row while it is hot
//! in L1, in the same call that produces it, and compute the per-16 code sums in the same pass.
//!
//! **Bits.** Every kernel here is the composition of the existing bodies, run row by row:
//! `elementwise::generic::{add_layer_norm, layer_norm, rms_norm}` or `math::gelu(x + b)`, then
//! `elementwise::generic::quantize_act` (ggml's Q8_0 rounding on 16-value groups), then the exact
//! code sums and `d · Σq`. Those bodies are bit-identical on every ISA and per row, so the fused
//! result equals, bit for bit, the unfused sequence (`add_layer_norm` then
//! [`QuantizedActivations::quantize_with`]) on every tier: outputs do not change
//! (`tests/q8_0_fused.rs` checks it against the scalar tier's unfused sequence).
//!
//! Dispatch: one table of `fn` pointers per ISA ([`Table`]), picked from the [`Kernels`] tier
//! (a `Kernels` of a tier exists only where the CPU has its features), so the tiers' tables in
//! `isa.rs` are untouched.

use super::{QK_ACT, QuantizedActivations};
use crate::block::QK8_0;
use crate::elementwise::generic as g;
use crate::isa::{Isa, Kernels};
use crate::math;
use crate::operands::NormParams;

/// The quantized-activation buffers a fused kernel writes (all pre-sized by the caller:
/// `qs`/`qu8` hold `m · k` codes, `d`/`sums`/`dsums` `m · k / 16` values).
pub(crate) struct ActOut<'a> {
    qs: &'a mut [i8],
    qu8: &'a mut [u8],
    d: &'a mut [f32],
    sums: &'a mut [i32],
    dsums: &'a mut [f32],
}

/// Function pointers of one ISA's fused kernels (arguments pre-checked).
#[allow(clippy::type_complexity)]
pub(crate) struct Table {
    bias_gelu: unsafe fn(&[f32], &[f32], ActOut<'_>),
    add_layer_norm: unsafe fn(&mut [f32], &[f32], usize, &[f32], Option<&[f32]>, f32, ActOut<'_>),
    layer_norm: unsafe fn(&mut [f32], usize, &[f32], Option<&[f32]>, f32, ActOut<'_>),
    rms_norm: unsafe fn(&mut [f32], usize, &[f32], f32, ActOut<'_>),
}

/// Values of a row computed ahead of their quantization in [`bias_gelu`]: a stack buffer long
/// enough for LLVM's vectorized GELU loop, short enough to stay in L1.
const CHUNK: usize = 256;

/// Quantizes one row's `x` (`k` values, a multiple of 16) into the row's slices of `out`
/// starting at code `o` / group `s`, with its code sums: the bits of `quantize_act` then the
/// sums, as `QuantizedActivations::quantize_with` computes them, one 16-value group at a time
/// (see [`quantize_group`]).
#[inline(always)]
fn quantize_into(x: &[f32], out: &mut ActOut<'_>, o: usize, s: usize) {
    let n = x.len();
    let groups = out.qs[o..o + n]
        .chunks_exact_mut(QK_ACT)
        .zip(out.qu8[o..o + n].chunks_exact_mut(QK_ACT));
    for ((xs, (q, u)), (d, (sum, ds))) in x.chunks_exact(QK_ACT).zip(groups).zip(
        out.d[s..]
            .iter_mut()
            .zip(out.sums[s..].iter_mut().zip(out.dsums[s..].iter_mut())),
    ) {
        let xs: &[f32; QK_ACT] = xs.try_into().expect("16-value group");
        let (dv, v) = quantize_group(xs, q, u);
        *d = dv;
        *sum = v;
        *ds = dv * v as f32;
    }
}

/// One 16-value group: ggml's `d = amax/127`, `id = d != 0 ? 1/d : 0`, `q = roundf(x·id)`
/// (codes also as `q + 128`), and `Σq`. Returns `(d, Σq)`.
///
/// `quantize_act` folds `amax` value by value (`amax = amax > a ? amax : a`, from 0), a chain of
/// 16 dependent compares per group that LLVM must keep in order (the select is not associative
/// for NaN). Without NaN the fold is the exact maximum of the `|x|`, which a pairwise tree gives
/// in 4 vector steps; with a NaN in the group the in-order fold is kept, so the result is the
/// same bits for every input.
#[inline(always)]
fn quantize_group(xs: &[f32; QK_ACT], q: &mut [i8], u: &mut [u8]) -> (f32, i32) {
    let mut a = xs.map(f32::abs);
    let any_nan = a.iter().fold(false, |acc, v| acc | v.is_nan());
    let amax = if any_nan {
        let mut amax = 0.0f32;
        for &v in &a {
            amax = if amax > v { amax } else { v };
        }
        amax
    } else {
        let mut w = QK_ACT / 2;
        while w > 0 {
            for i in 0..w {
                a[i] = if a[i] > a[i + w] { a[i] } else { a[i + w] };
            }
            w /= 2;
        }
        // The fold starts from 0: every |x| is at least +0, so the tree's maximum is the same.
        a[0]
    };
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut c = [0i32; QK_ACT];
    for i in 0..QK_ACT {
        let v = super::quantize::round_to_i8(xs[i] * id);
        q[i] = v;
        u[i] = (v as u8) ^ 0x80;
        c[i] = i32::from(v);
    }
    (d, c.iter().sum())
}

/// `gelu(x + bias)` per row (exact GELU, as `add_bias_gelu`), quantized; `x` is not written.
#[inline(always)]
fn bias_gelu(x: &[f32], bias: &[f32], mut out: ActOut<'_>) {
    let k = bias.len();
    let mut buf = [0.0f32; CHUNK];
    for (r, row) in x.chunks_exact(k).enumerate() {
        let mut c0 = 0;
        while c0 < k {
            let n = (k - c0).min(CHUNK);
            let t = &mut buf[..n];
            for ((v, &xv), &b) in t.iter_mut().zip(&row[c0..c0 + n]).zip(&bias[c0..c0 + n]) {
                *v = math::gelu(xv + b);
            }
            let o = r * k + c0;
            quantize_into(t, &mut out, o, o / QK_ACT);
            c0 += n;
        }
    }
}

/// `x = LayerNorm(x + residual)` per row, each row then quantized.
#[inline(always)]
fn add_layer_norm(
    x: &mut [f32],
    residual: &[f32],
    dim: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f32,
    mut out: ActOut<'_>,
) {
    for (r, (row, res)) in x
        .chunks_exact_mut(dim)
        .zip(residual.chunks_exact(dim))
        .enumerate()
    {
        g::add_layer_norm(row, res, dim, gamma, beta, eps);
        quantize_into(row, &mut out, r * dim, r * dim / QK_ACT);
    }
}

/// `x = LayerNorm(x)` per row, each row then quantized.
#[inline(always)]
fn layer_norm(
    x: &mut [f32],
    dim: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f32,
    mut out: ActOut<'_>,
) {
    for (r, row) in x.chunks_exact_mut(dim).enumerate() {
        g::layer_norm(row, dim, gamma, beta, eps);
        quantize_into(row, &mut out, r * dim, r * dim / QK_ACT);
    }
}

/// `x = RMSNorm(x)` per row, each row then quantized.
#[inline(always)]
fn rms_norm(x: &mut [f32], dim: usize, weight: &[f32], eps: f32, mut out: ActOut<'_>) {
    for (r, row) in x.chunks_exact_mut(dim).enumerate() {
        g::rms_norm(row, dim, weight, eps);
        quantize_into(row, &mut out, r * dim, r * dim / QK_ACT);
    }
}

/// `#[target_feature]` wrappers around the bodies above and a `TABLE` of them.
macro_rules! fused_table {
    ($features:literal) => {
        use super::{ActOut, Table};

        /// # Safety
        /// The CPU must support this module's features; arguments as checked by `Kernels`.
        #[target_feature(enable = $features)]
        unsafe fn bias_gelu(x: &[f32], bias: &[f32], out: ActOut<'_>) {
            super::bias_gelu(x, bias, out)
        }

        /// # Safety
        /// The CPU must support this module's features; arguments as checked by `Kernels`.
        #[target_feature(enable = $features)]
        unsafe fn add_layer_norm(
            x: &mut [f32],
            residual: &[f32],
            dim: usize,
            gamma: &[f32],
            beta: Option<&[f32]>,
            eps: f32,
            out: ActOut<'_>,
        ) {
            super::add_layer_norm(x, residual, dim, gamma, beta, eps, out)
        }

        /// # Safety
        /// The CPU must support this module's features; arguments as checked by `Kernels`.
        #[target_feature(enable = $features)]
        unsafe fn layer_norm(
            x: &mut [f32],
            dim: usize,
            gamma: &[f32],
            beta: Option<&[f32]>,
            eps: f32,
            out: ActOut<'_>,
        ) {
            super::layer_norm(x, dim, gamma, beta, eps, out)
        }

        /// # Safety
        /// The CPU must support this module's features; arguments as checked by `Kernels`.
        #[target_feature(enable = $features)]
        unsafe fn rms_norm(x: &mut [f32], dim: usize, weight: &[f32], eps: f32, out: ActOut<'_>) {
            super::rms_norm(x, dim, weight, eps, out)
        }

        pub(super) const TABLE: Table = Table {
            bias_gelu,
            add_layer_norm,
            layer_norm,
            rms_norm,
        };
    };
}

/// The portable oracle: the bodies compiled for the baseline target.
const SCALAR: Table = Table {
    bias_gelu,
    add_layer_norm,
    layer_norm,
    rms_norm,
};

#[cfg(target_arch = "x86_64")]
mod avx2 {
    // The elementwise AVX2 tier's features, so the bodies vectorize as there.
    fused_table!("avx2,fma,f16c");
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    // The elementwise AVX-512 tier's features.
    fused_table!("avx512f,avx512bw,avx512vl,avx2,fma,f16c");
}

#[cfg(target_arch = "aarch64")]
mod neon {
    fused_table!("neon");
}

/// The fused table of `k`'s tier.
fn table(k: &Kernels) -> &'static Table {
    match k.isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => &avx512::TABLE,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &avx2::TABLE,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => &neon::TABLE,
        _ => &SCALAR,
    }
}

impl QuantizedActivations {
    /// Sizes the buffers for `m × k` and hands them out for a fused kernel to fill.
    fn prepare(&mut self, m: usize, k: usize) -> ActOut<'_> {
        assert!(
            k.is_multiple_of(QK8_0),
            "fused Q8_0 activations: k = {k} is not a multiple of 32"
        );
        self.m = m;
        self.k = k;
        let groups = m * k / QK_ACT;
        self.qs.resize(m * k, 0);
        self.qu8.resize(m * k, 0);
        self.d.resize(groups, 0.0);
        self.sums.resize(groups, 0);
        self.dsums.resize(groups, 0.0);
        ActOut {
            qs: &mut self.qs,
            qu8: &mut self.qu8,
            d: &mut self.d,
            sums: &mut self.sums,
            dsums: &mut self.dsums,
        }
    }
}

fn check_rows(what: &str, len: usize, dim: usize) {
    assert!(
        dim > 0 && len.is_multiple_of(dim),
        "{what}: length {len} is not a multiple of dim {dim}"
    );
}

// SAFETY (for every `unsafe` call below): `table(self)` is the table of `self`'s tier, and a
// `Kernels` value exists only for a tier the CPU supports (see `kernels_for`); each method
// checks the lengths the bodies rely on (`prepare` sizes the outputs); the bodies are safe Rust.
impl Kernels {
    /// Quantizes `gelu(x + bias)` (exact GELU, each row of `x` plus `bias`) into `qa` for the
    /// next Q8_0 matmul, without writing the f32 values: bit-identical to
    /// [`add_bias_gelu`](Kernels::add_bias_gelu) then
    /// [`QuantizedActivations::quantize_with`].
    ///
    /// # Panics
    /// If `bias` is empty or not a multiple of 32 long, or `x.len()` not a multiple of it.
    pub fn bias_gelu_quantize(&self, x: &[f32], bias: &[f32], qa: &mut QuantizedActivations) {
        check_rows("bias_gelu_quantize", x.len(), bias.len());
        let (k, m) = (bias.len(), x.len() / bias.len());
        let out = qa.prepare(m, k);
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (table(self).bias_gelu)(x, bias, out) }
    }

    /// `x = LayerNorm(x + residual)` row by row (as [`add_layer_norm`](Kernels::add_layer_norm)),
    /// and the result quantized into `qa` (as [`QuantizedActivations::quantize_with`]) in the
    /// same pass.
    ///
    /// # Panics
    /// On the shape errors of `add_layer_norm`, or if `dim` is not a multiple of 32.
    pub fn add_layer_norm_quantize(
        &self,
        x: &mut [f32],
        residual: &[f32],
        dim: usize,
        norm: NormParams<'_>,
        qa: &mut QuantizedActivations,
    ) {
        let NormParams { gamma, beta, eps } = norm;
        check_rows("add_layer_norm_quantize", x.len(), dim);
        assert_eq!(residual.len(), x.len(), "add_layer_norm_quantize: residual");
        assert_eq!(
            gamma.len(),
            dim,
            "add_layer_norm_quantize: gamma.len() != dim"
        );
        assert!(
            beta.is_none_or(|b| b.len() == dim),
            "add_layer_norm_quantize: beta.len() != dim"
        );
        let out = qa.prepare(x.len() / dim, dim);
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (table(self).add_layer_norm)(x, residual, dim, gamma, beta, eps, out) }
    }

    /// `x = LayerNorm(x)` row by row (as [`layer_norm`](Kernels::layer_norm)), quantized into
    /// `qa` in the same pass.
    ///
    /// # Panics
    /// On the shape errors of `layer_norm`, or if `dim` is not a multiple of 32.
    pub fn layer_norm_quantize(
        &self,
        x: &mut [f32],
        dim: usize,
        gamma: &[f32],
        beta: Option<&[f32]>,
        eps: f32,
        qa: &mut QuantizedActivations,
    ) {
        check_rows("layer_norm_quantize", x.len(), dim);
        assert_eq!(gamma.len(), dim, "layer_norm_quantize: gamma.len() != dim");
        assert!(
            beta.is_none_or(|b| b.len() == dim),
            "layer_norm_quantize: beta.len() != dim"
        );
        let out = qa.prepare(x.len() / dim, dim);
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (table(self).layer_norm)(x, dim, gamma, beta, eps, out) }
    }

    /// `x = RMSNorm(x)` row by row (as [`rms_norm`](Kernels::rms_norm)), quantized into `qa` in
    /// the same pass.
    ///
    /// # Panics
    /// On the shape errors of `rms_norm`, or if `dim` is not a multiple of 32.
    pub fn rms_norm_quantize(
        &self,
        x: &mut [f32],
        dim: usize,
        weight: &[f32],
        eps: f32,
        qa: &mut QuantizedActivations,
    ) {
        check_rows("rms_norm_quantize", x.len(), dim);
        assert_eq!(weight.len(), dim, "rms_norm_quantize: weight.len() != dim");
        let out = qa.prepare(x.len() / dim, dim);
        // SAFETY: see the note above `impl Kernels`.
        unsafe { (table(self).rms_norm)(x, dim, weight, eps, out) }
    }
}
