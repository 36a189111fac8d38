//! The scalar oracle: each output in the canonical order of `super::driver`, spelled out per
//! element with `f32::mul_add` (a fused multiply-add, as on every SIMD tier), so the SIMD tiers
//! must equal it bit for bit.
//!
//! It is slow where the build target has no FMA instruction (`mul_add` is then a call to
//! libm's `fmaf`): exactness is its job, not speed.

use super::FloatGemm;
use super::FloatWeights;
use super::driver::{L, tree_sum};

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
            *sl = a.mul_add(b, *sl);
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
