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

/// Beyond ±[`GELU_EDGE`], [`gelu`] is `x` (above) or `-0.0` (below): `Φ(-6) ≈ 9.9e-10`, so the
/// error this leaves, `|x|·Φ(-|x|)`, is below 6e-9 and falls from there.
const GELU_EDGE: f32 = 6.0;

/// Exact GELU, `x · Φ(x)` with the erf CDF (BERT's and sentence-transformers' `gelu`, not the tanh
/// form), as `x · (½ + x·P(x²)/Q(x²))`: one division and ten fused multiply-adds, no `exp`.
///
/// **Error** (`tests/elementwise.rs`, f64 reference, every ISA, a dense grid of ±[0, 10] plus
/// subnormals, tiny and huge values, ±0, ±inf, NaN): `|Φ̃(x) − Φ(x)| ≤ 1.98e-7`, so
/// `|gelu − x·Φ(x)| ≤ 2.0e-7·|x|` (at most 8.7e-7 absolute, at x ≈ 4.5); relative error
/// ≤ 2.0e-7 for `x ≥ 0` and ≤ 3.4e-7 for `x ∈ [-1, 0)` (the previous `erfcc` form: 1e-6). In
/// the negative tail the error is absolute, not relative (`½ + x·r` cancels there): `gelu(-4) ≈
/// -1.3e-4` may be off by ~8e-7. PyTorch's own CPU GELU, which computed the sentence-transformers
/// references, is bounded the same way: its vectorized `erf` is Abramowitz & Stegun 7.1.26
/// (`|Δerf| ≤ 1.5e-7`, i.e. `|ΔΦ| ≤ 7.5e-8`, absolute). `gelu(+inf) = +inf`, `gelu(-inf) =
/// -0.0`, NaN propagates.
///
/// **Coefficients**: our own fit (`scripts/fit-gelu.py`: linearised least squares with Lawson's
/// minimax iteration of `(Φ(x) − ½)/x` as a 5/5 rational in `x²` on [0, 6]; f64 fit error 2.3e-8
/// in Φ, the rest is f32 rounding). All are positive, so Horner has no cancellation, and
/// `P(0) = 1/√(2π) = Φ'(0)`.
///
/// **Why**: the previous form (Numerical Recipes' `erfcc`: a division, two `exp` and a degree-9
/// polynomial, relative error 1e-6 everywhere) was ~75 % of the fused bias+GELU → Q8 kernel;
/// this is a third of its instructions (see docs/PERFORMANCE.md, "Cheaper exact GELU").
///
/// **Bits**: plain lane code, a fixed sequence of `mul_add`s and one IEEE division, no
/// reassociation: the same bits on every ISA.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    let s = x * x;
    let mut p: f32 = 2.015_564_2e-8;
    p = p.mul_add(s, 6.513_688e-6);
    p = p.mul_add(s, 1.991_387_1e-4);
    p = p.mul_add(s, 4.862_85e-3);
    p = p.mul_add(s, 3.687_681_6e-2);
    p = p.mul_add(s, 0.398_942_14);
    let mut q: f32 = 1.133_183_8e-6;
    q = q.mul_add(s, 8.308_006e-5);
    q = q.mul_add(s, 2.057_402_9e-3);
    q = q.mul_add(s, 3.037_679_6e-2);
    q = q.mul_add(s, 0.259_100_94);
    q = q.mul_add(s, 1.0);
    // Φ ≥ 0: the rounding of ½ + x·r could dip below near the lower edge. (`max` returns the
    // non-NaN operand, but a NaN x still gives NaN below, as x · 0.)
    let phi = x.mul_add(p / q, 0.5).max(0.0);
    let g = x * phi;
    // Outside ±GELU_EDGE x² may overflow (P/Q = inf/inf): the limits are exact there in f32.
    if x > GELU_EDGE {
        x
    } else if x < -GELU_EDGE {
        -0.0
    } else {
        g
    }
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
