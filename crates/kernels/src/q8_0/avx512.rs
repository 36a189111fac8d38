//! AVX-512 VNNI Q8_0 matmul: one 512-bit `vpdpbusd` = 4 k-values × 16 columns, no reductions.
//!
//! Like the AVX2 kernel, W is packed per call, one 32-column strip × 16-block chunk at a time
//! into an L1-sized per-thread buffer (see [`gemm_cols`]): for each group of 16 W rows and block, the 8 four-byte k-groups are transposed (two 8×8 32-bit transposes
//! shared with `avx2.rs`) so that one 64-byte vector holds k-group `t` of 16 columns. The
//! micro-kernel (4 rows × 32 columns: 8 i32 + 8 f32 accumulators) broadcasts 4 bytes of x per
//! row and issues one `vpdpbusd` per (row, 16 columns): after k-groups 0..4 each i32 lane is one
//! column's exact sum over values 0..16 (folded with the activation scale `d_x[2b]`), after
//! k-groups 4..8 the sum over values 16..32 (folded with `d_x[2b+1]`).
//!
//! `vpdpbusd` multiplies unsigned by signed bytes: x is offset to unsigned (`x + 128`, kept in
//! [`QuantizedActivations`]) and W used as stored; the offset's contribution `128·Σw` is removed
//! by seeding each half-block's accumulators with `-128·Σw` over that half, computed once at
//! packing time. This is exact for every i8 weight including -128 (the abs/sign trick is not).
//!
//! Validated on Zen 4 and Ice Lake (the default tier where the CPU has F+BW+VL+VNNI); the
//! dispatcher's self-check (`isa::self_check`) still compares it bit for bit with the scalar
//! kernel before using it.

use std::arch::x86_64::*;

use super::QuantizedActivations;
use super::avx2::{Y_AHEAD, load_scales, prefetch_y, transpose8};
use crate::block::{BlockQ8_0, QK8_0};

/// This tier's Q8_0 kernels.
pub(crate) const TABLE: super::Table = super::Table {
    gemm: gemm_cols,
    quantize_halves,
    quantize_blocks,
};

target_fns!("avx512f,avx512bw,avx512vl,avx2,fma,f16c";
    quantize_halves(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32])
        => super::quantize::quantize_halves;
    quantize_blocks(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32])
        => super::quantize::quantize_blocks;
);

/// Rows per register tile: 4 rows × 32 columns is 8 i32 + 8 f32 zmm accumulators. 6 rows (12 +
/// 12) measured no faster: LLVM then spills a register per half-block (see docs/KERNELS.md).
const MR: usize = 4;
const NR: usize = 32;
/// Blocks per k-chunk: a 32-column strip's packed chunk (`KC × 1408` bytes = 22 KiB) is packed
/// just before use and stays in L1 while every row tile runs over it; x (`MR × KC × 32` bytes
/// per tile) is what streams from L2.
const KC: usize = 16;
const BLOCK_BYTES: usize = std::mem::size_of::<BlockQ8_0>();
/// i32 words per packed (16-column group, block): 8 k-groups × 16, the corrections of values
/// 0..16 and of values 16..32, the scales.
const GB: usize = 8 * 16 + 16 + 16 + 16;
const CORR_LO: usize = 128;
const CORR_HI: usize = 144;
const SCALES: usize = 160;

/// One row tile's accumulators, kept in memory between k-chunks (stored and reloaded unchanged,
/// so chunking does not change a single rounding).
type Acc = [[f32; NR]; MR];

