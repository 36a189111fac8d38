//! AVX2 Q8_0 matmul (no VNNI): `vpmaddubsw` with the sign trick on a per-call packed W.
//!
//! W is packed per call, one 16-column strip × 32-block chunk at a time, into an L1-sized
//! per-thread buffer (see [`gemm_cols`]): per group of 8 W rows and per block, an 8×8 transpose of 32-bit words makes vector `t` hold bytes `4t..4t+4` of the 8
//! columns (raw i8, 32 bytes: the panel is as large as the weights), followed by the 8 scales as
//! f32. The micro-kernel (4 rows × 16 columns, computed as two passes of 4 rows × one 8-column
//! group over the whole K, x staying in L1) broadcasts 4 bytes of x per row and, per (row,
//! k-group), issues `vpsignb` (w's signs onto x),
//! `vpmaddubsw(|w|, ±x)` (pair sums ≤ 2·128·127: no saturation, exact for w = -128), `vpmaddwd`
//! by ones and `vpaddd`. After k-groups 0..4 (values 0..16) each i32 lane is one column's exact
//! `s_lo`, folded into f32 with `d_x[2b]`; k-groups 4..8 likewise give `s_hi` and `d_x[2b+1]`:
//! the canonical order of [`super`], no horizontal reductions.
//!
//! Measured on the Zen 3 development machine (details in docs/KERNELS.md): dot products on the
//! unpacked mmap with a transpose-reduce tree per block reached 32–39 GOPS; packed i16 pairs with
//! `vpmaddwd` tied with this kernel (~50–80 GOPS) and lost on memory (twice the scratch and
//! panel); recomputing `|w|` per k-group (half the panel traffic) beat storing it by ~10 %; 4×16
//! and 6×8 tiles are within 5 %. With two activation scales per block (a fold into f32 after every
//! 4 k-groups) the two-groups-at-once form (8 f32 + 8 i32 accumulators) spilled accumulators and
//! weights twice per block and lost ~25 %; one group per pass (4 + 4 accumulators, no spills)
//! costs ~8 % against the single-scale kernel, and 5 rows per pass was no faster. The sequence
//! itself peaks at ~130 GOPS on Zen 3: `vpsignb` costs a third of the ~196 GOPS
//! `vpmaddubsw`+`vpmaddwd` peak.

use std::arch::x86_64::*;

use super::QuantizedActivations;
use crate::block::{BlockQ8_0, QK8_0};

/// This tier's Q8_0 kernels.
pub(crate) const TABLE: super::Table = super::Table {
    gemm: gemm_cols,
    quantize_halves,
    quantize_blocks,
};

target_fns!("avx2,fma,f16c";
    quantize_halves(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32])
        => super::quantize::quantize_halves;
    quantize_blocks(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32])
        => super::quantize::quantize_blocks;
);

const MR: usize = 4;
const NR: usize = 16;
/// Blocks per k-chunk: a 16-column strip's packed chunk (`KC × 576` bytes = 18 KiB) is packed
/// just before use and stays in L1 while every row tile runs over it (the structure of
/// `avx512.rs`).
const KC: usize = 32;
const BLOCK_BYTES: usize = std::mem::size_of::<BlockQ8_0>();

/// One row tile's accumulators, kept in memory between k-chunks (stored and reloaded unchanged,
/// so chunking does not change a single rounding).
type Acc = [[f32; NR]; MR];

