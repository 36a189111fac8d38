//! Q8_0 matmul: `Y = X · Wᵀ (+ bias)` with W in ggml's Q8_0 blocks and X quantized on the fly.
//!
//! W stays ggml's Q8_0 (one f16 scale per 32 values, read straight from the mmap). X rows are
//! quantized once per matmul into [`QuantizedActivations`] with **two scales per 32-value block**
//! (one per 16 values, kept as f32): an outlier channel then only coarsens its own 16 values
//! instead of all 32 (see [`QuantizedActivations`]). Every output is, on every ISA, exactly
//!
//! ```text
//! acc = 0.0
//! for b in 0..K/32:
//!     s_lo = Σ_{i<16}     qx[b][i] * qw[b][i]          (exact i32)
//!     s_hi = Σ_{16≤i<32}  qx[b][i] * qw[b][i]          (exact i32)
//!     acc  = fma(d_x[2b]   * d_w[b], s_lo as f32, acc)
//!     acc  = fma(d_x[2b+1] * d_w[b], s_hi as f32, acc)
//! y = acc (+ bias)
//! ```
//!
//! The integer half-block sums are exact (|s| ≤ 16·127·128 < 2²⁴, so the conversion is exact
//! too) and the float steps are the same fused operations in the same order, so all ISAs agree
//! bit for bit, and a row's result never depends on the tile it was computed in.

mod fused;
pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use half::f16;

use crate::block::{BlockQ8_0, QK8_0};
use crate::isa::{Kernels, kernels};
use crate::quant::formats::QuantType;

/// Signature of one ISA's Q8_0 driver: `(qa, w, n, bias, n0, n1, y)`, arguments pre-checked.
pub(crate) type GemmFn =
    unsafe fn(&QuantizedActivations, &[BlockQ8_0], usize, Option<&[f32]>, usize, usize, &mut [f32]);

/// Quantizes one row into Q8_0 blocks, bit-identical to ggml's `quantize_row_q8_0_ref`.
///
/// `d = amax / 127` (f32), `id = d != 0 ? 1/d : 0`, `q = roundf(x * id)` (half away from zero,
/// saturated to i8 like C's conversion on the values ggml can produce), and `d` is stored rounded
/// to f16.
///
/// # Panics
/// If `x.len()` is not `32 * out.len()`.
pub fn quantize_row_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    assert_eq!(
        x.len(),
        out.len() * QK8_0,
        "quantize_row_q8_0: x.len() must be 32 * out.len()"
    );
    for (xb, ob) in x.chunks_exact(QK8_0).zip(out.iter_mut()) {
        let (d, qs) = quantize_block::<QK8_0>(xb.try_into().expect("chunk of 32"));
        ob.d = f16::from_f32(d);
        ob.qs = qs;
    }
}

/// ggml's `d = amax/127`, `id = d != 0 ? 1/d : 0`, `q = roundf(x·id)` over `N` values; `d` in f32.
#[inline(always)]
fn quantize_block<const N: usize>(x: &[f32; N]) -> (f32, [i8; N]) {
    // Max is exact and order-independent, so a lane-parallel max gives ggml's amax.
    let mut amax = 0.0f32;
    for &v in x {
        let a = v.abs();
        amax = if amax > a { amax } else { a };
    }
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    (d, x.map(|v| round_to_i8(v * id)))
}

/// `roundf(t) as i8` (half away from zero; saturating; NaN → 0), bit for bit, without the libm
/// call that `f32::round` becomes on baseline x86-64, so the quantizer vectorizes.
///
/// After clamping to [-128, 127] and mapping NaN to 0, `i = trunc(c)` and `f = c - i` are exact
/// (|c| < 2²³), and `roundf` adds one away from zero exactly when `|f| ≥ 0.5`. The conversion is
/// `to_int_unchecked`: Rust's checked `as i32` (saturating, NaN-aware) is scalarized by LLVM lane
/// by lane, which made activation quantization ~20 % of a MiniLM forward pass.
#[inline(always)]
pub(crate) fn round_to_i8(t: f32) -> i8 {
    let c = t.clamp(-128.0, 127.0);
    let c = if c.is_nan() { 0.0 } else { c };
    // SAFETY: `c` is finite and within [-128, 127] (NaN replaced by 0 above).
    let i: i32 = unsafe { c.to_int_unchecked() };
    let f = c - i as f32;
    (i + i32::from(f >= 0.5) - i32::from(f <= -0.5)) as i8
}

/// Values per activation scale: two scales per 32-value Q8_0 weight block.
pub const QK_ACT: usize = 16;

