//! AVX-512 float matmul micro-kernel: the 16 canonical lanes are one zmm; masked loads for the
//! K tail.
//!
//! Tile: `MR = 4` rows × `NR = 4` columns = 16 zmm accumulators (of 32), enough independent FMA
//! chains for two 512-bit FMA pipes. A full tile's 16 accumulators are summed together
//! ([`hsum16`]: 30 shuffles and 15 adds instead of 16 × 8 for one at a time); at width 128 the
//! one-at-a-time sums took about a third of the matmul's time (perf, tiny-reranker f32).

use std::arch::x86_64::*;

use super::driver::{self, Lanes16};
use super::{FloatGemm, WT_F16, WT_F32};

const MR: usize = 4;
const NR: usize = 4;

/// AVX-512 float matmul (see [`super::GemmFn`]).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL, AVX2, FMA and F16C, and the arguments must satisfy the
/// checks of `Kernels::gemm_float_cols`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
pub(crate) unsafe fn gemm_cols(p: &FloatGemm<'_>, y: &mut [f32]) {
    // SAFETY: forwarded contract; these features are the ones `Zmm` needs.
    unsafe { driver::gemm_cols::<Zmm, MR, NR>(p, y) }
}

/// One zmm: lanes 0..16 in order.
#[derive(Clone, Copy)]
struct Zmm(__m512);

/// Mask of the first `len < 16` lanes.
#[inline(always)]
fn first(len: usize) -> __mmask16 {
    ((1u32 << len) - 1) as __mmask16
}

/// Up to 16 weights at element `i`, as f32; lanes outside `mask` read nothing and are zero.
#[inline(always)]
unsafe fn load_w_masked<const WT: u8>(p: *const u8, i: usize, mask: __mmask16) -> __m512 {
    // SAFETY: the caller guarantees the masked-in elements are valid; masked-out lanes are not
    // accessed. AVX-512F/BW are enabled.
    unsafe {
        match WT {
            WT_F32 => _mm512_maskz_loadu_ps(mask, p.cast::<f32>().add(i)),
            WT_F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p.cast::<i16>().add(i))),
            _ => {
                let h = _mm256_maskz_loadu_epi16(mask, p.cast::<i16>().add(i));
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
        }
    }
}

// SAFETY: every method uses AVX-512F/BW (and F16C-class conversions), enabled in `gemm_cols`,
// the only caller.
unsafe impl Lanes16 for Zmm {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX-512F enabled (trait contract).
        Zmm(unsafe { _mm512_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn load_x(p: *const f32) -> Self {
        // SAFETY: 16 readable floats (caller).
        Zmm(unsafe { _mm512_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn load_w<const WT: u8>(p: *const u8, i: usize) -> Self {
        // SAFETY: 16 readable elements at `i` (caller).
        Zmm(unsafe { load_w_masked::<WT>(p, i, 0xFFFF) })
    }
    #[inline(always)]
    unsafe fn load_x_part(p: *const f32, len: usize) -> Self {
        // SAFETY: `len` readable floats; the masked-out lanes are not accessed.
        Zmm(unsafe { _mm512_maskz_loadu_ps(first(len), p) })
    }
    #[inline(always)]
    unsafe fn load_w_part<const WT: u8>(p: *const u8, i: usize, len: usize) -> Self {
        // SAFETY: `len` readable elements at `i`; the masked-out lanes are not accessed.
        Zmm(unsafe { load_w_masked::<WT>(p, i, first(len)) })
    }
    #[inline(always)]
    unsafe fn fma(self, x: Self, w: Self) -> Self {
        // SAFETY: AVX-512F enabled.
        Zmm(unsafe { _mm512_fmadd_ps(x.0, w.0, self.0) })
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        // SAFETY: AVX-512F and AVX enabled. h8 = lanes 0..8 + 8..16, then the ymm tree.
        unsafe {
            let v = self.0;
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            super::avx2::hsum8(_mm256_add_ps(lo, hi))
        }
    }
    #[inline(always)]
    unsafe fn hsum_tile<const R: usize, const MR: usize, const NR: usize>(
        acc: &[[Self; NR]; R],
        out: &mut [[f32; NR]; MR],
    ) {
        // SAFETY: AVX-512F enabled (trait contract).
        unsafe {
            if R == 4 && NR == 4 && MR >= 4 {
                let mut v = [_mm512_setzero_ps(); 16];
                for r in 0..4 {
                    for c in 0..4 {
                        v[4 * r + c] = acc[r][c].0;
                    }
                }
                let mut sums = [0.0f32; 16];
                _mm512_storeu_ps(sums.as_mut_ptr(), hsum16(&v));
                for r in 0..4 {
                    for c in 0..4 {
                        out[r][c] = sums[4 * c + r];
                    }
                }
            } else {
                for (o, ar) in out.iter_mut().zip(acc) {
                    for j in 0..NR {
                        o[j] = ar[j].hsum();
                    }
                }
            }
        }
    }
}

/// The canonical sums of 16 vectors at once: lane `4j + q` of the result is the tree sum of
/// `v[4q + j]`, each level of the tree one pairwise merge of two vectors that halves the lanes
/// per output: `h8` (256-bit halves), `h4` (128-bit quarters), `h2` and the last add (within
/// each 128-bit block).
#[inline(always)]
unsafe fn hsum16(v: &[__m512; 16]) -> __m512 {
    // SAFETY: AVX-512F enabled in every caller.
    unsafe {
        // u[i]: lanes 0..8 = h8 of v[2i], 8..16 = h8 of v[2i + 1].
        let mut u = [_mm512_setzero_ps(); 8];
        for (i, ui) in u.iter_mut().enumerate() {
            let (a, b) = (v[2 * i], v[2 * i + 1]);
            *ui = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x44>(a, b),
                _mm512_shuffle_f32x4::<0xEE>(a, b),
            );
        }
        // w[i]: 128-bit block j = h4 of v[4i + j].
        let mut w = [_mm512_setzero_ps(); 4];
        for (i, wi) in w.iter_mut().enumerate() {
            let (a, b) = (u[2 * i], u[2 * i + 1]);
            *wi = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x88>(a, b),
                _mm512_shuffle_f32x4::<0xDD>(a, b),
            );
        }
        // x[i]: block j = (h2 of v[8i + j], h2 of v[8i + 4 + j]).
        let mut x = [_mm512_setzero_ps(); 2];
        for (i, xi) in x.iter_mut().enumerate() {
            let (a, b) = (w[2 * i], w[2 * i + 1]);
            *xi = _mm512_add_ps(
                _mm512_shuffle_ps::<0x44>(a, b),
                _mm512_shuffle_ps::<0xEE>(a, b),
            );
        }
        // Block j = the sums of v[j], v[4 + j], v[8 + j], v[12 + j].
        _mm512_add_ps(
            _mm512_shuffle_ps::<0x88>(x[0], x[1]),
            _mm512_shuffle_ps::<0xDD>(x[0], x[1]),
        )
    }
}