/// AVX2 driver (see [`super::GemmFn`]).
///
/// Loop nest: 16-column strips → k-chunks of [`KC`] blocks, each packed into a per-thread
/// buffer that stays in L1 → row tiles of [`MR`] rows over it. Each output still runs its
/// blocks in order 0..nb: a chunk continues from the previous chunk's accumulators.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and the arguments must satisfy the checks of
/// `Kernels::gemm_q8_0_cols` (`w.len() == n * nb`, `y.len() == m * n`, `n0 <= n1 <= n`,
/// `bias.len() == n`).
#[target_feature(enable = "avx2,fma,f16c")]
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
                let cs: [usize; 8] = std::array::from_fn(|j| (c0 + g * 8 + j).min(n1 - 1));
                // SAFETY: every column index is < n1 <= n; the buffer holds 2 × KC blocks.
                unsafe { pack_group(wp, nb, &cs, kb..kend, &mut panel[g * len..(g + 1) * len]) };
            }
            let gp = panel.as_ptr();
            let ntiles = accs.len();
            // The last chunk writes Y (plus bias) straight from the registers.
            let dest = (kend == nb).then(|| Dest {
                y: y.as_mut_ptr(),
                n,
                c0,
                cols,
                bias: bias.map(|b| b.as_ptr()),
            });
            for (ti, acc) in accs.iter_mut().enumerate() {
                let r0 = ti * MR;
                if dest.is_some() && ti + Y_AHEAD < ntiles {
                    let ahead = r0 + Y_AHEAD * MR..(r0 + (Y_AHEAD + 1) * MR).min(m);
                    // SAFETY: the rows are < m and columns c0..c0+cols < n1 <= n.
                    unsafe { prefetch_y(y.as_ptr(), n, ahead, c0, cols) };
                }
                let d = dest.as_ref();
                // SAFETY: rows r0..r0+rows < m; the buffer holds both groups' blocks kb..kend;
                // `d` covers rows r0..r0+rows and columns c0..c0+cols of the m × n output (and
                // of the bias).
                unsafe {
                    match MR.min(m - r0) {
                        1 => tile::<1>(qa, r0, kb, kend, gp, acc, d),
                        2 => tile::<2>(qa, r0, kb, kend, gp, acc, d),
                        3 => tile::<3>(qa, r0, kb, kend, gp, acc, d),
                        _ => tile::<4>(qa, r0, kb, kend, gp, acc, d),
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

thread_local! {
    /// The packed chunk of the current strip (2 groups × [`KC`] blocks, 18 KiB, reused).
    static PANEL: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Every row tile's accumulators for the current 16-column strip.
    static ACCS: std::cell::RefCell<Vec<Acc>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The last k-chunk of a tile prefetches the Y lines of the tile this many tiles ahead (both
/// x86 drivers). A strip's tiles write at most 128 bytes in each of their rows, a row apart
/// (n · 4 bytes: a new page per row at MiniLM's n ≥ 1152), a pattern the hardware prefetchers
/// do not follow, so each line's read-for-ownership was a demand miss. Measured (AVX-512, M =
/// 824, warm, under load): 228 / 203 GOPS at N = 1152 / 1536, where Y outgrows L2, against 303
/// at N = 384; distances 1–4 came out alike, 2 is kept (docs/PERFORMANCE.md, "Q8_0 matmul: Y
/// prefetch and direct AVX2 stores").
pub(super) const Y_AHEAD: usize = 2;

/// Prefetches into L1 the Y lines that `rows` write at columns `c0..c0 + cols`
/// (`1 <= cols <= 32`: at most 128 bytes, over up to three lines).
///
/// # Safety
/// `y` must point at an output of row stride `n` holding `rows`, and `c0 + cols <= n`.
#[inline(always)]
pub(super) unsafe fn prefetch_y(
    y: *const f32,
    n: usize,
    rows: std::ops::Range<usize>,
    c0: usize,
    cols: usize,
) {
    // SAFETY: every address is inside the output (the caller's contract); a prefetch never
    // faults anyway.
    unsafe {
        for r in rows {
            let p = y.add(r * n + c0);
            _mm_prefetch::<_MM_HINT_T0>(p.cast());
            _mm_prefetch::<_MM_HINT_T0>(p.add(16.min(cols - 1)).cast());
            _mm_prefetch::<_MM_HINT_T0>(p.add(cols - 1).cast());
        }
    }
}

/// Where the last k-chunk of a tile writes: columns `c0..c0 + cols` (`cols <= 16`) of the rows
/// of `y` (row stride `n`), plus the bias if any.
struct Dest {
    y: *mut f32,
    n: usize,
    c0: usize,
    cols: usize,
    bias: Option<*const f32>,
}

/// i32 words per packed (8-column group, block): 8 k-groups × 8 columns of raw `w`, then the
/// 8 scales as f32.
const GB: usize = 64 + 8;
const SCALES: usize = 64;

/// Packs blocks `bs` of 8 W rows (`cols`): per block, vector `t` holds bytes `4t..4t+4` of the 8 columns.
#[inline(always)]
unsafe fn pack_group(
    w: *const u8,
    nb: usize,
    cols: &[usize; 8],
    bs: std::ops::Range<usize>,
    out: &mut [i32],
) {
    assert!(bs.end <= nb && out.len() >= bs.len() * GB);
    // SAFETY: each column row has nb >= bs.end blocks; `out` holds bs.len() * GB words (checked
    // above).
    unsafe {
        let rows: [*const u8; 8] = cols.map(|c| w.add(c * nb * BLOCK_BYTES));
        for b in bs.clone() {
            let mut r = [_mm256_setzero_si256(); 8];
            for (j, rj) in r.iter_mut().enumerate() {
                *rj = _mm256_loadu_si256(rows[j].add(b * BLOCK_BYTES + 2).cast());
                // The same bytes of the next strip (16 rows on; see `avx512.rs`). A prefetch
                // never faults, so one past the end of W is harmless.
                let ahead = 2 * 8 * nb * BLOCK_BYTES + b * BLOCK_BYTES;
                _mm_prefetch::<_MM_HINT_T1>(rows[j].wrapping_add(ahead).cast());
            }
            let dst = out.as_mut_ptr().add((b - bs.start) * GB);
            for (t, v) in transpose8(r).iter().enumerate() {
                _mm256_storeu_si256(dst.add(t * 8).cast(), *v);
            }
            _mm256_storeu_ps(dst.add(SCALES).cast(), load_scales(&rows, b));
        }
    }
}

/// 8×8 transpose of 32-bit elements: `out[t][j] = r[j][t]`.
#[inline(always)]
pub(crate) unsafe fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
    // SAFETY: AVX2 is enabled in every caller.
    unsafe {
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
        let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
        let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }
}

/// The eight columns' f16 scales of block `b`, as f32.
#[inline(always)]
pub(super) unsafe fn load_scales(wrow: &[*const u8; 8], b: usize) -> __m256 {
    // SAFETY: each `wrow[j]` points at a W row of `nb > b` blocks; `d` is the block's first two
    // bytes (unaligned: blocks are 34 bytes). F16C is enabled in every caller.
    unsafe {
        let ds: [u16; 8] =
            std::array::from_fn(|j| wrow[j].add(b * BLOCK_BYTES).cast::<u16>().read_unaligned());
        _mm256_cvtph_ps(_mm_loadu_si128(ds.as_ptr().cast()))
    }
}

/// `R` rows × 16 columns (two groups, one after the other), blocks `b0..b1`, continuing from
/// the accumulators in `out`: per 4-byte k-group, `vpsignb` moves w's signs onto the broadcast
/// x, `vpmaddubsw(|w|, ±x)` (pairs ≤ 2·128·127, no saturation), `vpmaddwd` by ones and `vpaddd`;
/// after k-groups 0..4 (values 0..16) and again after 4..8 (values 16..32) each i32 lane is one
/// column's exact half-block sum, folded with that half's activation scale. Partial
/// accumulators live in `out` between chunks; the last chunk (`dest`) writes `acc + bias` (one
/// rounding, as `store_tile` does for the other kernels) straight into Y.
#[inline(always)]
unsafe fn tile<const R: usize>(
    qa: &QuantizedActivations,
    r0: usize,
    b0: usize,
    b1: usize,
    panel: *const i32,
    out: &mut Acc,
    dest: Option<&Dest>,
) {
    let nb = qa.nb();
    let k = nb * QK8_0;
    // SAFETY: rows r0..r0+R are in bounds; `panel` holds both groups' packed blocks b0..b1.
    unsafe {
        let x = qa.qs.as_ptr().add(r0 * k);
        // Two activation scales per block: row r's scales start at dx + r * 2nb.
        let ns = 2 * nb;
        let dx = qa.d.as_ptr().add(r0 * ns);
        // One 8-column group at a time (R f32 + R i32 accumulators: no spills), both groups of
        // the tile reusing the rows of x from L1.
        for g in 0..2 {
            // The buffer holds group 0's blocks b0..b1, then group 1's.
            let pg = panel.add(g * (b1 - b0) * GB);
            let mut acc = [_mm256_setzero_ps(); R];
            if b0 > 0 {
                for (a, o) in acc.iter_mut().zip(out.iter()) {
                    *a = _mm256_loadu_ps(o.as_ptr().add(8 * g));
                }
            }
            for b in b0..b1 {
                let p = pg.add((b - b0) * GB);
                let xb = x.add(b * QK8_0);
                // Values 0..16 (k-groups 0..4) with d_x[2b], then 16..32 (k-groups 4..8) with
                // d_x[2b+1]: each half's exact sums are folded into f32 before the next starts.
                let lo = half_sums::<R, 0>(xb, k, p);
                fold::<R>(&mut acc, &lo, dx.add(2 * b), ns, p);
                let hi = half_sums::<R, 1>(xb, k, p);
                fold::<R>(&mut acc, &hi, dx.add(2 * b + 1), ns, p);
            }
            match dest {
                None => {
                    for (o, a) in out.iter_mut().zip(acc) {
                        _mm256_storeu_ps(o.as_mut_ptr().add(8 * g), a);
                    }
                }
                Some(d) => store_group(d, r0, g, &acc),
            }
        }
    }
}

/// Writes one finished 8-column group `g` of `R` rows (from row `r0`) into Y, adding the bias:
/// whole groups with plain stores, the strip's last partial group with masked ones.
///
/// # Safety
/// `d` must cover rows `r0..r0 + R` and columns `d.c0..d.c0 + d.cols` of its output (and of the
/// bias); AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn store_group<const R: usize>(d: &Dest, r0: usize, g: usize, acc: &[__m256; R]) {
    let live = d.cols.saturating_sub(8 * g).min(8);
    if live == 0 {
        return;
    }
    let c = d.c0 + 8 * g;
    // SAFETY: columns c..c+live and rows r0..r0+R are inside the output and the bias (the
    // caller's contract); masked lanes are neither read nor written.
    unsafe {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(live as i32), lanes);
        let bv = d.bias.map(|b| _mm256_maskload_ps(b.add(c), mask));
        for (r, &a) in acc.iter().enumerate() {
            let v = match bv {
                Some(bv) => _mm256_add_ps(a, bv),
                None => a,
            };
            let yr = d.y.add((r0 + r) * d.n + c);
            if live == 8 {
                _mm256_storeu_ps(yr, v);
            } else {
                _mm256_maskstore_ps(yr, mask, v);
            }
        }
    }
}

/// Exact sums over values `16H..16H + 16` (k-groups `4H..4H + 4`) of one block for `R` rows × one
/// 8-column group: `x` points at the block in row 0 (row stride `k`), `p` at the group's packed
/// block.
#[inline(always)]
unsafe fn half_sums<const R: usize, const H: usize>(
    x: *const i8,
    k: usize,
    p: *const i32,
) -> [__m256i; R] {
    // SAFETY: the caller guarantees R rows of a block at `x` and a packed block at `p`; AVX2 is
    // enabled in every caller.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut isum = [_mm256_setzero_si256(); R];
        for t in 4 * H..4 * H + 4 {
            let w = _mm256_loadu_si256(p.add(t * 8).cast());
            let aw = _mm256_abs_epi8(w);
            for (r, s) in isum.iter_mut().enumerate() {
                let q = x.add(r * k + 4 * t).cast::<i32>().read_unaligned();
                let xv = _mm256_set1_epi32(q);
                let m = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, w));
                *s = _mm256_add_epi32(*s, _mm256_madd_epi16(m, ones));
            }
        }
        isum
    }
}

/// `acc[r] = fma(d_x · d_w, sums as f32, acc[r])` for one half-block: `dx` points at row 0's
/// scale of this half (row stride `ns`), the weight scales are read from the packed block `p`.
#[inline(always)]
unsafe fn fold<const R: usize>(
    acc: &mut [__m256; R],
    isum: &[__m256i; R],
    dx: *const f32,
    ns: usize,
    p: *const i32,
) {
    // SAFETY: R rows of scales at `dx`; the packed block holds its scales at SCALES.
    unsafe {
        let dw = _mm256_loadu_ps(p.add(SCALES).cast());
        for (r, a) in acc.iter_mut().enumerate() {
            let dxr = _mm256_set1_ps(*dx.add(r * ns));
            *a = _mm256_fmadd_ps(_mm256_mul_ps(dxr, dw), _mm256_cvtepi32_ps(isum[r]), *a);
        }
    }
}
