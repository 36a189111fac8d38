//! Q8_0 matmul: `Y = X · Wᵀ (+ bias)` with W in ggml's Q8_0 blocks and X quantized on the fly.
//!
//! X rows are quantized once per matmul into [`QuantizedActivations`] with ggml's reference
//! rounding. Every output is then, on every ISA, exactly
//!
//! ```text
//! acc = 0.0
//! for b in 0..K/32:  acc = fma(d_x[b] * d_w[b], (Σ_i qx[b][i] * qw[b][i]) as f32, acc)
//! y = acc (+ bias)
//! ```
//!
//! The integer block sums are exact and the float steps are the same fused operations in the
//! same order, so all ISAs agree bit for bit, and a row's result never depends on the tile it
//! was computed in.

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

/// Signature of one ISA's Q8_0 driver: `(qa, w, n, bias, n0, n1, y)`, arguments pre-checked.
pub(crate) type GemmFn =
    unsafe fn(&QuantizedActivations, &[BlockQ8_0], usize, Option<&[f32]>, usize, usize, &mut [f32]);

/// Quantizes one row into Q8_0 blocks, bit-identical to ggml's `quantize_row_q8_0_ref`.
///
/// `d = amax / 127` (f32), `id = d != 0 ? 1/d : 0`, `q = roundf(x * id)` (half away from zero),
/// and `d` is stored rounded to f16.
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
        let (d, qs) = quantize_block(xb.try_into().expect("chunk of 32"));
        ob.d = f16::from_f32(d);
        ob.qs = qs;
    }
}

#[inline(always)]
fn quantize_block(x: &[f32; QK8_0]) -> (f32, [i8; QK8_0]) {
    // Max is exact and order-independent, so a lane-parallel max gives ggml's amax.
    let mut amax = 0.0f32;
    for &v in x {
        let a = v.abs();
        amax = if amax > a { amax } else { a };
    }
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    (d, x.map(|v| (v * id).round() as i8))
}

/// X quantized to Q8_0 for a matmul; a caller-kept scratch so that steady state allocates nothing.
///
/// Holds, for `m` rows of `k` values: the int8 values (also offset to u8, the unsigned operand of
/// AVX-512 `vpdpbusd`) and the f16-rounded block scales as f32. Memory: `2·m·k + m·k/8` bytes.
/// One instance can be shared (`&`) by threads that each compute a column range with
/// [`gemm_q8_0_cols`].
#[derive(Clone, Debug, Default)]
pub struct QuantizedActivations {
    m: usize,
    k: usize,
    pub(crate) qs: Vec<i8>,
    /// `qs + 128` as u8: the unsigned operand of `vpdpbusd`.
    pub(crate) qu8: Vec<u8>,
    /// f16-rounded scales, one per block, as f32.
    pub(crate) d: Vec<f32>,
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
        self.d.resize(m * k / QK8_0, 0.0);
        for (b, xb) in x.chunks_exact(QK8_0).enumerate() {
            let (d, qs) = quantize_block(xb.try_into().expect("chunk of 32"));
            self.d[b] = f16::from_f32(d).to_f32();
            let o = b * QK8_0;
            for (i, &q) in qs.iter().enumerate() {
                self.qs[o + i] = q;
                self.qu8[o + i] = (q as u8) ^ 0x80;
            }
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

    /// Blocks per row.
    pub(crate) fn nb(&self) -> usize {
        self.k / QK8_0
    }

    /// Row `r`, block `b` as ggml's [`BlockQ8_0`] (for tests and debugging).
    pub fn block(&self, r: usize, b: usize) -> BlockQ8_0 {
        let i = r * self.nb() + b;
        BlockQ8_0 {
            d: f16::from_f32(self.d[i]),
            qs: self.qs[i * QK8_0..(i + 1) * QK8_0]
                .try_into()
                .expect("32 values"),
        }
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
        scratch.quantize(x, m, k);
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
