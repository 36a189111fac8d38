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
pub(crate) mod quantize;
pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use crate::block::{BlockQ8_0, QK8_0};
use crate::isa::{Kernels, PerIsa, SCALAR};
use crate::kernels;
use crate::operands::WeightRows;
pub use quantize::quantize_row_q8_0;

/// Signature of one ISA's Q8_0 driver: `(qa, w, n, bias, n0, n1, y)`, arguments pre-checked.
pub(crate) type GemmFn =
    unsafe fn(&QuantizedActivations, &[BlockQ8_0], usize, Option<&[f32]>, usize, usize, &mut [f32]);

/// Signature of one ISA's activation quantizer: `(x, qs, qu8, d)`, lengths pre-checked (see
/// [`quantize::quantize_halves`]).
pub(crate) type QuantizeFn = unsafe fn(&[f32], &mut [i8], &mut [u8], &mut [f32]);

/// One tier's Q8_0 kernels.
pub(crate) struct Table {
    /// The matmul driver.
    pub gemm: GemmFn,
    /// Activations with one f32 scale per 16 values ([`quantize::quantize_halves`]).
    pub quantize_halves: QuantizeFn,
    /// Activations in ggml's 32-value blocks ([`quantize::quantize_blocks`]).
    pub quantize_blocks: QuantizeFn,
}

/// Every tier's table.
static TABLES: PerIsa<Table> = PerIsa {
    scalar: scalar::TABLE,
    #[cfg(target_arch = "x86_64")]
    avx2: avx2::TABLE,
    #[cfg(target_arch = "x86_64")]
    avx512: avx512::TABLE,
    #[cfg(target_arch = "aarch64")]
    neon: neon::TABLE_WIDENING,
    #[cfg(target_arch = "aarch64")]
    neon_dotprod: neon::TABLE_DOTPROD,
};

/// How [`QuantizedActivations`] scales its codes: the activation type a weight format dots with
/// (`BlockFormat::ACTIVATIONS`). The layout is the same either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActScales {
    /// One f32 scale per 16 values (ours, for Q8_0 and most block formats).
    PerHalfBlock,
    /// ggml's Q8_0 blocks: one f16-rounded scale per 32 values (written as the two equal scales
    /// of the block's halves).
    PerBlock,
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
        self.quantize_scaled(kernels, x, m, k, ActScales::PerHalfBlock);
    }

    /// Quantizes `x` with the given scales (see `quant`'s `quantize_for`).
    pub(crate) fn quantize_scaled(
        &mut self,
        kernels: &Kernels,
        x: &[f32],
        m: usize,
        k: usize,
        scales: ActScales,
    ) {
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
        let t = kernels.pick(&TABLES);
        let quantize = match scales {
            ActScales::PerHalfBlock => t.quantize_halves,
            ActScales::PerBlock => t.quantize_blocks,
        };
        // SAFETY: the lengths agree (resized above); the table is for a supported ISA.
        unsafe { quantize(x, &mut self.qs, &mut self.qu8, &mut self.d) }
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
    pub fn gemm_q8_0(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        rhs: WeightRows<'_, &[BlockQ8_0]>,
        y: &mut [f32],
        scratch: &mut QuantizedActivations,
    ) {
        scratch.quantize_with(self, x, m, k);
        self.gemm_q8_0_cols(scratch, rhs, y);
    }

    /// See [`gemm_q8_0_cols`].
    pub fn gemm_q8_0_cols(
        &self,
        qa: &QuantizedActivations,
        rhs: WeightRows<'_, &[BlockQ8_0]>,
        y: &mut [f32],
    ) {
        let WeightRows { w, n, bias, n0, n1 } = rhs;
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
        unsafe { (self.pick(&TABLES).gemm)(qa, w, n, bias, n0, n1, y) }
    }
}

/// `Y = X · Wᵀ (+ bias)`: X is `m × k` f32, W is `rhs.n` rows of `k / 32` Q8_0 blocks, Y is
/// `m × n` (columns `rhs.n0..rhs.n1` computed, all of them from [`WeightRows::new`]).
///
/// X is quantized into `scratch` (reused across calls), then multiplied on the detected ISA.
///
/// # Panics
/// On any shape mismatch: `k % 32 != 0`, `x.len() != m*k`, `w.len() != n*k/32`,
/// `y.len() != m*n`, `bias.len() != n`.
pub fn gemm_q8_0(
    x: &[f32],
    m: usize,
    k: usize,
    rhs: WeightRows<'_, &[BlockQ8_0]>,
    y: &mut [f32],
    scratch: &mut QuantizedActivations,
) {
    kernels().gemm_q8_0(x, m, k, rhs, y, scratch);
}

/// Computes only output columns `rhs.n0..rhs.n1` of `Y = X · Wᵀ (+ bias)` from pre-quantized X.
///
/// `y` is the full `m × n` output; other columns are left untouched. Lets the runtime split one
/// matmul across threads (each with its own column range) after quantizing X once.
///
/// # Panics
/// On any shape mismatch (see [`gemm_q8_0`]) or if `n0 > n1 || n1 > n`.
pub fn gemm_q8_0_cols(qa: &QuantizedActivations, rhs: WeightRows<'_, &[BlockQ8_0]>, y: &mut [f32]) {
    kernels().gemm_q8_0_cols(qa, rhs, y);
}

/// This family's self-check (see `crate::SELF_CHECKS`): two matmuls (one small, with row,
/// column and odd-block tails; one spanning several L2 column blocks, K = 2048) on `k` and on
/// the scalar tier must match bit for bit (the reduction order is the same on every tier).
pub(crate) fn self_check(k: &Kernels) -> bool {
    [(5, 96, 19), (3, 2048, 150)]
        .into_iter()
        .all(|(m, kk, n)| matches_scalar(k, m, kk, n))
}

fn matches_scalar(k: &Kernels, m: usize, kk: usize, n: usize) -> bool {
    let x: Vec<f32> = (0..m * kk)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
        .collect();
    let wf: Vec<f32> = (0..n * kk)
        .map(|i| ((i * 53 % 89) as f32 - 44.0) * 0.007)
        .collect();
    let mut wq = vec![BlockQ8_0::default(); n * kk / QK8_0];
    for (row, out) in wf.chunks(kk).zip(wq.chunks_mut(kk / QK8_0)) {
        quantize_row_q8_0(row, out);
    }
    let bias: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
    let mut qa = QuantizedActivations::new();
    let (mut y0, mut y1) = (vec![0.0; m * n], vec![0.0; m * n]);
    let rhs = WeightRows::new(&wq[..], n, Some(&bias[..]));
    SCALAR.gemm_q8_0(&x, m, kk, rhs, &mut y0, &mut qa);
    k.gemm_q8_0(&x, m, kk, rhs, &mut y1, &mut qa);
    y0.iter().zip(&y1).all(|(a, b)| a.to_bits() == b.to_bits())
}
