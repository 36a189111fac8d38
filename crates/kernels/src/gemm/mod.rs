//! Float-weight matmul: `Y = X · Wᵀ (+ bias)` with W in F32, F16 or BF16.
//!
//! Dot-product formulation (see `tiling`): each output is one dot product of an X row and a W
//! row, read in place (no packing). F16/BF16 weights are widened to f32 as they are loaded
//! (exact), so all three formats share one kernel.
//!
//! Determinism: every tier computes each output in one canonical order (`driver`'s docs): 16
//! lane sums of fused multiply-adds along K, a fixed horizontal-sum tree, then the bias. AVX-512
//! holds the 16 lanes in one zmm, AVX2 in two ymm, NEON in four q registers, the scalar oracle in
//! an array with `f32::mul_add`; so an output is bit-identical on every ISA, and (as its order
//! depends only on K, never on the tile) whatever M or the column range.
//!
//! Layout: one generic driver (`driver`, register tiles over `tiling`'s cache blocks) over a
//! per-tier 16-lane vector (`avx2`, `avx512`, `neon`: the micro-kernel's loads, FMA and sum);
//! `scalar` is the independent oracle.

mod driver;
pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use half::{bf16, f16};

use crate::isa::{Kernels, PerIsa, SCALAR};
use crate::kernels;
use crate::operands::WeightRows;

/// Weights of a float matmul: `n` rows of `k` values, row-major (GGUF's layout).
#[derive(Clone, Copy, Debug)]
pub enum FloatWeights<'a> {
    /// 32-bit floats.
    F32(&'a [f32]),
    /// IEEE half precision.
    F16(&'a [f16]),
    /// bfloat16.
    Bf16(&'a [bf16]),
}

impl FloatWeights<'_> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            FloatWeights::F32(w) => w.len(),
            FloatWeights::F16(w) => w.len(),
            FloatWeights::Bf16(w) => w.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per value.
    pub(crate) fn elem_bytes(&self) -> usize {
        match self {
            FloatWeights::F32(_) => 4,
            _ => 2,
        }
    }
}

/// Weight formats as a const-generic tag for the kernels.
pub(crate) const WT_F32: u8 = 0;
pub(crate) const WT_F16: u8 = 1;
pub(crate) const WT_BF16: u8 = 2;

/// One float matmul, its arguments checked: columns `n0..n1` of `y = x · wᵀ (+ bias)`, `x` of
/// `m × k`, `w` of `n × k`, `y` of `m × n`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FloatGemm<'a> {
    pub x: &'a [f32],
    pub m: usize,
    pub k: usize,
    pub w: FloatWeights<'a>,
    pub n: usize,
    pub bias: Option<&'a [f32]>,
    pub n0: usize,
    pub n1: usize,
}