thread_local! {
    /// The packed chunk of the current strip (2 groups × [`KC`] blocks, 22 KiB, reused).
    static PANEL: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Every row tile's accumulators for the current 32-column strip.
    static ACCS: std::cell::RefCell<Vec<Acc>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// AVX-512 VNNI driver (see [`super::GemmFn`]).
///
/// Loop nest: 32-column strips → k-chunks of [`KC`] blocks, each packed into a per-thread
/// buffer that stays in L1 → row tiles of [`MR`] rows over it. Every weight is read from the
/// mapping and packed once per call (as before), but the packed copy never leaves L1. Each output
/// still runs its blocks in order 0..nb: a chunk continues from the previous chunk's
/// accumulators.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C, and the arguments must satisfy
/// the checks of `Kernels::gemm_q8_0_cols`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn gemm_cols(
    qa: &QuantizedActivations,
    w: &[BlockQ8_0],
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    let nb = qa.nb();
    let m = qa.m();
    let wp = w.as_ptr().cast::<u8>();
    // Per-thread buffers, taken out for the call (no closure runs kernel code).
    let mut panel = PANEL.with(|p| p.take());
    let mut accs = ACCS.with(|a| a.take());
    accs.resize(m.div_ceil(MR), [[0.0; NR]; MR]);
    panel.resize(2 * KC.min(nb) * GB, 0);
    let mut c0 = n0;
    while c0 < n1 {
        let cols = NR.min(n1 - c0);
        let mut kb = 0;
        while kb < nb {
            let kend = (kb + KC).min(nb);
            let len = (kend - kb) * GB;
            for g in 0..2 {
                // Columns past the range repeat the last one (their outputs are not stored).
                let cs: [usize; 16] = std::array::from_fn(|j| (c0 + g * 16 + j).min(n1 - 1));
                // SAFETY: every column index is < n1 <= n; the buffer holds 2 × KC blocks.
                unsafe { pack_group(wp, nb, &cs, kb..kend, &mut panel[g * len..(g + 1) * len]) };
            }
            let gp = panel.as_ptr();
            let ntiles = accs.len();
            for (ti, acc) in accs.iter_mut().enumerate() {
                let r0 = ti * MR;
                if kend == nb && ti + Y_AHEAD < ntiles {
                    // SAFETY: the tile's rows are < m and columns c0..c0+cols < n1 <= n.
                    unsafe {
                        prefetch_y(
                            y.as_ptr(),
                            n,
                            r0 + Y_AHEAD * MR..(r0 + (Y_AHEAD + 1) * MR).min(m),
                            c0,
                            cols,
                        )
                    };
                }
                let chunk = Chunk {
                    b0: kb,
                    b1: kend,
                    // The last chunk writes Y (plus bias) straight from the registers.
                    dest: (kend == nb).then(|| Dest {
                        y: y.as_mut_ptr(),
                        n,
                        c0,
                        cols,
                        bias: bias.map(|b| b.as_ptr()),
                    }),
                };
                // SAFETY: rows r0..r0+rows < m; the buffer holds both groups' blocks kb..kend;
                // `dest` covers rows r0..r0+rows and columns c0..c0+cols of the m × n output
                // (and of the bias).
                unsafe {
                    match MR.min(m - r0) {
                        1 => tile::<1>(qa, r0, &chunk, gp, acc),
                        2 => tile::<2>(qa, r0, &chunk, gp, acc),
                        3 => tile::<3>(qa, r0, &chunk, gp, acc),
                        _ => tile::<4>(qa, r0, &chunk, gp, acc),
                    }
                }
            }
            kb = kend;
        }
        c0 += cols;
    }
    PANEL.with(|p| p.replace(panel));
    ACCS.with(|a| a.replace(accs));
}

