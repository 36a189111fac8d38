//! AVX2 attention: two ymm per [`Lanes`] vector.
//!
//! Tiles: query tiles of 16 lanes (two ymm). `Q·Kᵀ`: 6 keys × 1 query vector = 12 ymm
//! accumulators (per head dim 2 `Qᵀ` loads + 6 broadcasts for 12 FMAs); `P·V`: 6 rows × 1 output
//! vector = 12 ymm (per key 2 V loads + 6 broadcasts), within the 16 ymm registers.

use std::arch::x86_64::*;

use super::AttentionParams;
use super::blocked;
use super::lanes::{L, Lanes};

#[derive(Clone, Copy)]
pub(crate) struct Ymm2(__m256, __m256);

// SAFETY: used only inside `attention` below, which enables AVX2 and FMA; pointer contracts are
// the callers'.
unsafe impl Lanes for Ymm2 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe { Ymm2(_mm256_setzero_ps(), _mm256_setzero_ps()) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe { Ymm2(_mm256_set1_ps(x), _mm256_set1_ps(x)) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: 16 readable floats per the caller.
        unsafe { Ymm2(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: 16 writable floats per the caller.
        unsafe {
            _mm256_storeu_ps(p, self.0);
            _mm256_storeu_ps(p.add(8), self.1);
        }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe {
            Ymm2(
                _mm256_fmadd_ps(a.0, b.0, c.0),
                _mm256_fmadd_ps(a.1, b.1, c.1),
            )
        }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe { Ymm2(_mm256_mul_ps(self.0, b.0), _mm256_mul_ps(self.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe { Ymm2(_mm256_add_ps(self.0, b.0), _mm256_add_ps(self.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe { Ymm2(_mm256_sub_ps(self.0, b.0), _mm256_sub_ps(self.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe { Ymm2(_mm256_div_ps(self.0, b.0), _mm256_div_ps(self.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe { Ymm2(_mm256_max_ps(self.0, b.0), _mm256_max_ps(self.1, b.1)) }
    }
    #[inline(always)]
    unsafe fn fnma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe {
            Ymm2(
                _mm256_fnmadd_ps(a.0, b.0, c.0),
                _mm256_fnmadd_ps(a.1, b.1, c.1),
            )
        }
    }
    #[inline(always)]
    unsafe fn keep_ge(self, a: Self, b: Self, other: Self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe {
            let k = |s: __m256, o: __m256, a: __m256, b: __m256| {
                _mm256_blendv_ps(o, s, _mm256_cmp_ps::<_CMP_GE_OQ>(a, b))
            };
            Ymm2(k(self.0, other.0, a.0, b.0), k(self.1, other.1, a.1, b.1))
        }
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const f32) {
        // SAFETY: a prefetch never faults; SSE is part of x86-64.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }
    /// Four 8 × 8 unpack / `shufps` / `vperm2f128` transposes (`vgatherdps` per head dim was
    /// slow on the microcode-mitigated Ice Lake this was measured on).
    #[inline(always)]
    unsafe fn transpose16(rows: &[*const f32; L], off: usize, dst: *mut f32, stride: usize) {
        // SAFETY: per the caller; AVX2 enabled (trait contract).
        unsafe {
            for rb in 0..2 {
                for cb in 0..2 {
                    let mut r = [_mm256_setzero_ps(); 8];
                    for (i, x) in r.iter_mut().enumerate() {
                        *x = _mm256_loadu_ps(rows[8 * rb + i].add(off + 8 * cb));
                    }
                    let mut t = [_mm256_setzero_ps(); 8];
                    for i in 0..4 {
                        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
                    }
                    // u[4b + c]: element c (and c + 4) of rows 4b..4b + 4.
                    let mut u = [_mm256_setzero_ps(); 8];
                    for b in 0..2 {
                        u[4 * b] = _mm256_shuffle_ps::<0x44>(t[4 * b], t[4 * b + 2]);
                        u[4 * b + 1] = _mm256_shuffle_ps::<0xEE>(t[4 * b], t[4 * b + 2]);
                        u[4 * b + 2] = _mm256_shuffle_ps::<0x44>(t[4 * b + 1], t[4 * b + 3]);
                        u[4 * b + 3] = _mm256_shuffle_ps::<0xEE>(t[4 * b + 1], t[4 * b + 3]);
                    }
                    for c in 0..4 {
                        let lo = _mm256_permute2f128_ps::<0x20>(u[c], u[4 + c]);
                        let hi = _mm256_permute2f128_ps::<0x31>(u[c], u[4 + c]);
                        let at = |e: usize| dst.add((8 * cb + e) * stride + 8 * rb);
                        _mm256_storeu_ps(at(c), lo);
                        _mm256_storeu_ps(at(c + 4), hi);
                    }
                }
            }
        }
    }
    #[inline(always)]
    unsafe fn pow2n(self) -> Self {
        // SAFETY: the caller runs with AVX2/FMA enabled (trait contract).
        unsafe {
            let p = |v: __m256| {
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
                    _mm256_castps_si256(v),
                    _mm256_set1_epi32(127),
                )))
            };
            Ymm2(p(self.0), p(self.1))
        }
    }
}

/// AVX2 attention (see `Kernels::attention`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and the arguments must satisfy the checks of
/// `Kernels::attention`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    // SAFETY: forwarded contract; AVX2 and FMA are enabled here.
    unsafe { blocked::attention::<Ymm2, 1, 6, 1, 6, 1>(q, k, v, p, mask, out, scratch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// # Safety
    /// AVX2 and FMA available.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn check() {
        // SAFETY: AVX2/FMA enabled here.
        unsafe { super::super::lanes::tests::check_exp_nonpos::<Ymm2>() }
    }

    #[test]
    fn lane_exp_is_math_exp_bit_for_bit() {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: detected just above.
            unsafe { check() }
        }
    }
}
