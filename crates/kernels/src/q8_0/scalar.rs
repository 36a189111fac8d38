//! Portable Q8_0 matmul: the oracle every SIMD tier must match bit for bit.

use super::QuantizedActivations;
use crate::block::{BlockQ8_0, QK8_0};

/// Scalar driver (see [`super::GemmFn`]). Arguments are checked by the caller.
pub(crate) fn gemm_cols(
    qa: &QuantizedActivations,
    w: &[BlockQ8_0],
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    let nb = qa.nb();
    for r in 0..qa.m() {
        let xq = &qa.qs[r * qa.k()..(r + 1) * qa.k()];
        let dx = &qa.d[r * nb..(r + 1) * nb];
        for c in n0..n1 {
            let wr = &w[c * nb..(c + 1) * nb];
            let mut acc = 0.0f32;
            for b in 0..nb {
                let xb = &xq[b * QK8_0..(b + 1) * QK8_0];
                let sum: i32 = xb
                    .iter()
                    .zip(&wr[b].qs)
                    .map(|(&a, &q)| i32::from(a) * i32::from(q))
                    .sum();
                acc = (dx[b] * wr[b].d.to_f32()).mul_add(sum as f32, acc);
            }
            y[r * n + c] = match bias {
                Some(bias) => acc + bias[c],
                None => acc,
            };
        }
    }
}