/// Packs blocks `bs` of 16 W rows: per block, 8 vectors (k-group `t` of the 16 columns, raw i8), then the 16
/// corrections `-128·Σw` of values 0..16 (k-groups 0..4), the 16 of values 16..32 (k-groups
/// 4..8), then the 16 scales as f32.
#[inline(always)]
unsafe fn pack_group(
    w: *const u8,
    nb: usize,
    cols: &[usize; 16],
    bs: std::ops::Range<usize>,
    out: &mut [i32],
) {
    assert!(bs.end <= nb && out.len() >= bs.len() * GB);
    // SAFETY: each column row has nb >= bs.end blocks; `out` holds bs.len() * GB words (checked
    // above).
    unsafe {
        let rows: [*const u8; 16] = cols.map(|c| w.add(c * nb * BLOCK_BYTES));
        let (lo_rows, hi_rows): ([*const u8; 8], [*const u8; 8]) = (
            std::array::from_fn(|j| rows[j]),
            std::array::from_fn(|j| rows[8 + j]),
        );
        let ones = _mm512_set1_epi8(1);
        let zero = _mm512_setzero_si512();
        for b in bs.clone() {
            let mut lo = [_mm256_setzero_si256(); 8];
            let mut hi = [_mm256_setzero_si256(); 8];
            for j in 0..8 {
                lo[j] = _mm256_loadu_si256(lo_rows[j].add(b * BLOCK_BYTES + 2).cast());
                hi[j] = _mm256_loadu_si256(hi_rows[j].add(b * BLOCK_BYTES + 2).cast());
                // The same bytes of the next strip (32 rows on): a strip's rows are short
                // runs (nb × 34 bytes) that the hardware prefetchers barely start on, and at
                // small M the compute between two strips is shorter than a memory miss. A
                // prefetch never faults, so one past the end of W is harmless.
                let ahead = 2 * 16 * nb * BLOCK_BYTES + b * BLOCK_BYTES;
                _mm_prefetch::<_MM_HINT_T1>(lo_rows[j].wrapping_add(ahead).cast());
                _mm_prefetch::<_MM_HINT_T1>(hi_rows[j].wrapping_add(ahead).cast());
            }
            let (tl, th) = (transpose8(lo), transpose8(hi));
            let dst = out.as_mut_ptr().add((b - bs.start) * GB);
            let mut sum = [zero; 2];
            for t in 0..8 {
                let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(tl[t]), th[t]);
                _mm512_storeu_si512(dst.add(t * 16).cast(), v);
                sum[t / 4] = _mm512_dpbusd_epi32(sum[t / 4], ones, v);
            }
            for (h, off) in [CORR_LO, CORR_HI].into_iter().enumerate() {
                let corr = _mm512_sub_epi32(zero, _mm512_slli_epi32::<7>(sum[h]));
                _mm512_storeu_si512(dst.add(off).cast(), corr);
            }
            _mm256_storeu_ps(dst.add(SCALES).cast(), load_scales(&lo_rows, b));
            _mm256_storeu_ps(dst.add(SCALES + 8).cast(), load_scales(&hi_rows, b));
        }
    }
}

/// Where the last k-chunk of a tile writes: columns `c0..c0 + cols` (`cols <= 32`) of the
/// rows of `y` (row stride `n`), plus the bias if any.
struct Dest {
    y: *mut f32,
    n: usize,
    c0: usize,
    cols: usize,
    bias: Option<*const f32>,
}

/// One k-chunk of a tile: blocks `b0..b1`; the first chunk starts from zero, the others from
/// the accumulators the previous one left; the last one (`dest`) writes the output.
struct Chunk {
    b0: usize,
    b1: usize,
    dest: Option<Dest>,
}

