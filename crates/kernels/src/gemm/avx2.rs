//! AVX2 + FMA float matmul micro-kernel: the 16 canonical lanes are two ymm (lanes 0..8 and
//! 8..16); F16 weights widened with F16C (`vcvtph2ps`), BF16 by a shift.
//!
//! Tile: `MR = 2` rows × `NR = 3` columns = 12 ymm accumulators (two per output), plus the
//! weight and X registers: 12 independent FMA chains (2 FMA/cycle × 4 cycles latency = 8 in
//! flight). Per 16-wide K step: 4 X loads + 6 W loads for 12 FMAs.

use std::arch::x86_64::*;

use super::driver::{self, Lanes16};
use super::{FloatGemm, WT_F16, WT_F32};

const MR: usize = 2;
const NR: usize = 3;

/// AVX2 float matmul (see [`super::GemmFn`]).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and the arguments must satisfy the checks of
/// `Kernels::gemm_float_cols`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn gemm_cols(p: &FloatGemm<'_>, y: &mut [f32]) {
    // SAFETY: forwarded contract; these features are the ones `Ymm2` needs.
    unsafe { driver::gemm_cols::<Ymm2, MR, NR>(p, y) }
}

/// Two ymm: lanes 0..8, then 8..16.
#[derive(Clone, Copy)]
struct Ymm2([__m256; 2]);

/// Eight weights of format `WT` at element `i`, widened to f32.
#[inline(always)]
unsafe fn load_w8<const WT: u8>(p: *const u8, i: usize) -> __m256 {
    // SAFETY: the caller guarantees 8 valid elements at `i`; AVX2/F16C are enabled.
    unsafe {
        match WT {
            WT_F32 => _mm256_loadu_ps(p.cast::<f32>().add(i)),
            WT_F16 => _mm256_cvtph_ps(_mm_loadu_si128(p.cast::<u16>().add(i).cast())),
            _ => {
                let h = _mm_loadu_si128(p.cast::<u16>().add(i).cast());
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
            }
        }
    }
}

/// The canonical tree from `h8` (lanes `s[l] + s[l + 8]`): `h4[l] = h8[l] + h8[l + 4]` (the two
/// halves), `h2[l] = h4[l] + h4[l + 2]` (`movehl`), then `h2[0] + h2[1]` (`movehdup`).
#[inline(always)]
pub(super) unsafe fn hsum8(h8: __m256) -> f32 {
    // SAFETY: AVX is enabled in every caller.
    unsafe {
        let h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps::<1>(h8));
        let h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
        _mm_cvtss_f32(_mm_add_ss(h2, _mm_movehdup_ps(h2)))
    }
}

// SAFETY: every method uses AVX2/FMA/F16C, enabled in `gemm_cols`, the only caller.
unsafe impl Lanes16 for Ymm2 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX enabled (trait contract).
        Ymm2(unsafe { [_mm256_setzero_ps(); 2] })
    }
    #[inline(always)]
    unsafe fn load_x(p: *const f32) -> Self {
        // SAFETY: 16 readable floats (caller).
        Ymm2(unsafe { [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))] })
    }
    #[inline(always)]
    unsafe fn load_w<const WT: u8>(p: *const u8, i: usize) -> Self {
        // SAFETY: 16 readable elements at `i` (caller).
        Ymm2(unsafe { [load_w8::<WT>(p, i), load_w8::<WT>(p, i + 8)] })
    }
    #[inline(always)]
    unsafe fn fma(self, x: Self, w: Self) -> Self {
        // SAFETY: FMA enabled.
        Ymm2(unsafe {
            [
                _mm256_fmadd_ps(x.0[0], w.0[0], self.0[0]),
                _mm256_fmadd_ps(x.0[1], w.0[1], self.0[1]),
            ]
        })
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        // SAFETY: AVX enabled.
        unsafe { hsum8(_mm256_add_ps(self.0[0], self.0[1])) }
    }
}
