//! AVX-512 attention: one zmm per [`Lanes`] vector.
//!
//! Tiles: query tiles of 32 lanes (two zmm; 16 for the last ≤ 16 queries). `Q·Kᵀ`: 8 keys × 2
//! query vectors = 16 zmm accumulators (per head dim 2 `Qᵀ` loads + 8 broadcasts for 16 FMAs),
//! or 16 keys × 1 vector (FMAs with an embedded broadcast) for a 16-lane tile. `P·V`: 8 rows × 2
//! output vectors = 16 accumulators (per key 2 V loads + 8 broadcasts of `P`). Enough
//! independent chains for the two 512-bit FMA pipes (probed: ~155 GFLOP/s per core at the
//! AVX-512 clock), ~19 of 32 registers.

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
    unsafe fn div(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX-512 F enabled (trait contract).
        unsafe { Zmm(_mm512_div_ps(self.0, b.0)) }
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
    unsafe fn prefetch(p: *const f32) {
        // SAFETY: a prefetch never faults; SSE is part of x86-64.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }
    /// The unpack / `shufps` / two `shuf_f32x4` network: 64 shuffles per 256 floats.
    /// (`vgatherdps` per head dim was ~20 % of the kernel at 16 tokens: gathers are slow on
    /// this Ice Lake, microcode-mitigated.)
    #[inline(always)]
    unsafe fn transpose16(rows: &[*const f32; L], off: usize, dst: *mut f32, stride: usize) {
        // SAFETY: per the caller; AVX-512 F enabled (trait contract).
        unsafe {
            let mut r = [_mm512_setzero_ps(); L];
            for (x, p) in r.iter_mut().zip(rows) {
                *x = _mm512_loadu_ps(p.add(off));
            }
            let mut t = [_mm512_setzero_ps(); L];
            for i in 0..L / 2 {
                t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            // u[4b + c]: element c (+ 4, 8, 12 in the 128-bit lanes) of rows 4b..4b + 4.
            let mut u = [_mm512_setzero_ps(); L];
            for b in 0..4 {
                let (lo, hi) = (t[4 * b], t[4 * b + 2]);
                let (lo1, hi1) = (t[4 * b + 1], t[4 * b + 3]);
                u[4 * b] = _mm512_shuffle_ps::<0x44>(lo, hi);
                u[4 * b + 1] = _mm512_shuffle_ps::<0xEE>(lo, hi);
                u[4 * b + 2] = _mm512_shuffle_ps::<0x44>(lo1, hi1);
                u[4 * b + 3] = _mm512_shuffle_ps::<0xEE>(lo1, hi1);
            }
            // v[c] / v[c + 4] (rows 0..8) and v[8 + c] / v[12 + c] (rows 8..16): elements
            // c, c + 8 and c + 4, c + 12.
            let mut v = [_mm512_setzero_ps(); L];
            for h in 0..2 {
                for c in 0..4 {
                    let (a, b) = (u[8 * h + c], u[8 * h + 4 + c]);
                    v[8 * h + c] = _mm512_shuffle_f32x4::<0x88>(a, b);
                    v[8 * h + 4 + c] = _mm512_shuffle_f32x4::<0xDD>(a, b);
                }
            }
            for c in 0..8 {
                let (a, b) = (v[c], v[8 + c]);
                // Columns c and c + 8.
                let lo = _mm512_shuffle_f32x4::<0x88>(a, b);
                let hi = _mm512_shuffle_f32x4::<0xDD>(a, b);
                _mm512_storeu_ps(dst.add(c * stride), lo);
                _mm512_storeu_ps(dst.add((c + 8) * stride), hi);
            }
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