/// X quantized for the Q8_0 matmul; a caller-kept scratch so that steady state allocates nothing.
///
/// Format: for `m` rows of `k` values, int8 codes with **one f32 scale per 16 values** (two per
/// 32-value weight block): per 16 values `d = amax/127`, `id = d != 0 ? 1/d : 0`,
/// `q = roundf(x·id)` (half away from zero) — ggml's Q8_0 rounding on half-size blocks, with the
/// scale kept in f32 (not rounded to f16). BERT-style hidden states have outlier channels; with
/// one scale per 32 values an outlier crushes the other 31 values of its block, with one per 16 it
/// only coarsens its own half-block.
///
/// Storage: the codes as i8 and again as `q + 128` (u8, the unsigned operand of AVX-512
/// `vpdpbusd`), and the scales: `2·m·k + m·k/4` bytes (the single-scale format took
/// `2·m·k + m·k/8`). One instance can be shared (`&`) by threads that each compute a column range
/// with [`gemm_q8_0_cols`].
#[derive(Clone, Debug, Default)]
pub struct QuantizedActivations {
    m: usize,
    k: usize,
    pub(crate) qs: Vec<i8>,
    /// `qs + 128` as u8: the unsigned operand of `vpdpbusd`.
    pub(crate) qu8: Vec<u8>,
    /// One f32 scale per 16 values: `d[r * k/16 + s]` scales `qs[r*k + 16s .. r*k + 16s + 16]`.
    pub(crate) d: Vec<f32>,
    /// Per 16 values, the sum of their codes.
    pub(crate) sums: Vec<i32>,
    /// Per 16 values, `d · Σq` (one f32 rounding): the activation side of the offset term of the
    /// formats with a min, so a tile folds it with one FMA per (row, 16 values).
    pub(crate) dsums: Vec<f32>,
}

impl QuantizedActivations {
    /// An empty scratch; it grows on first use and is reused afterwards.
    pub fn new() -> Self {
        Self::default()
    }

    /// Quantizes `x` (`m × k`, row-major) into `self`, reusing its buffers.
    ///
    /// # Panics
    /// If `k` is not a multiple of 32 or `x.len() != m * k`.
    pub fn quantize(&mut self, x: &[f32], m: usize, k: usize) {
        self.quantize_with(kernels(), x, m, k);
    }

    /// [`quantize`](Self::quantize) with the kernels of a given ISA tier (the same bits on
    /// every tier).
    ///
    /// # Panics
    /// If `k` is not a multiple of 32 or `x.len() != m * k`.
    pub fn quantize_with(&mut self, kernels: &Kernels, x: &[f32], m: usize, k: usize) {
        self.quantize_impl(kernels, x, m, k, false);
    }

    /// Quantizes `x` as the matmul with weights of type `ty` wants it: in llama.cpp's 32-value
    /// blocks with an f16-rounded scale for the types llama.cpp dots with Q8_0 activations
    /// ([`QuantType::block_activations`]), otherwise as [`quantize_with`](Self::quantize_with).
    /// The layout is the same either way (a 32-value block's two scales are then equal), so any
    /// matmul reads either.
    ///
    /// # Panics
    /// If `k` is not a multiple of 32 or `x.len() != m * k`.
    pub fn quantize_for(
        &mut self,
        kernels: &Kernels,
        ty: QuantType,
        x: &[f32],
        m: usize,
        k: usize,
    ) {
        self.quantize_impl(kernels, x, m, k, ty.block_activations());
    }

    fn quantize_impl(&mut self, kernels: &Kernels, x: &[f32], m: usize, k: usize, blocks: bool) {
        assert!(
            k.is_multiple_of(QK8_0),
            "Q8_0 matmul: k = {k} is not a multiple of 32"
        );
        assert_eq!(
            x.len(),
            m * k,
            "Q8_0 matmul: x.len() must be m * k = {m} * {k}"
        );
        self.m = m;
        self.k = k;
        self.qs.resize(m * k, 0);
        self.qu8.resize(m * k, 0);
        self.d.resize(m * k / QK_ACT, 0.0);
        // SAFETY: the lengths agree (resized above); the tables are for a supported ISA.
        unsafe {
            if blocks {
                (kernels.quant.quantize_blocks)(x, &mut self.qs, &mut self.qu8, &mut self.d)
            } else {
                (kernels.ew.quantize_act)(x, &mut self.qs, &mut self.qu8, &mut self.d)
            }
        }
        // Exact and order-free, so the same on every tier; m·k adds against m·k·n multiply-adds.
        self.sums.resize(m * k / QK_ACT, 0);
        for (s, c) in self.sums.iter_mut().zip(self.qs.chunks_exact(QK_ACT)) {
            *s = c.iter().map(|&v| i32::from(v)).sum();
        }
        self.dsums.resize(m * k / QK_ACT, 0.0);
        for ((ds, &s), &d) in self.dsums.iter_mut().zip(&self.sums).zip(&self.d) {
            *ds = d * s as f32;
        }
    }

    /// Rows quantized.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Row length.
    pub fn k(&self) -> usize {
        self.k
    }

    /// 32-value blocks per row.
    pub(crate) fn nb(&self) -> usize {
        self.k / QK8_0
    }

    /// The int8 codes of row `r` (`k` values; for tests and debugging).
    ///
    /// # Panics
    /// If `r >= m`.
    pub fn row_codes(&self, r: usize) -> &[i8] {
        assert!(r < self.m, "row {r} out of range (m = {})", self.m);
        &self.qs[r * self.k..(r + 1) * self.k]
    }

