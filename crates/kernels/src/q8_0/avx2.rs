//! AVX2 Q8_0 matmul (no VNNI): `vpmaddubsw` with the sign trick on a per-call packed W.
//!
//! For each L2-sized column block, W is packed into a per-thread panel: per group of 8 W rows and
//! per block, an 8×8 transpose of 32-bit words makes vector `t` hold bytes `4t..4t+4` of the 8
//! columns (raw i8, 32 bytes: the panel is as large as the weights), followed by the 8 scales as
//! f32. The micro-kernel (4 rows × 16 columns, two groups sharing each x broadcast) broadcasts 4
//! bytes of x per row and, per (row, group, k-group), issues `vpsignb` (w's signs onto x),
//! `vpmaddubsw(|w|, ±x)` (pair sums ≤ 2·128·127: no saturation, exact for w = -128), `vpmaddwd`
//! by ones and `vpaddd`. After 8 k-groups each i32 lane is one column's exact block sum, folded
//! into f32 in the canonical order of [`super`]: no horizontal reductions.
//!
//! Measured on the Zen 3 development machine (details in docs/KERNELS.md): dot products on the
//! unpacked mmap with a transpose-reduce tree per block reached 32–39 GOPS; packed i16 pairs with
//! `vpmaddwd` tied with this kernel (~50–80 GOPS) and lost on memory (twice the scratch and
//! panel); recomputing `|w|` per k-group (half the panel traffic) beat storing it by ~10 %; 4×16
//! and 6×8 tiles are within 5 % (4×16 kept: one broadcast per two groups). The sequence itself
//! peaks at ~130 GOPS on Zen 3: `vpsignb` costs a third of the ~196 GOPS `vpmaddubsw`+`vpmaddwd`
//! peak.

use std::arch::x86_64::*;

use super::QuantizedActivations;
use crate::block::{BlockQ8_0, QK8_0};
use crate::tiling::{L2_WEIGHT_BUDGET, Tile, store_tile};

const MR: usize = 4;
const NR: usize = 16;
const BLOCK_BYTES: usize = std::mem::size_of::<BlockQ8_0>();

/// AVX2 driver (see [`super::GemmFn`]).
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
    // Column blocks sized so their packed panel (64 bytes per weight block) fits the L2 budget.
    // Column blocks sized so their packed panel (36 bytes per weight block) fits the L2 budget.
    let nc = (L2_WEIGHT_BUDGET / (nb * GB * 4 / 8)).max(NR) / NR * NR;
    // The panel lives in a per-thread buffer that is taken out (no closure runs kernel code).
    let mut panel = PANEL.with(|p| p.take());
    let mut jc = n0;
    while jc < n1 {
        let jend = (jc + nc).min(n1);
        let groups = (jend - jc).div_ceil(NR) * 2;
        panel.resize(groups * nb * GB, 0);
        for g in 0..groups {
            let cols: [usize; 8] = std::array::from_fn(|j| (jc + g * 8 + j).min(jend - 1));
            // SAFETY: every column index is < jend <= n; the panel holds `groups` groups.
            unsafe { pack_group(wp, nb, &cols, &mut panel[g * nb * GB..(g + 1) * nb * GB]) };
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
                    cols: NR.min(jend - c0),
                };
                let gp = panel[(c0 - jc) / 8 * nb * GB..].as_ptr();
                let mut out = [[0.0f32; NR]; MR];
                // SAFETY: rows r0..r0+rows < m; group (c0-jc)/8 exists in the panel.
                unsafe {
                    match rows {
                        1 => tile::<1>(qa, r0, nb, gp, &mut out),
                        2 => tile::<2>(qa, r0, nb, gp, &mut out),
                        3 => tile::<3>(qa, r0, nb, gp, &mut out),
                        _ => tile::<4>(qa, r0, nb, gp, &mut out),
                    }
                }
                store_tile(&out, t, n, bias, y);
                c0 += t.cols;
            }
            r0 += rows;
        }
        jc = jend;
    }
    PANEL.with(|p| p.replace(panel));
}

