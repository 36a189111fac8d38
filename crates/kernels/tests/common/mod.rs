//! Helpers shared by the kernel test suites: ISA iteration and f64 references.
#![allow(dead_code)]

pub mod ggml_ref;

use ggufembed_kernels::{BlockQ8_0, Isa, Kernels, kernels_for};
use half::f16;
use proptest::prelude::*;

/// Every ISA tier this CPU can run (always includes scalar), with its kernel table.
pub fn isas() -> Vec<(Isa, &'static Kernels)> {
    Isa::ALL
        .iter()
        .filter_map(|&i| kernels_for(i).map(|k| (i, k)))
        .collect()
}

pub fn scalar() -> &'static Kernels {
    kernels_for(Isa::Scalar).expect("scalar is always available")
}

/// Transliteration of ggml's `quantize_row_q8_0_ref` (ggml-quants.c), kept independent of the
/// crate's own quantizer.
pub fn ggml_quantize_row_q8_0_ref(x: &[f32]) -> Vec<BlockQ8_0> {
    x.chunks(32)
        .map(|xb| {
            let mut amax = 0.0f32; // absolute max
            for &v in xb {
                let a = v.abs();
                amax = if amax > a { amax } else { a }; // MAX(amax, fabsf(v))
            }
            let d = amax / ((1 << 7) - 1) as f32;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let qs = std::array::from_fn(|j| (xb[j] * id).round() as i8); // roundf
            BlockQ8_0 {
                d: f16::from_f32(d),
                qs,
            } // GGML_FP32_TO_FP16
        })
        .collect()
}

/// A value strategy mixing zeros, tiny, ordinary and large magnitudes of both signs.
pub fn mixed_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => -1.0f32..1.0,
        1 => Just(0.0f32),
        1 => -1e-6f32..1e-6,
        1 => -1e4f32..1e4,
        1 => (-1.0f32..1.0).prop_map(|v| v * 1e-30),
    ]
}

/// Random Q8_0 weight blocks: any i8 (including -128), scales over several decades.
pub fn q8_blocks(count: usize) -> impl Strategy<Value = Vec<BlockQ8_0>> {
    prop::collection::vec(
        (
            prop_oneof![1e-4f32..1e-2, 1e-2f32..1.0, Just(0.0f32)],
            prop::array::uniform32(any::<i8>()),
        )
            .prop_map(|(d, qs)| BlockQ8_0 {
                d: f16::from_f32(d),
                qs,
            }),
        count,
    )
}

/// `erfc` in f64 to ~1e-14 relative: series for erf below 2.5, continued fraction above.
pub fn erfc64(z: f64) -> f64 {
    if z < 0.0 {
        return 2.0 - erfc64(-z);
    }
    if z < 2.5 {
        // erf(z) = 2/√π Σ (-1)^n z^(2n+1) / (n! (2n+1))
        let mut term = z;
        let mut sum = z;
        let mut n = 0.0;
        while term.abs() > 1e-18 * sum.abs() {
            n += 1.0;
            term *= -z * z / n;
            sum += term / (2.0 * n + 1.0);
        }
        1.0 - sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // Lentz-free backward evaluation of the continued fraction, 200 terms.
        let mut f = 0.0;
        for k in (1..=200).rev() {
            f = (k as f64 / 2.0) / (z + f);
        }
        (-z * z).exp() / std::f64::consts::PI.sqrt() / (z + f)
    }
}

pub fn gelu64(x: f64) -> f64 {
    0.5 * x * erfc64(-x / std::f64::consts::SQRT_2)
}

/// f64 reference of `x · wᵀ` for dequantized operands.
pub fn matmul64(x: &[f64], m: usize, k: usize, w: &[f64], n: usize) -> Vec<f64> {
    let mut y = vec![0.0; m * n];
    for r in 0..m {
        for c in 0..n {
            y[r * n + c] = (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum();
        }
    }
    y
}

pub fn dequant64(blocks: &[BlockQ8_0]) -> Vec<f64> {
    blocks
        .iter()
        .flat_map(|b| b.qs.map(|q| f64::from(b.d.to_f32()) * f64::from(q)))
        .collect()
}
