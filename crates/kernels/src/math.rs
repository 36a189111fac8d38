//! Branch-free f32 math that vectorizes when inlined into a `#[target_feature]` loop.
//!
//! All functions are plain Rust on scalars; called lane by lane from the lane-explicit loops of
//! `elementwise::generic`, LLVM turns them into SIMD code for whichever ISA encloses them, and
//! since no reassociation is allowed the results are the same bits on every ISA.

pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split for Cody–Waite reduction: `LN2_HI` has its low 11 bits clear, so `n * LN2_HI` is
/// exact for |n| < 2^11.
pub(crate) const LN2_HI: f32 = 0.693_145_75;
pub(crate) const LN2_LO: f32 = 1.428_606_8e-6;
/// Below this, exp underflows the normal range: return 0.
pub(crate) const EXP_MIN: f32 = -87.336_54;
pub(crate) const EXP_MAX: f32 = 88.0;
/// 1.5·2^23: adding it rounds to an integer (kept in the low mantissa bits).
pub(crate) const MAGIC: f32 = 12_582_912.0;

/// `e^x` to about 2 ulp for `x` in `[-87.3, 88]`; 0 below, `e^88` above; NaN propagates.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let xc = x.clamp(EXP_MIN, EXP_MAX);
    // Round x·log2(e) to nearest with the 1.5·2^23 trick (no rounding-mode intrinsics).
    let biased = xc * LOG2E + MAGIC;
    let nf = biased - MAGIC;
    let r = (-nf).mul_add(LN2_HI, xc);
    let r = (-nf).mul_add(LN2_LO, r);
    // Degree-7 Taylor polynomial on |r| <= ln2/2: truncation error < 6e-9 relative.
    let mut p: f32 = 1.0 / 5040.0;
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // 2^n from the bits of `biased` = 1.5·2^23 + n: its low bits hold n (two's complement), so
    // `(bits + 127) << 23` is n + 127 in the exponent field. Unlike `nf as i32` (a saturating,
    // NaN-checking cast LLVM scalarizes lane by lane: it made GELU 4× slower), this stays SIMD.
    // For NaN inputs the scale is garbage but `p` is NaN, so NaN still propagates.
    let scale = f32::from_bits(biased.to_bits().wrapping_add(127) << 23);
    let y = p * scale;
    if x < EXP_MIN { 0.0 } else { y }
}

/// `erfc(|x| / √2)`, relative error below ~5e-7 over the whole range.
///
/// Numerical Recipes' `erfcc` Chebyshev fit (fractional error < 1.2e-7), with `exp(-x²/2)`
/// evaluated from the exact split `x² = hi + lo` so the large exponent loses nothing.
// The coefficients are quoted as published (Numerical Recipes, erfcc).
#[allow(clippy::excessive_precision)]
#[inline(always)]
fn erfc_abs_x_over_sqrt2(x: f32) -> f32 {
    // erfc(20/√2) ≈ 5e-89 already underflows f32; clamping keeps x² finite for huge |x|.
    let ax = x.abs().min(20.0);
    let t = 1.0 / (0.5 * std::f32::consts::FRAC_1_SQRT_2).mul_add(ax, 1.0);
    let mut p = 0.170_872_77f32;
    p = p.mul_add(t, -0.822_152_23);
    p = p.mul_add(t, 1.488_515_87);
    p = p.mul_add(t, -1.135_203_98);
    p = p.mul_add(t, 0.278_868_07);
    p = p.mul_add(t, -0.186_288_06);
    p = p.mul_add(t, 0.096_784_18);
    p = p.mul_add(t, 0.374_091_96);
    p = p.mul_add(t, 1.000_023_68);
    p = p.mul_add(t, -1.265_512_23);
    let hi = ax * ax;
    let lo = ax.mul_add(ax, -hi);
    t * exp(-0.5 * hi) * exp(p) * (-0.5f32).mul_add(lo, 1.0)
}

/// Exact GELU, `x · Φ(x)` with the erf CDF (BERT's `gelu`), to ~1e-6 relative.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    let e = erfc_abs_x_over_sqrt2(x);
    // Φ(x) = 1 - erfc(x/√2)/2 for x >= 0 and erfc(|x|/√2)/2 for x < 0: no cancellation.
    let half_xe = 0.5 * x * e;
    if x >= 0.0 { x - half_xe } else { half_xe }
}

/// Tanh-approximate GELU: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, as `x·σ(2u)`.
#[inline(always)]
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    const K: f32 = 0.797_884_6; // √(2/π)
    let u = K * (0.044_715 * x * x).mul_add(x, x);
    x / (1.0 + exp(-2.0 * u))
}

/// SiLU / swish: `x · σ(x)`.
#[inline(always)]
pub(crate) fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// Exact IEEE half → single conversion without F16C: rescale the shifted magnitude by 2^112
/// (right for normals and subnormals), force Inf/NaN exponents, restore the sign.
#[inline(always)]
pub(crate) fn f16_bits_to_f32(h: u16) -> f32 {
    let u = u32::from(h);
    let sign = (u & 0x8000) << 16;
    let mag = (u & 0x7fff) << 13;
    let scaled = (f32::from_bits(mag) * f32::from_bits(0x7780_0000)).to_bits();
    let bits = if u & 0x7c00 == 0x7c00 {
        mag | 0x7f80_0000
    } else {
        scaled
    };
    f32::from_bits(bits | sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_is_exact_for_every_value() {
        for h in 0..=u16::MAX {
            let want = half::f16::from_bits(h).to_f32();
            let got = f16_bits_to_f32(h);
            assert!(
                want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                "{h:#x}"
            );
        }
    }

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }
}
