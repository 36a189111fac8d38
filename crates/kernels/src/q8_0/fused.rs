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
//! The quantizer is [`quantize_act_sums`](super::quantize::quantize_act_sums) (one group at a
//! time, vectorized by LLVM) on every tier but AVX-512, which quantizes 16 groups at a time
//! lane-parallel (`fused_avx512`, same bits); the norm kernels hand it a few rows at a time so
//! that its batches are whole (see [`rows_per_quantize`]). `benches/epilogue.rs` measures both.
//!
//! Dispatch: one table of `fn` pointers per ISA ([`Table`]), picked from the [`Kernels`] tier
//! (a `Kernels` of a tier exists only where the CPU has its features), so the tiers' tables in
//! `isa.rs` are untouched.

#[cfg(target_arch = "x86_64")]
#[path = "fused_avx512.rs"]
mod fused_avx512;

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

/// A tier's way of quantizing a row with its code sums (the bits of
/// [`quantize_act_sums`](super::quantize::quantize_act_sums) on every tier).
trait Quantize {
    /// Quantizes `x` into `q`/`u`/`d`/`sums`/`dsums` (as `quantize_act_sums`).
    ///
    /// # Safety
    /// The CPU must support the tier's features.
    unsafe fn act_sums(
        x: &[f32],
        q: &mut [i8],
        u: &mut [u8],
        d: &mut [f32],
        sums: &mut [i32],
        dsums: &mut [f32],
    );
}

/// The portable body, vectorized by LLVM for whichever tier inlines it.
struct Generic;

impl Quantize for Generic {
    #[inline(always)]
    unsafe fn act_sums(
        x: &[f32],
        q: &mut [i8],
        u: &mut [u8],
        d: &mut [f32],
        sums: &mut [i32],
        dsums: &mut [f32],
    ) {
        super::quantize::quantize_act_sums(x, q, u, d, sums, dsums)
    }
}

/// 16 groups at a time with AVX-512 (see `fused_avx512`).
#[cfg(target_arch = "x86_64")]
struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Quantize for Avx512 {
    #[inline(always)]
    unsafe fn act_sums(
        x: &[f32],
        q: &mut [i8],
        u: &mut [u8],
        d: &mut [f32],
        sums: &mut [i32],
        dsums: &mut [f32],
    ) {
        // SAFETY: the caller guarantees AVX-512 (this impl is only instantiated by the AVX-512
        // table's wrappers).
        unsafe { fused_avx512::quantize_act_sums(x, q, u, d, sums, dsums) }
    }
}

/// Quantizes one row's `x` (`k` values, a multiple of 16) into the row's slices of `out`
/// starting at code `o` / group `s`, with its code sums: the bits of `quantize_act` then the
/// sums, as `QuantizedActivations::quantize_with` computes them.
///
/// # Safety
/// The CPU must support `Q`'s tier.
#[inline(always)]
unsafe fn quantize_into<Q: Quantize>(x: &[f32], out: &mut ActOut<'_>, o: usize, s: usize) {
    let n = x.len();
    // SAFETY: forwarded from the caller.
    unsafe {
        Q::act_sums(
            x,
            &mut out.qs[o..o + n],
            &mut out.qu8[o..o + n],
            &mut out.d[s..],
            &mut out.sums[s..],
            &mut out.dsums[s..],
        )
    }
}

/// `gelu(x + bias)` per row (exact GELU, as `add_bias_gelu`), quantized; `x` is not written.
///
/// # Safety
/// The CPU must support `Q`'s tier.
#[inline(always)]
unsafe fn bias_gelu<Q: Quantize>(x: &[f32], bias: &[f32], mut out: ActOut<'_>) {
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
            // SAFETY: forwarded from the caller.
            unsafe { quantize_into::<Q>(t, &mut out, o, o / QK_ACT) };
            c0 += n;
        }
    }
}

/// Rows a norm kernel normalizes before quantizing them in one call: the fewest whose values
/// are whole 256-value batches of the AVX-512 quantizer (`fused_avx512`), so no row ends in a
/// partial batch — 2 rows of MiniLM's 384 values, 1 of 768 — at most 8 (while still hot in L1).
/// The bits do not depend on it: rows are normalized and groups quantized independently.
fn rows_per_quantize(dim: usize) -> usize {
    let (mut a, mut b) = (dim, 256);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    (256 / a).min(8)
}

