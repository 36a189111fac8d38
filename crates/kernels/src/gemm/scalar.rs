//! The scalar oracle: each output in the canonical order of `super::driver`, spelled out per
//! element with a fused multiply-add ([`fma`], `f32::mul_add` bit for bit, as on every SIMD
//! tier), so the SIMD tiers must equal it bit for bit.
//!
//! The baseline x86-64 target has no FMA instruction, where `f32::mul_add` is a call into
//! libm's `fmaf` per element (the MiniLM f32 dev texts did not finish in 6 minutes that way).
//! [`fma`] computes the same correctly rounded `a · b + c` inline and branch-free in f64
//! arithmetic (the product is exact in f64; the sum is rounded to odd, then to f32), which the
//! compiler vectorizes; on targets with an FMA instruction `mul_add` is that instruction.

use super::FloatGemm;
use super::FloatWeights;
use super::driver::{L, tree_sum};

/// `a · b + c` with one rounding: `f32::mul_add`, bit for bit.
///
/// `a · b` is exact in f64 (24 + 24 bits ≤ 53). `s = p + c` is rounded to nearest and its error
/// `e` recovered exactly (TwoSum); where `s` is inexact and even, it is moved one ulp toward
/// the exact sum, which is rounding to odd. An f64 rounded to odd keeps the sticky information
/// that rounding it to f32 (24 ≤ 53 − 2 bits) needs, so the final conversion is the correctly
/// rounded result (Boldo & Melquiond, "Emulation of FMA and correctly rounded sums: proved
/// algorithms using rounding to odd", IEEE TC 2008). Infinities and NaNs pass through the sum.
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        return a.mul_add(b, c);
    }
    let p = f64::from(a) * f64::from(b);
    let c = f64::from(c);
    let s = p + c;
    let z = s - p;
    let e = (p - (s - z)) + (c - z);
    let bits = s.to_bits();
    let nudge = e != 0.0 && bits & 1 == 0 && s.is_finite();
    // Toward the exact value: up in magnitude when `e` has the sign of `s`, else down.
    let toward = if (e > 0.0) == (s > 0.0) {
        bits.wrapping_add(1)
    } else {
        bits.wrapping_sub(1)
    };
    f64::from_bits(if nudge { toward } else { bits }) as f32
}

/// One output: 16 lane chains of fused multiply-adds, the last step zero-padded, then the tree.
#[inline(always)]
fn dot<W: Copy>(x: &[f32], w: &[W], cvt: impl Fn(W) -> f32) -> f32 {
    let k = x.len();
    let mut s = [0.0f32; L];
    for i0 in (0..k).step_by(L) {
        for (l, sl) in s.iter_mut().enumerate() {
            let i = i0 + l;
            // Lanes past K multiply zeros, as a SIMD tier's zero-padded last step does.
            let (a, b) = if i < k { (x[i], cvt(w[i])) } else { (0.0, 0.0) };
            *sl = fma(a, b, *sl);
        }
    }
    tree_sum(&s)
}

/// Scalar float matmul (see [`super::GemmFn`]). Arguments are checked by the caller.
pub(crate) fn gemm_cols(p: &FloatGemm<'_>, y: &mut [f32]) {
    let (k, n) = (p.k, p.n);
    for r in 0..p.m {
        let xr = &p.x[r * k..(r + 1) * k];
        for c in p.n0..p.n1 {
            let s = match p.w {
                FloatWeights::F32(w) => dot(xr, &w[c * k..(c + 1) * k], |v| v),
                FloatWeights::F16(w) => dot(xr, &w[c * k..(c + 1) * k], |v| v.to_f32()),
                FloatWeights::Bf16(w) => dot(xr, &w[c * k..(c + 1) * k], |v| v.to_f32()),
            };
            y[r * n + c] = match p.bias {
                Some(b) => s + b[c],
                None => s,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fma;

    /// A SplitMix64 stream: reproducible inputs without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn fma_is_mul_add_bit_for_bit() {
        let special = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::EPSILON,
            1.0 + f32::EPSILON,
            1.0 - f32::EPSILON / 2.0,
            3.0,
            1e-30,
            -1e30,
        ];
        let mut st = 7u64;
        let check = |a: f32, b: f32, c: f32| {
            let (got, want) = (fma(a, b, c), a.mul_add(b, c));
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "fma({a:e}, {b:e}, {c:e}) = {got:e}, mul_add {want:e}"
            );
        };
        for &a in &special {
            for &b in &special {
                for &c in &special {
                    check(a, b, c);
                }
            }
        }
        for _ in 0..2_000_000 {
            let r = next(&mut st);
            let a = f32::from_bits(r as u32);
            let b = f32::from_bits((r >> 32) as u32);
            // c near -a·b (cancellation), near a tie of a·b, or any bits.
            let r2 = next(&mut st);
            let c = match r2 % 4 {
                0 => -(a * b),
                1 => f32::from_bits((r2 >> 32) as u32),
                2 => (a * b) * f32::EPSILON * ((r2 >> 40) as f32 - 8e6) / 8e6,
                _ => -(a * b) + f32::from_bits((r2 >> 32) as u32) * 1e-20,
            };
            check(a, b, c);
            // Small exact-ish operands: many products with ties at f32 precision.
            let (x, y) = ((r & 0xFFFF) as f32 + 0.5, ((r >> 16) & 0xFFF) as f32 * 0.25);
            check(x, y, ((r2 & 0xFF_FFFF) as f32) * 64.0);
        }
    }
}
