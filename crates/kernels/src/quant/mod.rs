//! Matmul with every ggml block format: `Y = X · Wᵀ (+ bias)`, W in any [`QuantType`], X quantized
//! into [`QuantizedActivations`] (int8, one f32 scale per 16 values; for Q4_0, Q5_0 and IQ4_NL
//! llama.cpp's 32-value blocks with an f16 scale, see [`QuantizedActivations::quantize_for`]).
//!
//! Each format decodes, per 16 weights, to int8 codes `q`, a scale `d_w` and, for the formats
//! with an offset (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K), a min `m_w` — exact f32 values (see
//! [`formats`]). Per call and per L2-sized column block, the driver decodes the block's W rows
//! (a few columns at a time) and the ISA packs them into its register layout (the x86 Q8_0
//! drivers pack the same way); the int8 micro-kernels are those of Q8_0. Every output is, on
//! every ISA,
//!
//! ```text
//! acc = 0.0
//! for s in 0..K/16:
//!     isum = Σ_{i<16} qx[16s+i] · qw[16s+i]              (exact i32)
//!     acc  = fma(d_x[s] · d_w[s], isum as f32, acc)
//!     if the format has a min:
//!         acc = fma(m_w[s], dsum_x[s], acc)         (dsum_x[s] = d_x[s] · Σ_{i<16} qx[16s+i])
//! y = acc (+ bias)
//! ```
//!
//! so all ISAs agree bit for bit and a row's result never depends on its tile. For Q8_0 this is
//! exactly the sequence of [`crate::gemm_q8_0`] (one scale per 32 values is two equal ones).

pub mod blocks;
pub mod formats;
pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use std::cell::RefCell;

use crate::isa::{Kernels, PerIsa};
use crate::kernels;
use crate::operands::WeightRows;
use crate::q8_0::QuantizedActivations;
use crate::tiling::{L2_WEIGHT_BUDGET, Tile, store_tile};
use formats::{QK_SUB, QuantType};

/// Rows per register tile (every tier).
pub(crate) const MR: usize = 4;
/// The widest register tile's columns (AVX-512).
pub(crate) const MAX_NR: usize = 32;

/// One tile's outputs, `MR × MAX_NR` (a tier fills `rows × nr`).
pub(crate) type TileOut = [[f32; MAX_NR]; MR];

/// `group` W rows decoded: codes (`k` each), scales and mins (`k / 16` each), row after row.
#[derive(Default)]
pub(crate) struct Unpacked {
    pub codes: Vec<i8>,
    pub scales: Vec<f32>,
    pub mins: Vec<f32>,
}

/// Decodes one W row ([`QuantType::unpack_row`]) compiled for a tier's ISA, so that the decode
/// vectorizes with the tier's instructions (the same integers and exact f32 products on every
/// tier: decoding has no rounding).
pub(crate) type UnpackFn = unsafe fn(QuantType, &[u8], &mut [i8], &mut [f32], &mut [f32]);

/// Packs a decoded group into a tier's panel layout (`nb · words` i32 words).
pub(crate) type PackFn = unsafe fn(&Unpacked, usize, &mut [i32]);

/// Computes one tile: `(qa, r0, rows, panel at the tile's first group, has_min, out)`.
pub(crate) type TileFn =
    unsafe fn(&QuantizedActivations, usize, usize, *const i32, bool, &mut TileOut);

/// One ISA's quantized micro-kernels and their panel geometry.
pub(crate) struct Tier {
    /// W rows per packed group.
    pub group: usize,
    /// Columns per register tile (a multiple of `group`).
    pub nr: usize,
    /// i32 words per (group, 32-value block) of the panel.
    pub words: usize,
    pub unpack: UnpackFn,
    pub pack: PackFn,
    pub tile: TileFn,
}

impl QuantizedActivations {
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
        self.quantize_scaled(kernels, x, m, k, ty.activations());
    }
}

/// Every tier's micro-kernels.
static TIERS: PerIsa<Tier> = PerIsa {
    scalar: scalar::TIER,
    #[cfg(target_arch = "x86_64")]
    avx2: avx2::TIER,
    #[cfg(target_arch = "x86_64")]
    avx512: avx512::TIER,
    #[cfg(target_arch = "aarch64")]
    neon: neon::TIER_WIDENING,
    #[cfg(target_arch = "aarch64")]
    neon_dotprod: neon::TIER_DOTPROD,
};

thread_local! {
    /// Decoded group and packed panel of the current column block (grow once, then reused).
    static SCRATCH: RefCell<(Unpacked, Vec<i32>)> = RefCell::new(Default::default());
}

/// One product of the generic driver: columns `n0..n1` of `y = X · Wᵀ (+ bias)`, X quantized in
/// `qa`, W `n` rows of type `ty` in `w`, `y` the full `m × n` output (arguments checked).
struct ColsJob<'a> {
    qa: &'a QuantizedActivations,
    ty: QuantType,
    w: &'a [u8],
    n: usize,
    bias: Option<&'a [f32]>,
    n0: usize,
    n1: usize,
}