thread_local! {
    /// Packed weight panel of the current column block (grows once per thread, then reused).
    static PANEL: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// i32 words per packed (8-column group, block): 8 k-groups × 8 columns of raw `w`, then the
/// 8 scales as f32.
const GB: usize = 64 + 8;
const SCALES: usize = 64;

/// Packs 8 W rows (`cols`): per block, vector `t` holds bytes `4t..4t+4` of the 8 columns.
#[inline(always)]
unsafe fn pack_group(w: *const u8, nb: usize, cols: &[usize; 8], out: &mut [i32]) {
    assert!(out.len() >= nb * GB);
    // SAFETY: each column row has nb blocks; `out` holds nb * GB words (checked above).
    unsafe {
        let rows: [*const u8; 8] = cols.map(|c| w.add(c * nb * BLOCK_BYTES));
        for b in 0..nb {
            let mut r = [_mm256_setzero_si256(); 8];
            for (j, rj) in r.iter_mut().enumerate() {
                *rj = _mm256_loadu_si256(rows[j].add(b * BLOCK_BYTES + 2).cast());
            }
            let dst = out.as_mut_ptr().add(b * GB);
            for (t, v) in transpose8(r).iter().enumerate() {
                _mm256_storeu_si256(dst.add(t * 8).cast(), *v);
            }
            _mm256_storeu_ps(dst.add(SCALES).cast(), load_scales(&rows, b));
        }
    }
}

/// 8×8 transpose of 32-bit elements: `out[t][j] = r[j][t]`.
#[inline(always)]
pub(super) unsafe fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
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

/// `R` rows × 16 columns (two groups): per 4-byte k-group, `vpsignb` moves w's signs onto the broadcast x,
/// `vpmaddubsw(|w|, ±x)` (pairs ≤ 2·128·127, no saturation), `vpmaddwd` by ones and `vpaddd`;
/// each i32 lane ends the block as one column's exact sum.
#[inline(always)]
unsafe fn tile<const R: usize>(
    qa: &QuantizedActivations,
    r0: usize,
    nb: usize,
    panel: *const i32,
    out: &mut [[f32; NR]; MR],
) {
    let k = nb * QK8_0;
    // SAFETY: rows r0..r0+R are in bounds; `panel` covers one group of nb packed blocks.
    unsafe {
        let x = qa.qs.as_ptr().add(r0 * k);
        let dx = qa.d.as_ptr().add(r0 * nb);
        let ones = _mm256_set1_epi16(1);
        let g1 = nb * GB;
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for b in 0..nb {
            let p0 = panel.add(b * GB);
            let p1 = panel.add(g1 + b * GB);
            let mut isum = [[_mm256_setzero_si256(); 2]; R];
            for t in 0..8 {
                let w0 = _mm256_loadu_si256(p0.add(t * 8).cast());
                let w1 = _mm256_loadu_si256(p1.add(t * 8).cast());
                let (a0, a1) = (_mm256_abs_epi8(w0), _mm256_abs_epi8(w1));
                for (r, s) in isum.iter_mut().enumerate() {
                    let q = x
                        .add(r * k + b * QK8_0 + 4 * t)
                        .cast::<i32>()
                        .read_unaligned();
                    let xv = _mm256_set1_epi32(q);
                    let p0 = _mm256_maddubs_epi16(a0, _mm256_sign_epi8(xv, w0));
                    let p1 = _mm256_maddubs_epi16(a1, _mm256_sign_epi8(xv, w1));
                    s[0] = _mm256_add_epi32(s[0], _mm256_madd_epi16(p0, ones));
                    s[1] = _mm256_add_epi32(s[1], _mm256_madd_epi16(p1, ones));
                }
            }
            let dw0 = _mm256_loadu_ps(p0.add(SCALES).cast());
            let dw1 = _mm256_loadu_ps(p1.add(SCALES).cast());
            for (r, a) in acc.iter_mut().enumerate() {
                let dxr = _mm256_set1_ps(*dx.add(r * nb + b));
                a[0] = _mm256_fmadd_ps(
                    _mm256_mul_ps(dxr, dw0),
                    _mm256_cvtepi32_ps(isum[r][0]),
                    a[0],
                );
                a[1] = _mm256_fmadd_ps(
                    _mm256_mul_ps(dxr, dw1),
                    _mm256_cvtepi32_ps(isum[r][1]),
                    a[1],
                );
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            _mm256_storeu_ps(o.as_mut_ptr(), a[0]);
            _mm256_storeu_ps(o.as_mut_ptr().add(8), a[1]);
        }
    }
}
