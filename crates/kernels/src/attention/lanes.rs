//! The 16-lane f32 vector the blocked attention micro-kernels are written over.
//!
//! One implementation per ISA (`__m512`, two `__m256`, four `float32x4_t`, and `[f32; 16]` for
//! the scalar oracle). Every operation is lane-wise and exactly rounded (`fma` is fused on every
//! tier, `f32::mul_add` in the oracle), so a kernel written once over [`Lanes`] gives the same
//! bits on every ISA.

/// Lanes per vector: one zmm, two ymm, four NEON registers.
pub(crate) const L: usize = 16;

/// Sixteen f32 lanes.
///
/// # Safety
/// Implementations use ISA intrinsics: a method may only be called where that ISA's features
/// are enabled (inside the tier's `#[target_feature]` entry point, into which they inline).
pub(crate) unsafe trait Lanes: Copy {
    /// All lanes zero.
    unsafe fn zero() -> Self;
    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self;
    /// Loads 16 floats from `p` (no alignment needed).
    ///
    /// # Safety
    /// `p..p + 16` must be readable.
    unsafe fn load(p: *const f32) -> Self;
    /// Stores the lanes to `p..p + 16` (no alignment needed).
    ///
    /// # Safety
    /// `p..p + 16` must be writable.
    unsafe fn store(self, p: *mut f32);
    /// `a · b + c`, fused (one rounding).
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    /// `self · b`.
    unsafe fn mul(self, b: Self) -> Self;
    /// `self + b`.
    unsafe fn add(self, b: Self) -> Self;
    /// `self - b`.
    unsafe fn sub(self, b: Self) -> Self;
    /// Lane-wise max (inputs are never NaN here).
    unsafe fn max(self, b: Self) -> Self;
    /// Lane-wise min (inputs are never NaN here).
    unsafe fn min(self, b: Self) -> Self;
    /// `from_bits((bits(self) + 127) << 23)`: 2^n from `1.5·2^23 + n` (see [`crate::math::exp`]).
    unsafe fn pow2n(self) -> Self;
    /// `self` where `x >= t`, `0` where `x < t`.
    unsafe fn zero_below(self, x: Self, t: f32) -> Self;
    /// The lanes as an array.
    unsafe fn to_array(self) -> [f32; L];
}

/// [`crate::math::exp`] over lanes, the same operations in the same order, so the same bits.
///
/// # Safety
/// `V`'s ISA enabled.
#[inline(always)]
pub(crate) unsafe fn exp<V: Lanes>(x: V) -> V {
    use crate::math::{EXP_MAX, EXP_MIN, LN2_HI, LN2_LO, LOG2E, MAGIC};
    // SAFETY: forwarded contract.
    unsafe {
        let s = V::splat;
        let xc = x.max(s(EXP_MIN)).min(s(EXP_MAX));
        let biased = xc.mul(s(LOG2E)).add(s(MAGIC));
        let nf = biased.sub(s(MAGIC));
        let neg = nf.mul(s(-1.0));
        let r = V::fma(neg, s(LN2_HI), xc);
        let r = V::fma(neg, s(LN2_LO), r);
        let mut p = s(1.0 / 5040.0);
        for c in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = V::fma(p, r, s(c));
        }
        p.mul(biased.pow2n()).zero_below(x, EXP_MIN)
    }
}

/// The scalar oracle's vector: plain arrays, `mul_add` per lane.
#[derive(Clone, Copy)]
pub(crate) struct Scalar([f32; L]);

// SAFETY: plain Rust; the pointer contracts are the callers'.
unsafe impl Lanes for Scalar {
    #[inline(always)]
    unsafe fn zero() -> Self {
        Scalar([0.0; L])
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Scalar([x; L])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees 16 readable floats.
        Scalar(unsafe { p.cast::<[f32; L]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 16 writable floats.
        unsafe { p.cast::<[f32; L]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        Scalar(std::array::from_fn(|i| a.0[i].mul_add(b.0[i], c.0[i])))
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        Scalar(std::array::from_fn(|i| self.0[i] * b.0[i]))
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        Scalar(std::array::from_fn(|i| self.0[i] + b.0[i]))
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        Scalar(std::array::from_fn(|i| self.0[i] - b.0[i]))
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        Scalar(std::array::from_fn(|i| {
            if self.0[i] > b.0[i] {
                self.0[i]
            } else {
                b.0[i]
            }
        }))
    }
    #[inline(always)]
    unsafe fn min(self, b: Self) -> Self {
        Scalar(std::array::from_fn(|i| {
            if self.0[i] < b.0[i] {
                self.0[i]
            } else {
                b.0[i]
            }
        }))
    }
    #[inline(always)]
    unsafe fn pow2n(self) -> Self {
        Scalar(
            self.0
                .map(|v| f32::from_bits(v.to_bits().wrapping_add(127) << 23)),
        )
    }
    #[inline(always)]
    unsafe fn zero_below(self, x: Self, t: f32) -> Self {
        Scalar(std::array::from_fn(|i| {
            if x.0[i] < t { 0.0 } else { self.0[i] }
        }))
    }
    #[inline(always)]
    unsafe fn to_array(self) -> [f32; L] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_exp_is_math_exp_bit_for_bit() {
        let mut x = -100.0f32;
        while x < 90.0 {
            let xs: [f32; L] = std::array::from_fn(|i| x + i as f32 * 0.001);
            // SAFETY: `Scalar` needs no ISA; the array is 16 floats.
            let got = unsafe { exp(Scalar::load(xs.as_ptr())).to_array() };
            for (g, &v) in got.iter().zip(&xs) {
                assert_eq!(g.to_bits(), crate::math::exp(v).to_bits(), "x = {v}");
            }
            x += 0.0371;
        }
        // SAFETY: as above.
        let got = unsafe { exp(Scalar::splat(f32::NEG_INFINITY)).to_array() };
        assert!(got.iter().all(|&g| g == 0.0));
    }
}