/// The generic driver: column blocks sized for L2, decode + pack per group, tiles per ISA.
fn gemm_cols(tier: &Tier, job: ColsJob<'_>, y: &mut [f32]) {
    let ColsJob {
        qa,
        ty,
        w,
        n,
        bias,
        n0,
        n1,
    } = job;
    let (m, k) = (qa.m(), qa.k());
    let (nb, ns) = (k / 32, k / QK_SUB);
    let rb = ty.row_bytes(k).expect("checked by the caller");
    let has_min = ty.has_min();
    let gw = nb * tier.words;
    let nc = (L2_WEIGHT_BUDGET / (gw * 4 / tier.group).max(1)).max(tier.nr) / tier.nr * tier.nr;
    let (mut un, mut panel) = SCRATCH.with(|s| s.take());
    un.codes.resize(tier.group * k, 0);
    un.scales.resize(tier.group * ns, 0.0);
    un.mins.resize(tier.group * ns, 0.0);
    let mut jc = n0;
    while jc < n1 {
        let jend = (jc + nc).min(n1);
        let groups = (jend - jc).div_ceil(tier.nr) * (tier.nr / tier.group);
        panel.resize(groups * gw, 0);
        for g in 0..groups {
            for j in 0..tier.group {
                // Padding columns repeat the last real one (computed, then dropped).
                let c = (jc + g * tier.group + j).min(jend - 1);
                // SAFETY: the tier exists only for an ISA the CPU has.
                unsafe {
                    (tier.unpack)(
                        ty,
                        &w[c * rb..(c + 1) * rb],
                        &mut un.codes[j * k..(j + 1) * k],
                        &mut un.scales[j * ns..(j + 1) * ns],
                        &mut un.mins[j * ns..(j + 1) * ns],
                    )
                };
            }
            // SAFETY: the tier exists only for an ISA the CPU has; `un` holds `group` decoded
            // rows of `k` and the destination `nb · words` words.
            unsafe { (tier.pack)(&un, k, &mut panel[g * gw..(g + 1) * gw]) };
        }
        let mut r0 = 0;
        while r0 < m {
            let rows = MR.min(m - r0);
            let mut c0 = jc;
            while c0 < jend {
                let t = Tile {
                    r0,
                    rows,
                    c0,
                    cols: tier.nr.min(jend - c0),
                };
                let gp = panel[(c0 - jc) / tier.group * gw..].as_ptr();
                let mut out = [[0.0f32; MAX_NR]; MR];
                // SAFETY: rows r0..r0+rows < m; the tile's `nr / group` groups are in the panel
                // (`groups` is rounded up to whole tiles).
                unsafe { (tier.tile)(qa, r0, rows, gp, has_min, &mut out) };
                store_tile(&out, t, n, bias, y);
                c0 += t.cols;
            }
            r0 += rows;
        }
        jc = jend;
    }
    SCRATCH.with(|s| s.replace((un, panel)));
}

impl Kernels {
    /// See [`gemm_quant`].
    pub fn gemm_quant(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        rhs: WeightRows<'_, (QuantType, &[u8])>,
        y: &mut [f32],
        scratch: &mut QuantizedActivations,
    ) {
        scratch.quantize_for(self, rhs.w.0, x, m, k);
        self.gemm_quant_cols(scratch, rhs, y);
    }

    /// See [`gemm_quant_cols`].
    pub fn gemm_quant_cols(
        &self,
        qa: &QuantizedActivations,
        rhs: WeightRows<'_, (QuantType, &[u8])>,
        y: &mut [f32],
    ) {
        let WeightRows {
            w: (ty, w),
            n,
            bias,
            n0,
            n1,
        } = rhs;
        let (m, k) = (qa.m(), qa.k());
        let rb = ty.row_bytes(k);
        assert!(
            rb.is_some_and(|rb| Some(w.len()) == rb.checked_mul(n)),
            "{ty} matmul: w must hold n = {n} rows of k = {k} weights (k a multiple of {})",
            ty.block_size()
        );
        assert_eq!(
            y.len(),
            m * n,
            "{ty} matmul: y.len() must be m * n = {m} * {n}"
        );
        assert!(
            n0 <= n1 && n1 <= n,
            "{ty} matmul: bad column range {n0}..{n1} of {n}"
        );
        if let Some(b) = bias {
            assert_eq!(b.len(), n, "{ty} matmul: bias.len() must be n = {n}");
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
        let job = ColsJob {
            qa,
            ty,
            w,
            n,
            bias,
            n0,
            n1,
        };
        gemm_cols(self.pick(&TIERS), job, y);
    }
}

/// `Y = X · Wᵀ (+ bias)`: X is `m × k` f32, W is `rhs.n` rows of `k` weights of type `rhs.w.0`
/// (the file's bytes, `rhs.w.1`), Y is `m × n` (columns `rhs.n0..rhs.n1` computed, all of them
/// from [`WeightRows::new`]). X is quantized into `scratch`, then multiplied on the detected ISA.
///
/// # Panics
/// On any shape mismatch: `k` not a multiple of 32 and of the block size, `x.len() != m*k`,
/// `w.len()` not `n` rows, `y.len() != m*n`, `bias.len() != n`.
pub fn gemm_quant(
    x: &[f32],
    m: usize,
    k: usize,
    rhs: WeightRows<'_, (QuantType, &[u8])>,
    y: &mut [f32],
    scratch: &mut QuantizedActivations,
) {
    kernels().gemm_quant(x, m, k, rhs, y, scratch);
}

/// Computes only output columns `rhs.n0..rhs.n1` of [`gemm_quant`] from pre-quantized X (other
/// columns of the full `m × n` output are left untouched), for splitting one matmul across
/// threads.
///
/// # Panics
/// As [`gemm_quant`], or if `n0 > n1 || n1 > n`.
pub fn gemm_quant_cols(
    qa: &QuantizedActivations,
    rhs: WeightRows<'_, (QuantType, &[u8])>,
    y: &mut [f32],
) {
    kernels().gemm_quant_cols(qa, rhs, y);
}