/// `x = LayerNorm(x + residual)` per row, the rows then quantized a few at a time.
///
/// # Safety
/// The CPU must support `Q`'s tier.
#[inline(always)]
unsafe fn add_layer_norm<Q: Quantize>(
    x: &mut [f32],
    residual: &[f32],
    dim: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f32,
    mut out: ActOut<'_>,
) {
    let step = dim * rows_per_quantize(dim);
    for (r, (rows, res)) in x.chunks_mut(step).zip(residual.chunks(step)).enumerate() {
        g::add_layer_norm(rows, res, dim, gamma, beta, eps);
        // SAFETY: forwarded from the caller.
        unsafe { quantize_into::<Q>(rows, &mut out, r * step, r * step / QK_ACT) };
    }
}

/// `x = LayerNorm(x)` per row, the rows then quantized a few at a time.
///
/// # Safety
/// The CPU must support `Q`'s tier.
#[inline(always)]
unsafe fn layer_norm<Q: Quantize>(
    x: &mut [f32],
    dim: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f32,
    mut out: ActOut<'_>,
) {
    let step = dim * rows_per_quantize(dim);
    for (r, rows) in x.chunks_mut(step).enumerate() {
        g::layer_norm(rows, dim, gamma, beta, eps);
        // SAFETY: forwarded from the caller.
        unsafe { quantize_into::<Q>(rows, &mut out, r * step, r * step / QK_ACT) };
    }
}

/// `x = RMSNorm(x)` per row, the rows then quantized a few at a time.
///
/// # Safety
/// The CPU must support `Q`'s tier.
#[inline(always)]
unsafe fn rms_norm<Q: Quantize>(
    x: &mut [f32],
    dim: usize,
    weight: &[f32],
    eps: f32,
    mut out: ActOut<'_>,
) {
    let step = dim * rows_per_quantize(dim);
    for (r, rows) in x.chunks_mut(step).enumerate() {
        g::rms_norm(rows, dim, weight, eps);
        // SAFETY: forwarded from the caller.
        unsafe { quantize_into::<Q>(rows, &mut out, r * step, r * step / QK_ACT) };
    }
}

/// `#[target_feature]` wrappers around the bodies above and a `TABLE` of them.
macro_rules! fused_table {
    ($features:literal, $q:ty) => {
        use super::{ActOut, Table};

        /// # Safety
        /// The CPU must support this module's features; arguments as checked by `Kernels`.
        #[target_feature(enable = $features)]
        unsafe fn bias_gelu(x: &[f32], bias: &[f32], out: ActOut<'_>) {
            // SAFETY: this module's features are the tier's.
            unsafe { super::bias_gelu::<$q>(x, bias, out) }
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
            // SAFETY: this module's features are the tier's.
            unsafe { super::add_layer_norm::<$q>(x, residual, dim, gamma, beta, eps, out) }
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
            // SAFETY: this module's features are the tier's.
            unsafe { super::layer_norm::<$q>(x, dim, gamma, beta, eps, out) }
        }

        /// # Safety
        /// The CPU must support this module's features; arguments as checked by `Kernels`.
        #[target_feature(enable = $features)]
        unsafe fn rms_norm(x: &mut [f32], dim: usize, weight: &[f32], eps: f32, out: ActOut<'_>) {
            // SAFETY: this module's features are the tier's.
            unsafe { super::rms_norm::<$q>(x, dim, weight, eps, out) }
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
    bias_gelu: bias_gelu::<Generic>,
    add_layer_norm: add_layer_norm::<Generic>,
    layer_norm: layer_norm::<Generic>,
    rms_norm: rms_norm::<Generic>,
};

#[cfg(target_arch = "x86_64")]
mod avx2 {
    // The elementwise AVX2 tier's features, so the bodies vectorize as there.
    fused_table!("avx2,fma,f16c", super::Generic);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    // The elementwise AVX-512 tier's features.
    fused_table!("avx512f,avx512bw,avx512vl,avx2,fma,f16c", super::Avx512);
}

#[cfg(target_arch = "aarch64")]
mod neon {
    fused_table!("neon", super::Generic);
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
        // Grow only: the kernels overwrite all of `m · k` codes and `m · k / 16` scales, and
        // readers index by `m`/`k`, never by length. Resizing to the exact size zero-filled
        // whatever a call needed beyond the previous one — micro-batches vary in tokens — which
        // was 1.2 % of `ggufembed embed`'s samples (libc memset under `prepare`, `perf record
        // --call-graph dwarf`, 100 bench passages).
        if self.qs.len() < m * k {
            self.qs.resize(m * k, 0);
            self.qu8.resize(m * k, 0);
        }
        if self.d.len() < groups {
            self.d.resize(groups, 0.0);
            self.sums.resize(groups, 0);
            self.dsums.resize(groups, 0.0);
        }
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
