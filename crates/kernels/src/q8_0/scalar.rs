//! Portable Q8_0 matmul: the oracle every SIMD tier must match bit for bit.

use super::{QK_ACT, QuantizedActivations, quantize};
use crate::block::{BlockQ8_0, QK8_0};

/// The scalar tier's Q8_0 kernels (the quantizers as they are: the baseline target).
pub(crate) const TABLE: super::Table = super::Table {
    gemm: gemm_cols,
    quantize_halves: quantize::quantize_halves,
    quantize_blocks: quantize::quantize_blocks,
};

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
        let xq = qa.row_codes(r);
        let dx = qa.row_scales(r);
        for c in n0..n1 {
            let wr = &w[c * nb..(c + 1) * nb];
            let mut acc = 0.0f32;
            for b in 0..nb {
                let dw = wr[b].d.to_f32();
                // Two halves of 16 values, each with its own activation scale, in order.
                for h in 0..2 {
                    let o = b * QK8_0 + h * QK_ACT;
                    let sum: i32 = xq[o..o + QK_ACT]
                        .iter()
                        .zip(&wr[b].qs[h * QK_ACT..(h + 1) * QK_ACT])
                        .map(|(&a, &q)| i32::from(a) * i32::from(q))
                        .sum();
                    acc = (dx[2 * b + h] * dw).mul_add(sum as f32, acc);
                }
            }
            y[r * n + c] = match bias {
                Some(bias) => acc + bias[c],
                None => acc,
            };
        }
    }
}
