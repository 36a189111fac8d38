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
    /// `self / b` (correctly rounded).
    unsafe fn div(self, b: Self) -> Self;
    /// Lane-wise max (inputs are never NaN here).
    unsafe fn max(self, b: Self) -> Self;
    /// `from_bits((bits(self) + 127) << 23)`: 2^n from `1.5·2^23 + n` (see [`crate::math::exp`]).
    unsafe fn pow2n(self) -> Self;
    /// `c - a · b`, fused (one rounding): the same bits as `fma(a·(-1), b, c)`.
    unsafe fn fnma(a: Self, b: Self, c: Self) -> Self;
    /// `self` where `a >= b`, `other` elsewhere (inputs are never NaN here).
    unsafe fn keep_ge(self, a: Self, b: Self, other: Self) -> Self;
    /// The tail of [`exp_nonpos`]: `self · 2^n` where `x >= EXP_MIN`, `0` elsewhere, with
    /// `biased = 1.5·2^23 + n` and `nf = n` (both garbage where `x < EXP_MIN`).
    ///
    /// The default builds `2^n` from the bits of `biased`; a tier may use any other exact
    /// `self · 2^n` (for `EXP_MIN <= x <= 0`, `2^n` is a normal number, so the product is one
    /// correctly rounded operation however it is computed).
    #[inline(always)]
    unsafe fn ldexp_or_zero(self, biased: Self, nf: Self, x: Self) -> Self {
        let _ = nf;
        // SAFETY: forwarded contract.
        unsafe {
            self.mul(biased.pow2n())
                .keep_ge(x, Self::splat(crate::math::EXP_MIN), Self::zero())
        }
    }
    /// A hint to bring the cache line of `p` into L1 (no-op by default).
    #[inline(always)]
    unsafe fn prefetch(p: *const f32) {
        let _ = p;
    }
    /// `dst[e·stride + i] = rows[i][off + e]` for `i, e < 16`: a 16 × 16 transpose.
    ///
    /// # Safety
    /// `rows[i] + off .. + 16` readable; `dst + e·stride .. + 16` writable for `e < 16`.
    #[inline(always)]
    unsafe fn transpose16(rows: &[*const f32; L], off: usize, dst: *mut f32, stride: usize) {
        for (i, r) in rows.iter().enumerate() {
            for e in 0..L {
                // SAFETY: per the caller.
                unsafe { *dst.add(e * stride + i) = *r.add(off + e) };
            }
        }
    }
}

/// [`crate::math::exp`] over lanes for `x <= 0` (and `-inf`): the same bits with fewer
/// operations.
///
/// Every argument attention exponentiates is `x - max <= 0` or `-inf`, where `math::exp`'s
/// upper clamp is a no-op and its lower clamp only matters for lanes its final select zeroes
/// anyway; `-n·c + r` as one `fnma` is the same rounding as `(-n)·c + r`. So this drops two
/// clamps and a negation (21 → 17 operations, 14 on AVX-512 with `vscalefps` behind a zeroing
/// mask) and is still `math::exp` bit for bit there (unit-tested per tier).
///
/// # Safety
/// `V`'s ISA enabled.
#[inline(always)]
pub(crate) unsafe fn exp_nonpos<V: Lanes>(x: V) -> V {
    use crate::math::{LN2_HI, LN2_LO, LOG2E, MAGIC};
    // SAFETY: forwarded contract.
    unsafe {
        let s = V::splat;
        let biased = x.mul(s(LOG2E)).add(s(MAGIC));
        let nf = biased.sub(s(MAGIC));
        let r = V::fnma(nf, s(LN2_HI), x);
        let r = V::fnma(nf, s(LN2_LO), r);
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
        p.ldexp_or_zero(biased, nf, x)
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
    unsafe fn div(self, b: Self) -> Self {
        Scalar(std::array::from_fn(|i| self.0[i] / b.0[i]))
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
    unsafe fn pow2n(self) -> Self {
        Scalar(
            self.0
                .map(|v| f32::from_bits(v.to_bits().wrapping_add(127) << 23)),
        )
    }
    #[inline(always)]
    unsafe fn fnma(a: Self, b: Self, c: Self) -> Self {
        Scalar(std::array::from_fn(|i| (-a.0[i]).mul_add(b.0[i], c.0[i])))
    }
    #[inline(always)]
    unsafe fn keep_ge(self, a: Self, b: Self, other: Self) -> Self {
        Scalar(std::array::from_fn(|i| {
            if a.0[i] >= b.0[i] {
                self.0[i]
            } else {
                other.0[i]
            }
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `exp_nonpos` on `V` equals `math::exp` bit for bit on `x <= 0`: dense steps over the
    /// whole range, the subnormal results near `EXP_MIN`, both zeros and `-inf`.
    ///
    /// # Safety
    /// `V`'s ISA enabled.
    #[inline(always)]
    pub(crate) unsafe fn check_exp_nonpos<V: Lanes>() {
        let mut xs = vec![
            0.0f32,
            -0.0,
            f32::NEG_INFINITY,
            f32::MIN,
            -1e-30,
            -88.0,
            -87.4,
        ];
        let mut x = -100.0f32;
        while x < 0.0 {
            xs.push(x);
            x += 0.00371;
        }
        let mut x = crate::math::EXP_MIN - 0.05;
        while x < crate::math::EXP_MIN + 0.05 {
            xs.push(x);
            x = f32::from_bits(x.to_bits() - 16);
        }
        xs.resize(xs.len().next_multiple_of(L), -1.0);
        for c in xs.chunks_exact(L) {
            let mut got = [0.0f32; L];
            // SAFETY: `c` and `got` are L floats; ISA per the caller.
            unsafe { exp_nonpos(V::load(c.as_ptr())).store(got.as_mut_ptr()) };
            for (g, &v) in got.iter().zip(c) {
                let want = if v == f32::NEG_INFINITY {
                    0.0
                } else {
                    crate::math::exp(v)
                };
                assert_eq!(g.to_bits(), want.to_bits(), "x = {v:e}");
            }
        }
    }

    #[test]
    fn lane_exp_is_math_exp_bit_for_bit() {
        // SAFETY: `Scalar` needs no ISA.
        unsafe { check_exp_nonpos::<Scalar>() }
    }
}
