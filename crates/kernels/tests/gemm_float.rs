//! F32/F16/BF16 matmul: accuracy against f64, row independence and column ranges per ISA.

mod common;

use common::*;
use ggufembed_kernels::FloatWeights;
use half::{bf16, f16};
use proptest::prelude::*;

#[allow(clippy::type_complexity)]
fn case() -> impl Strategy<Value = (usize, usize, usize, Vec<f32>, Vec<f32>, Option<Vec<f32>>)> {
    (1..=11usize, 1..=23usize, 1..=97usize, any::<bool>()).prop_flat_map(|(m, n, k, with_bias)| {
        (
            Just(m),
            Just(n),
            Just(k),
            prop::collection::vec(mixed_f32(), m * k),
            prop::collection::vec(-2.0f32..2.0, n * k),
            if with_bias {
                prop::collection::vec(-2.0f32..2.0, n)
                    .prop_map(Some)
                    .boxed()
            } else {
                Just(None).boxed()
            },
        )
    })
}

fn weights<'a>(fmt: usize, w: &'a [f32], h: &'a [f16], b: &'a [bf16]) -> FloatWeights<'a> {
    match fmt {
        0 => FloatWeights::F32(w),
        1 => FloatWeights::F16(h),
        _ => FloatWeights::Bf16(b),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn float_gemm_is_accurate_row_independent_and_ranged(
        (m, n, k, x, w, bias) in case(), a in 0usize..64, b in 0usize..64,
    ) {
        let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
        let (n0, n1) = { let (p, q) = (a % (n + 1), b % (n + 1)); (p.min(q), p.max(q)) };
        for fmt in 0..3 {
            let wf = weights(fmt, &w, &wh, &wb);
            let w64: Vec<f64> = match wf {
                FloatWeights::F32(v) => v.iter().map(|&v| f64::from(v)).collect(),
                FloatWeights::F16(v) => v.iter().map(|&v| f64::from(v.to_f32())).collect(),
                FloatWeights::Bf16(v) => v.iter().map(|&v| f64::from(v.to_f32())).collect(),
            };
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let exact = matmul64(&x64, m, k, &w64, n);
            for (isa, kern) in isas() {
                let mut y = vec![f32::NAN; m * n];
                kern.gemm_float_cols(&x, m, k, wf, n, bias.as_deref(), 0, n, &mut y);
                for r in 0..m {
                    for c in 0..n {
                        let mag: f64 = (0..k).map(|i| (x64[r * k + i] * w64[c * k + i]).abs()).sum();
                        let bb = bias.as_ref().map_or(0.0, |b| f64::from(b[c]));
                        let want = exact[r * n + c] + bb;
                        let tol = (k as f64 + 2.0) * f64::from(f32::EPSILON) * (mag + bb.abs()) + 1e-37;
                        let got = f64::from(y[r * n + c]);
                        prop_assert!((got - want).abs() <= tol, "{} fmt={} r={} c={} got={} want={}", isa, fmt, r, c, got, want);
                    }
                    let mut y1 = vec![0.0f32; n];
                    kern.gemm_float_cols(&x[r * k..(r + 1) * k], 1, k, wf, n, bias.as_deref(), 0, n, &mut y1);
                    prop_assert!(y1.iter().zip(&y[r * n..(r + 1) * n]).all(|(p, q)| p.to_bits() == q.to_bits()),
                        "{} fmt={}: row {} alone differs", isa, fmt, r);
                }
                let mut part = vec![-7.0f32; m * n];
                kern.gemm_float_cols(&x, m, k, wf, n, bias.as_deref(), n0, n1, &mut part);
                for i in 0..m * n {
                    let want = if (n0..n1).contains(&(i % n)) { y[i] } else { -7.0 };
                    prop_assert_eq!(part[i].to_bits(), want.to_bits(), "{} fmt={} i={}", isa, fmt, i);
                }
            }
        }
    }
}

#[test]
fn f16_and_bf16_weights_equal_their_f32_widening() {
    let (m, n, k) = (5, 7, 77);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 31 % 17) as f32 - 8.0) * 0.1)
        .collect();
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 13 % 23) as f32 - 11.0) * 0.07)
        .collect();
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let wh32: Vec<f32> = wh.iter().map(|v| v.to_f32()).collect();
    let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let wb32: Vec<f32> = wb.iter().map(|v| v.to_f32()).collect();
    for (isa, kern) in isas() {
        let (mut a, mut b) = (vec![0.0; m * n], vec![0.0; m * n]);
        kern.gemm_f16(&x, m, k, &wh, n, None, &mut a);
        kern.gemm_f32(&x, m, k, &wh32, n, None, &mut b);
        assert_eq!(a, b, "{isa} f16");
        kern.gemm_bf16(&x, m, k, &wb, n, None, &mut a);
        kern.gemm_f32(&x, m, k, &wb32, n, None, &mut b);
        assert_eq!(a, b, "{isa} bf16");
    }
}

#[test]
#[should_panic(expected = "w.len() must be n * k")]
fn float_shapes_are_checked() {
    let mut y = [0.0; 2];
    ggufembed_kernels::gemm_f32(&[0.0; 4], 1, 4, &[0.0; 7], 2, None, &mut y);
}

/// Large K and N: several L2 column blocks, K tails, row independence.
#[test]
fn large_shapes_span_several_column_blocks() {
    let (m, k, n) = (6, 2051, 150);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 1001.0)
        .collect();
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 104_729 % 1009) as f32 - 504.0) / 5040.0)
        .collect();
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let mut want = vec![0.0f32; m * n];
    scalar().gemm_f16(&x, m, k, &wh, n, None, &mut want);
    for (isa, kern) in isas() {
        let mut y = vec![0.0f32; m * n];
        kern.gemm_f16(&x, m, k, &wh, n, None, &mut y);
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{isa}: {a} vs {b}");
        }
        let mut y1 = vec![0.0f32; n];
        kern.gemm_f16(&x[5 * k..], 1, k, &wh, n, None, &mut y1);
        assert_eq!(&y1[..], &y[5 * n..], "{isa} row 5");
    }
}