/// `R` rows × 32 columns (two packed groups), blocks `chunk.b0..chunk.b1`, canonical order: per
/// block, the exact sum of values 0..16 (k-groups 0..4) folded with `d_x[2b]`, then that of
/// values 16..32 with `d_x[2b+1]`. Partial accumulators live in `out` between chunks; the final
/// store adds the bias (`acc + bias`, one rounding, as `store_tile` does for the other kernels).
#[inline(always)]
unsafe fn tile<const R: usize>(
    qa: &QuantizedActivations,
    r0: usize,
    chunk: &Chunk,
    panel: *const i32,
    out: &mut Acc,
) {
    let (b0, b1) = (chunk.b0, chunk.b1);
    let nb = qa.nb();
    let k = nb * QK8_0;
    // SAFETY: rows r0..r0+R are in bounds; `panel` holds both groups' packed blocks b0..b1
    // (b1 <= nb).
    unsafe {
        let x = qa.qu8.as_ptr().add(r0 * k);
        // Two activation scales per block: row r's scales start at dx + r * 2nb.
        let ns = 2 * nb;
        let dx = qa.d.as_ptr().add(r0 * ns);
        // The buffer holds group 0's blocks b0..b1, then group 1's.
        let g1 = (b1 - b0) * GB;
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        if b0 > 0 {
            for (a, o) in acc.iter_mut().zip(out.iter()) {
                a[0] = _mm512_loadu_ps(o.as_ptr());
                a[1] = _mm512_loadu_ps(o.as_ptr().add(16));
            }
        }
        for b in b0..b1 {
            let p0 = panel.add((b - b0) * GB);
            let p1 = panel.add(g1 + (b - b0) * GB);
            let dw0 = _mm512_loadu_ps(p0.add(SCALES).cast());
            let dw1 = _mm512_loadu_ps(p1.add(SCALES).cast());
            // k-groups 0..4 are values 0..16 (scale d_x[2b]), 4..8 are 16..32 (d_x[2b+1]);
            // each half starts from its own offset correction and is folded before the next.
            for (h, corr) in [CORR_LO, CORR_HI].into_iter().enumerate() {
                let c0 = _mm512_loadu_si512(p0.add(corr).cast());
                let c1 = _mm512_loadu_si512(p1.add(corr).cast());
                let mut isum = [[c0, c1]; R];
                for t in 4 * h..4 * h + 4 {
                    let w0 = _mm512_loadu_si512(p0.add(t * 16).cast());
                    let w1 = _mm512_loadu_si512(p1.add(t * 16).cast());
                    for (r, s) in isum.iter_mut().enumerate() {
                        let q = x
                            .add(r * k + b * QK8_0 + 4 * t)
                            .cast::<i32>()
                            .read_unaligned();
                        let xv = _mm512_set1_epi32(q);
                        s[0] = _mm512_dpbusd_epi32(s[0], xv, w0);
                        s[1] = _mm512_dpbusd_epi32(s[1], xv, w1);
                    }
                }
                for (r, a) in acc.iter_mut().enumerate() {
                    let dxr = _mm512_set1_ps(*dx.add(r * ns + 2 * b + h));
                    a[0] = _mm512_fmadd_ps(
                        _mm512_mul_ps(dxr, dw0),
                        _mm512_cvtepi32_ps(isum[r][0]),
                        a[0],
                    );
                    a[1] = _mm512_fmadd_ps(
                        _mm512_mul_ps(dxr, dw1),
                        _mm512_cvtepi32_ps(isum[r][1]),
                        a[1],
                    );
                }
            }
        }
        match &chunk.dest {
            None => {
                for (o, a) in out.iter_mut().zip(acc) {
                    _mm512_storeu_ps(o.as_mut_ptr(), a[0]);
                    _mm512_storeu_ps(o.as_mut_ptr().add(16), a[1]);
                }
            }
            Some(d) => {
                let cols = d.cols as u32;
                let m0: __mmask16 = ((1u32 << cols.min(16)) - 1) as u16;
                let m1: __mmask16 = ((1u32 << cols.saturating_sub(16)) - 1) as u16;
                let (bv0, bv1) = match d.bias {
                    Some(b) => (
                        _mm512_maskz_loadu_ps(m0, b.add(d.c0)),
                        _mm512_maskz_loadu_ps(m1, b.add(d.c0 + 16)),
                    ),
                    None => (_mm512_setzero_ps(), _mm512_setzero_ps()),
                };
                for (r, a) in acc.iter().enumerate() {
                    let (mut v0, mut v1) = (a[0], a[1]);
                    if d.bias.is_some() {
                        v0 = _mm512_add_ps(v0, bv0);
                        v1 = _mm512_add_ps(v1, bv1);
                    }
                    let yr = d.y.add((r0 + r) * d.n + d.c0);
                    _mm512_mask_storeu_ps(yr, m0, v0);
                    _mm512_mask_storeu_ps(yr.add(16), m1, v1);
                }
            }
        }
    }
}
