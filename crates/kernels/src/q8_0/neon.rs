//! NEON Q8_0 matmul: `sdot` when the CPU has the dot-product extension, widening multiplies
//! (`smull` + pairwise accumulate) otherwise.
//!
//! Tile: `MR = 4` rows × `NR = 4` columns. Per block, each half (values 0..16, then 16..32: one
//! activation scale each) of each (row, column) product leaves 4 i32 partial sums; two levels of
//! `addp` give the 4 columns' exact half-block sums in one vector, folded into one f32
//! accumulator per row with that half's scale, in the canonical order of [`super`].
//!
//! NOTE: written for aarch64 and type-checked with `cargo check --target
//! aarch64-unknown-linux-gnu`; see docs/KERNELS.md for how it was (or was not) run.

use std::arch::aarch64::*;

use super::QuantizedActivations;
use crate::block::{BlockQ8_0, QK8_0};
use crate::tiling::{Tiles, store_tile, tile_cols};

/// This tier's Q8_0 kernels without the dot-product extension (widening multiplies).
pub(crate) const TABLE_WIDENING: super::Table = super::Table {
    gemm: gemm_cols_widening,
    quantize_halves,
    quantize_blocks,
};

/// This tier's Q8_0 kernels with `sdot`.
pub(crate) const TABLE_DOTPROD: super::Table = super::Table {
    gemm: gemm_cols_dotprod,
    quantize_halves,
    quantize_blocks,
};

target_fns!("neon";
    quantize_halves(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32])
        => super::quantize::quantize_halves;
    quantize_blocks(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32])
        => super::quantize::quantize_blocks;
);

const MR: usize = 4;
const NR: usize = 4;
const BLOCK_BYTES: usize = std::mem::size_of::<BlockQ8_0>();

/// NEON driver without the dot-product extension (see [`super::GemmFn`]).
///
/// # Safety
/// The arguments must satisfy the checks of `Kernels::gemm_q8_0_cols` (NEON is baseline).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn gemm_cols_widening(
    qa: &QuantizedActivations,
    w: &[BlockQ8_0],
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    // SAFETY: forwarded contract; `Widening` uses baseline NEON only.
    unsafe { driver::<Widening>(qa, w, n, bias, n0, n1, y) }
}

/// NEON driver using `sdot` (see [`super::GemmFn`]).
///
/// # Safety
/// The CPU must have the dot-product extension, and the arguments must satisfy the checks of
/// `Kernels::gemm_q8_0_cols`.
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn gemm_cols_dotprod(
    qa: &QuantizedActivations,
    w: &[BlockQ8_0],
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    // SAFETY: forwarded contract, dotprod included.
    unsafe { driver::<SDot>(qa, w, n, bias, n0, n1, y) }
}

#[inline(always)]
unsafe fn driver<D: BlockDot>(
    qa: &QuantizedActivations,
    w: &[BlockQ8_0],
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    let nb = qa.nb();
    let wp = w.as_ptr().cast::<u8>();
    for t in Tiles::new(qa.m(), n0, n1, MR, NR, nb * BLOCK_BYTES) {
        let cols = tile_cols::<NR>(t.c0, t.cols);
        let mut out = [[0.0f32; NR]; MR];
        // SAFETY: every column index is < n and every row < m, so all reads are in bounds;
        // features per the caller's contract.
        unsafe {
            match t.rows {
                1 => tile::<1, D>(qa, t.r0, wp, nb, &cols, &mut out),
                2 => tile::<2, D>(qa, t.r0, wp, nb, &cols, &mut out),
                3 => tile::<3, D>(qa, t.r0, wp, nb, &cols, &mut out),
                _ => tile::<4, D>(qa, t.r0, wp, nb, &cols, &mut out),
            }
        }
        store_tile(&out, t, n, bias, y);
    }
}

/// How a tile forms the four i32 partial sums of one 16-value half-block product.
pub(crate) trait BlockDot {
    /// # Safety
    /// `x` must point at 16 readable bytes and the CPU must support the implementation's ISA.
    unsafe fn partials(x: *const i8, w: int8x16_t) -> int32x4_t;
}

