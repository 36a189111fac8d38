//! AVX-512 attention: one zmm per [`Lanes`] vector.
//!
//! Tile: 4 query rows × 4 score vectors (64 keys, one whole key tile) = 16 zmm accumulators for
//! `Q·Kᵀ` (per head dim 4 panel loads + 4 broadcasts for 16 FMAs), and 4 rows × 4 output vectors
//! for `P·V`: enough independent chains for two FMA pipes, ~21 of 32 registers.

use std::arch::x86_64::*;

use super::AttentionParams;
use super::blocked;
use super::lanes::{L, Lanes};

#[derive(Clone, Copy)]
pub(crate) struct Zmm(__m512);

// SAFETY: used only inside `attention` below, which enables AVX-512 F; pointer contracts are the
// callers'.
unsafe impl Lanes for Zmm {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_setzero_ps()) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_set1_ps(x)) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: 16 readable floats per the caller.
        Zmm(unsafe { _mm512_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: 16 writable floats per the caller.
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_fmadd_ps(a.0, b.0, c.0)) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_mul_ps(self.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_add_ps(self.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_sub_ps(self.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_max_ps(self.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn fnma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_fnmadd_ps(a.0, b.0, c.0)) }
    }
    #[inline(always)]
    unsafe fn keep_ge(self, a: Self, b: Self, other: Self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe {
            Zmm(_mm512_mask_mov_ps(
                other.0,
                _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a.0, b.0),
                self.0,
            ))
        }
    }
    /// `vscalefps` (`self · 2^floor(nf)`, one rounding) under a zeroing mask: 2 operations
    /// instead of the integer `2^n` build, the multiply, the compare and the select.
    #[inline(always)]
    unsafe fn ldexp_or_zero(self, biased: Self, nf: Self, x: Self) -> Self {
        let _ = biased;
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe {
            let keep = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x.0, _mm512_set1_ps(crate::math::EXP_MIN));
            Zmm(_mm512_maskz_scalef_ps(keep, self.0, nf.0))
        }
    }
    #[inline(always)]
    unsafe fn gather(base: *const f32, offs: &[i32; L]) -> Self {
        // SAFETY: every element readable per the caller; AVX-512 F enabled (trait contract).
        unsafe {
            let idx = _mm512_loadu_si512(offs.as_ptr().cast());
            Zmm(_mm512_i32gather_ps::<4>(idx, base.cast()))
        }
    }
    #[inline(always)]
    unsafe fn pow2n(self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe {
            Zmm(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(
                _mm512_add_epi32(_mm512_castps_si512(self.0), _mm512_set1_epi32(127)),
            )))
        }
    }
}

/// AVX-512 attention (see `Kernels::attention`).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL, AVX2, FMA and F16C, and the arguments must satisfy the
/// checks of `Kernels::attention`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
pub(crate) unsafe fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    // SAFETY: forwarded contract; AVX-512 F is enabled here.
    unsafe { blocked::attention::<Zmm, 2, 16, 8, 8, 2>(q, k, v, p, mask, out, scratch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// # Safety
    /// AVX-512 F available.
    #[target_feature(enable = "avx512f")]
    unsafe fn check() {
        // SAFETY: AVX-512 F enabled here.
        unsafe { super::super::lanes::tests::check_exp_nonpos::<Zmm>() }
    }

    #[test]
    fn lane_exp_is_math_exp_bit_for_bit() {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: detected just above.
            unsafe { check() }
        }
    }
}