/// Signature of one ISA's float matmul (`y` is the full `m × n` output).
pub(crate) type GemmFn = unsafe fn(&FloatGemm<'_>, &mut [f32]);

/// Every tier's driver.
static DRIVERS: PerIsa<GemmFn> = PerIsa {
    scalar: scalar::gemm_cols,
    #[cfg(target_arch = "x86_64")]
    avx2: avx2::gemm_cols,
    #[cfg(target_arch = "x86_64")]
    avx512: avx512::gemm_cols,
    #[cfg(target_arch = "aarch64")]
    neon: neon::gemm_cols,
    #[cfg(target_arch = "aarch64")]
    neon_dotprod: neon::gemm_cols,
};

/// This family's self-check (see `crate::SELF_CHECKS`): an F16 matmul on `k` and on the scalar
/// tier, bit for bit (every tier sums in one order: `driver.rs`).
pub(crate) fn self_check(k: &Kernels) -> bool {
    let (m, kk, n) = (5, 96, 19);
    let x: Vec<f32> = (0..m * kk)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
        .collect();
    let w: Vec<f16> = (0..n * kk)
        .map(|i| f16::from_f32(((i * 53 % 89) as f32 - 44.0) * 0.007))
        .collect();
    let (mut y0, mut y1) = (vec![0.0; m * n], vec![0.0; m * n]);
    let rhs = WeightRows::new(&w[..], n, None);
    SCALAR.gemm_f16(&x, m, kk, rhs, &mut y0);
    k.gemm_f16(&x, m, kk, rhs, &mut y1);
    y0.iter().zip(&y1).all(|(p, q)| p.to_bits() == q.to_bits())
}

impl Kernels {
    /// See [`gemm_float_cols`].
    pub fn gemm_float_cols(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        rhs: WeightRows<'_, FloatWeights<'_>>,
        y: &mut [f32],
    ) {
        let WeightRows { w, n, bias, n0, n1 } = rhs;
        assert_eq!(
            x.len(),
            m * k,
            "float matmul: x.len() must be m * k = {m} * {k}"
        );
        assert_eq!(
            w.len(),
            n * k,
            "float matmul: w.len() must be n * k = {n} * {k}"
        );
        assert_eq!(
            y.len(),
            m * n,
            "float matmul: y.len() must be m * n = {m} * {n}"
        );
        assert!(
            n0 <= n1 && n1 <= n,
            "float matmul: bad column range {n0}..{n1} of {n}"
        );
        if let Some(b) = bias {
            assert_eq!(b.len(), n, "float matmul: bias.len() must be n = {n}");
        }
        if m == 0 || n0 == n1 {
            return;
        }
        let p = FloatGemm {
            x,
            m,
            k,
            w,
            n,
            bias,
            n0,
            n1,
        };
        // SAFETY: `self` exists only for an ISA the CPU supports (see `kernels_for`); the
        // lengths the driver relies on were checked just above.
        unsafe { (self.pick(&DRIVERS))(&p, y) }
    }

    /// See [`gemm_f32`].
    pub fn gemm_f32(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        rhs: WeightRows<'_, &[f32]>,
        y: &mut [f32],
    ) {
        self.gemm_float_cols(x, m, k, rhs.map(FloatWeights::F32), y);
    }

    /// See [`gemm_f16`].
    pub fn gemm_f16(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        rhs: WeightRows<'_, &[f16]>,
        y: &mut [f32],
    ) {
        self.gemm_float_cols(x, m, k, rhs.map(FloatWeights::F16), y);
    }

    /// See [`gemm_bf16`].
    pub fn gemm_bf16(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        rhs: WeightRows<'_, &[bf16]>,
        y: &mut [f32],
    ) {
        self.gemm_float_cols(x, m, k, rhs.map(FloatWeights::Bf16), y);
    }
}

/// Computes output columns `rhs.n0..rhs.n1` of `Y = X · Wᵀ (+ bias)` for float weights.
///
/// X is `m × k` f32, W is `rhs.n × k` ([`FloatWeights`]), `y` the full `m × n` output (other
/// columns untouched). No scratch is needed: W is read in place.
///
/// # Panics
/// On any shape mismatch (`x.len() != m*k`, `w.len() != n*k`, `y.len() != m*n`,
/// `bias.len() != n`) or if `n0 > n1 || n1 > n`.
pub fn gemm_float_cols(
    x: &[f32],
    m: usize,
    k: usize,
    rhs: WeightRows<'_, FloatWeights<'_>>,
    y: &mut [f32],
) {
    kernels().gemm_float_cols(x, m, k, rhs, y);
}

/// `Y = X · Wᵀ (+ bias)` with F32 weights (`n × k`), columns `rhs.n0..rhs.n1`. Panics on shape
/// mismatch.
pub fn gemm_f32(x: &[f32], m: usize, k: usize, rhs: WeightRows<'_, &[f32]>, y: &mut [f32]) {
    kernels().gemm_f32(x, m, k, rhs, y);
}

/// `Y = X · Wᵀ (+ bias)` with F16 weights (`n × k`), columns `rhs.n0..rhs.n1`. Panics on shape
/// mismatch.
pub fn gemm_f16(x: &[f32], m: usize, k: usize, rhs: WeightRows<'_, &[f16]>, y: &mut [f32]) {
    kernels().gemm_f16(x, m, k, rhs, y);
}

/// `Y = X · Wᵀ (+ bias)` with BF16 weights (`n × k`), columns `rhs.n0..rhs.n1`. Panics on shape
/// mismatch.
pub fn gemm_bf16(x: &[f32], m: usize, k: usize, rhs: WeightRows<'_, &[bf16]>, y: &mut [f32]) {
    kernels().gemm_bf16(x, m, k, rhs, y);
}