    /// The scales of row `r`: `k / 16` values, scale `s` applying to codes `16s..16s + 16`.
    ///
    /// # Panics
    /// If `r >= m`.
    pub fn row_scales(&self, r: usize) -> &[f32] {
        assert!(r < self.m, "row {r} out of range (m = {})", self.m);
        let ns = self.k / QK_ACT;
        &self.d[r * ns..(r + 1) * ns]
    }
}

impl QuantizedActivations {
    /// The code sums of row `r`: `k / 16` values, sum `s` over codes `16s..16s + 16`.
    ///
    /// # Panics
    /// If `r >= m`.
    pub fn row_sums(&self, r: usize) -> &[i32] {
        assert!(r < self.m, "row {r} out of range (m = {})", self.m);
        let ns = self.k / QK_ACT;
        &self.sums[r * ns..(r + 1) * ns]
    }

    /// `d · Σq` per 16 values of row `r` (the offset term's activation factor; `k / 16` values).
    ///
    /// # Panics
    /// If `r >= m`.
    pub fn row_dsums(&self, r: usize) -> &[f32] {
        assert!(r < self.m, "row {r} out of range (m = {})", self.m);
        let ns = self.k / QK_ACT;
        &self.dsums[r * ns..(r + 1) * ns]
    }
}

impl Kernels {
    /// See [`gemm_q8_0`].
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_q8_0(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        w: &[BlockQ8_0],
        n: usize,
        bias: Option<&[f32]>,
        y: &mut [f32],
        scratch: &mut QuantizedActivations,
    ) {
        scratch.quantize_with(self, x, m, k);
        self.gemm_q8_0_cols(scratch, w, n, bias, 0, n, y);
    }

    /// See [`gemm_q8_0_cols`].
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_q8_0_cols(
        &self,
        qa: &QuantizedActivations,
        w: &[BlockQ8_0],
        n: usize,
        bias: Option<&[f32]>,
        n0: usize,
        n1: usize,
        y: &mut [f32],
    ) {
        let (m, k) = (qa.m, qa.k);
        assert_eq!(
            w.len(),
            n * (k / QK8_0),
            "Q8_0 matmul: w must hold n * k / 32 blocks"
        );
        assert_eq!(
            y.len(),
            m * n,
            "Q8_0 matmul: y.len() must be m * n = {m} * {n}"
        );
        assert!(
            n0 <= n1 && n1 <= n,
            "Q8_0 matmul: bad column range {n0}..{n1} of {n}"
        );
        if let Some(b) = bias {
            assert_eq!(b.len(), n, "Q8_0 matmul: bias.len() must be n = {n}");
        }
        if m == 0 || n0 == n1 {
            return;
        }
        if k == 0 {
            for row in y.chunks_exact_mut(n) {
                for c in n0..n1 {
                    row[c] = bias.map_or(0.0, |b| b[c]);
                }
            }
            return;
        }
        // SAFETY: `self` exists only for an ISA the CPU supports (see `kernels_for`), and the
        // lengths the driver relies on were checked just above.
        unsafe { (self.q8_0)(qa, w, n, bias, n0, n1, y) }
    }
}

/// `Y = X · Wᵀ (+ bias)`: X is `m × k` f32, W is `n` rows of `k / 32` Q8_0 blocks, Y is `m × n`.
///
/// X is quantized into `scratch` (reused across calls), then multiplied on the detected ISA.
///
/// # Panics
/// On any shape mismatch: `k % 32 != 0`, `x.len() != m*k`, `w.len() != n*k/32`,
/// `y.len() != m*n`, `bias.len() != n`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_q8_0(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[BlockQ8_0],
    n: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut QuantizedActivations,
) {
    kernels().gemm_q8_0(x, m, k, w, n, bias, y, scratch);
}

/// Computes only output columns `n0..n1` of `Y = X · Wᵀ (+ bias)` from pre-quantized X.
///
/// `y` is the full `m × n` output; other columns are left untouched. Lets the runtime split one
/// matmul across threads (each with its own column range) after quantizing X once.
///
/// # Panics
/// On any shape mismatch (see [`gemm_q8_0`]) or if `n0 > n1 || n1 > n`.
pub fn gemm_q8_0_cols(
    qa: &QuantizedActivations,
    w: &[BlockQ8_0],
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    kernels().gemm_q8_0_cols(qa, w, n, bias, n0, n1, y);
}

#[cfg(test)]
mod tests {
    use super::round_to_i8;

    #[test]
    fn round_to_i8_is_roundf_then_saturating_cast() {
        let mut cases = vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            0.0,
            -0.0,
            0.5,
            -0.5,
            0.499_999_97,
            -0.499_999_97,
            126.5,
            127.5,
            -127.5,
            -128.5,
            1e-45,
        ];
        // Every f32 in [-130, 130] with a fine stride, plus all halves and their neighbours.
        let mut t = -130.0f32;
        while t <= 130.0 {
            cases.push(t);
            t += 1.0 / 1024.0;
        }
        for h in -262..=262 {
            let v = h as f32 * 0.5;
            cases.extend([v, v.next_up(), v.next_down()]);
        }
        for v in cases {
            assert_eq!(round_to_i8(v), v.round() as i8, "{v:e}");
        }
    }
}