/// Baseline NEON: widening multiplies, pairwise widening adds.
pub(crate) struct Widening;

impl BlockDot for Widening {
    #[inline(always)]
    unsafe fn partials(x: *const i8, w: int8x16_t) -> int32x4_t {
        // SAFETY: `x` points at 16 readable bytes (caller); NEON is baseline on aarch64.
        unsafe {
            let xv = vld1q_s8(x);
            // |x·w| <= 127·128 fits i16; pairwise widening adds keep every sum exact.
            let p0 = vmull_s8(vget_low_s8(xv), vget_low_s8(w));
            let p1 = vmull_high_s8(xv, w);
            vpadalq_s16(vpaddlq_s16(p0), p1)
        }
    }
}

/// `sdot` (FEAT_DotProd). The `vdotq_s32` intrinsic is still unstable in Rust 1.95
/// (`stdarch_neon_dotprod`), so the instruction is emitted with `asm!`; it is only ever inlined
/// into `gemm_cols_dotprod`, whose `dotprod` target feature lets the assembler accept it.
pub(crate) struct SDot;

impl SDot {
    #[inline(always)]
    unsafe fn sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: register-only instruction; the caller guarantees FEAT_DotProd.
        unsafe {
            std::arch::asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        acc
    }
}

impl BlockDot for SDot {
    #[inline(always)]
    unsafe fn partials(x: *const i8, w: int8x16_t) -> int32x4_t {
        // SAFETY: `x` points at 16 readable bytes and the CPU has dotprod (caller).
        unsafe { Self::sdot(vdupq_n_s32(0), vld1q_s8(x), w) }
    }
}

#[inline(always)]
unsafe fn tile<const R: usize, D: BlockDot>(
    qa: &QuantizedActivations,
    r0: usize,
    w: *const u8,
    nb: usize,
    cols: &[usize; NR],
    out: &mut [[f32; NR]; MR],
) {
    let k = nb * QK8_0;
    // SAFETY: rows r0..r0+R and the columns in `cols` are in bounds (checked by the caller).
    unsafe {
        let wrow: [*const u8; NR] = cols.map(|c| w.add(c * nb * BLOCK_BYTES));
        let x = qa.qs.as_ptr().add(r0 * k);
        // Two activation scales per block: row r's scales start at dx + r * 2nb.
        let ns = 2 * nb;
        let dx = qa.d.as_ptr().add(r0 * ns);
        let mut acc = [vdupq_n_f32(0.0); R];
        for b in 0..nb {
            let ds: [f32; NR] = std::array::from_fn(|j| {
                half::f16::from_bits(wrow[j].add(b * BLOCK_BYTES).cast::<u16>().read_unaligned())
                    .to_f32()
            });
            let dw = vld1q_f32(ds.as_ptr());
            // Values 0..16 with d_x[2b], then 16..32 with d_x[2b+1].
            for h in 0..2 {
                let mut v = [[vdupq_n_s32(0); R]; NR];
                for (j, vj) in v.iter_mut().enumerate() {
                    let wh = vld1q_s8(wrow[j].add(b * BLOCK_BYTES + 2 + 16 * h).cast::<i8>());
                    for (r, vr) in vj.iter_mut().enumerate() {
                        *vr = D::partials(x.add(r * k + b * QK8_0 + 16 * h), wh);
                    }
                }
                for (r, a) in acc.iter_mut().enumerate() {
                    let sums =
                        vpaddq_s32(vpaddq_s32(v[0][r], v[1][r]), vpaddq_s32(v[2][r], v[3][r]));
                    let scale = vmulq_f32(vdupq_n_f32(*dx.add(r * ns + 2 * b + h)), dw);
                    *a = vfmaq_f32(*a, scale, vcvtq_f32_s32(sums));
                }
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            vst1q_f32(o.as_mut_ptr(), a);
        }
    }
}
