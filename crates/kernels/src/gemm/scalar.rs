//! Portable float matmul: 8 independent lane sums per output (plain multiply and add, which
//! the baseline target vectorizes), combined by a fixed pairwise tree.

use super::FloatWeights;

const LANES: usize = 8;

#[inline(always)]
fn dot<W: Copy>(x: &[f32], w: &[W], cvt: impl Fn(W) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    let mut wc = w.chunks_exact(LANES);
    for (xs, ws) in (&mut xc).zip(&mut wc) {
        for l in 0..LANES {
            acc[l] += xs[l] * cvt(ws[l]);
        }
    }
    for (l, (&a, &b)) in xc.remainder().iter().zip(wc.remainder()).enumerate() {
        acc[l] += a * cvt(b);
    }
    let q = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// Scalar driver (see [`super::GemmFn`]). Arguments are checked by the caller.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_cols(
    x: &[f32],
    m: usize,
    k: usize,
    w: FloatWeights<'_>,
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    for r in 0..m {
        let xr = &x[r * k..(r + 1) * k];
        for c in n0..n1 {
            let s = match w {
                FloatWeights::F32(w) => dot(xr, &w[c * k..(c + 1) * k], |v| v),
                FloatWeights::F16(w) => dot(xr, &w[c * k..(c + 1) * k], |v| v.to_f32()),
                FloatWeights::Bf16(w) => dot(xr, &w[c * k..(c + 1) * k], |v| v.to_f32()),
            };
            y[r * n + c] = match bias {
                Some(b) => s + b[c],
                None => s,
            };
        }
    }
}
