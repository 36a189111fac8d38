//! F32/F16/BF16 matmul: accuracy against f64, row independence and column ranges per ISA, and
//! bit equality of every ISA with the scalar oracle.

mod common;

use common::*;
use ggufembed_kernels::{FloatWeights, Isa, WeightRows, kernels_for};
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
                kern.gemm_float_cols(&x, m, k, WeightRows::new(wf, n, bias.as_deref()), &mut y);
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
                    kern.gemm_float_cols(&x[r * k..(r + 1) * k], 1, k, WeightRows::new(wf, n, bias.as_deref()), &mut y1);
                    prop_assert!(y1.iter().zip(&y[r * n..(r + 1) * n]).all(|(p, q)| p.to_bits() == q.to_bits()),
                        "{} fmt={}: row {} alone differs", isa, fmt, r);
                }
                let mut part = vec![-7.0f32; m * n];
                kern.gemm_float_cols(&x, m, k, WeightRows::new(wf, n, bias.as_deref()).cols(n0, n1), &mut part);
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
        kern.gemm_f16(&x, m, k, WeightRows::new(&wh[..], n, None), &mut a);
        kern.gemm_f32(&x, m, k, WeightRows::new(&wh32[..], n, None), &mut b);
        assert_eq!(a, b, "{isa} f16");
        kern.gemm_bf16(&x, m, k, WeightRows::new(&wb[..], n, None), &mut a);
        kern.gemm_f32(&x, m, k, WeightRows::new(&wb32[..], n, None), &mut b);
        assert_eq!(a, b, "{isa} bf16");
    }
}

#[test]
#[should_panic(expected = "w.len() must be n * k")]
fn float_shapes_are_checked() {
    let mut y = [0.0; 2];
    ggufembed_kernels::gemm_f32(
        &[0.0; 4],
        1,
        4,
        WeightRows::new(&[0.0; 7][..], 2, None),
        &mut y,
    );
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
    scalar().gemm_f16(&x, m, k, WeightRows::new(&wh[..], n, None), &mut want);
    for (isa, kern) in isas() {
        let mut y = vec![0.0f32; m * n];
        kern.gemm_f16(&x, m, k, WeightRows::new(&wh[..], n, None), &mut y);
        for (i, (a, b)) in y.iter().zip(&want).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{isa} output {i}: {a} vs scalar {b}"
            );
        }
        let mut y1 = vec![0.0f32; n];
        kern.gemm_f16(
            &x[5 * k..],
            1,
            k,
            WeightRows::new(&wh[..], n, None),
            &mut y1,
        );
        assert_eq!(&y1[..], &y[5 * n..], "{isa} row 5");
    }
}

/// A size for the bit-equality cases: 0, 1, odd and prime sizes, lane and tile edges, and
/// anything up to 300.
fn size(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => prop::sample::select(vec![0usize, 1, 2, 3, 5, 7, 13, 15, 16, 17, 31, 32, 33, 97, 127, 128, 129, 257]),
        1 => 0..=max,
    ]
    .prop_map(move |v| v.min(max))
}

/// Weight values: the bits of any finite f16 (subnormals included), so the same numbers are
/// exact in F32, F16 and (all but the low mantissa bits) BF16.
fn weight() -> impl Strategy<Value = f32> {
    any::<u16>()
        .prop_map(|b| f16::from_bits(b).to_f32())
        .prop_filter("finite", |v| v.is_finite())
}

#[allow(clippy::type_complexity)]
fn shapes() -> impl Strategy<Value = (usize, usize, usize, Vec<f32>, Vec<f32>, Option<Vec<f32>>)> {
    (size(9), size(40), size(300), any::<bool>()).prop_flat_map(|(m, n, k, with_bias)| {
        (
            Just(m),
            Just(n),
            Just(k),
            prop::collection::vec(mixed_f32(), m * k),
            prop::collection::vec(weight(), n * k),
            if with_bias {
                prop::collection::vec(mixed_f32(), n).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            },
        )
    })
}

/// Every format of `(m, n, k, x, w, bias)` on `isa` against the scalar oracle, bit for bit (a
/// column range too); `Ok(false)` when this CPU lacks `isa`.
#[allow(clippy::type_complexity)]
fn matches_scalar(
    isa: Isa,
    (m, n, k, x, w, bias): &(usize, usize, usize, Vec<f32>, Vec<f32>, Option<Vec<f32>>),
    cut: usize,
) -> Result<bool, TestCaseError> {
    let Some(kern) = kernels_for(isa) else {
        return Ok(false);
    };
    let (m, n, k) = (*m, *n, *k);
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let (n0, n1) = (cut % (n + 1), n);
    for fmt in 0..3 {
        let wf = weights(fmt, w, &wh, &wb);
        let (mut want, mut got) = (vec![f32::NAN; m * n], vec![f32::NAN; m * n]);
        scalar().gemm_float_cols(x, m, k, WeightRows::new(wf, n, bias.as_deref()), &mut want);
        kern.gemm_float_cols(x, m, k, WeightRows::new(wf, n, bias.as_deref()), &mut got);
        for i in 0..m * n {
            prop_assert_eq!(
                got[i].to_bits(),
                want[i].to_bits(),
                "{} fmt={} m={} n={} k={} output {}: {} vs scalar {}",
                isa,
                fmt,
                m,
                n,
                k,
                i,
                got[i],
                want[i]
            );
        }
        let mut part = vec![f32::NAN; m * n];
        kern.gemm_float_cols(
            x,
            m,
            k,
            WeightRows::new(wf, n, bias.as_deref()).cols(n0, n1),
            &mut part,
        );
        for i in (0..m * n).filter(|i| (n0..n1).contains(&(i % n))) {
            prop_assert_eq!(
                part[i].to_bits(),
                want[i].to_bits(),
                "{} fmt={} cols {}..{} output {}",
                isa,
                fmt,
                n0,
                n1,
                i
            );
        }
    }
    Ok(true)
}

/// One bit-equality property per ISA tier (a tier this CPU lacks passes, saying it skipped).
macro_rules! bit_identical_to_scalar {
    ($($name:ident => $isa:expr),* $(,)?) => {$(
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            #[test]
            fn $name(case in shapes(), cut in 0usize..64) {
                if !matches_scalar($isa, &case, cut)? {
                    eprintln!("SKIPPED: {} is not available on this CPU", $isa);
                }
            }
        }
    )*};
}

bit_identical_to_scalar! {
    avx2_float_gemm_is_bit_identical_to_scalar => Isa::Avx2,
    avx512_float_gemm_is_bit_identical_to_scalar => Isa::Avx512,
    neon_float_gemm_is_bit_identical_to_scalar => Isa::Neon,
}

/// The lane tree is the canonical one: with a single 1 in lane `l` and huge values that cancel
/// elsewhere, the result tells which lanes were paired first.
#[test]
fn every_isa_sums_the_lanes_in_the_canonical_tree() {
    // x = e_l-style rows against w = 1: s[l] = x[l] (k = 16, one FMA per lane).
    let k = 16;
    let w = vec![1.0f32; k];
    let mut cases = Vec::new();
    for a in 0..16 {
        for b in 0..16 {
            if a != b {
                let mut x = vec![0.0f32; k];
                x[a] = 1.0e8;
                x[b] = -1.0e8;
                x[(a + 3) % 16] += 1.0;
                cases.push(x);
            }
        }
    }
    let m = cases.len();
    let x: Vec<f32> = cases.concat();
    let mut want = vec![0.0f32; m];
    scalar().gemm_f32(&x, m, k, WeightRows::new(&w[..], 1, None), &mut want);
    // The oracle itself: h8[l] = s[l] + s[l + 8], then +4, +2, +1.
    for (x, &got) in x.chunks(k).zip(&want) {
        let h8: Vec<f32> = (0..8).map(|l| x[l] + x[l + 8]).collect();
        let h4: Vec<f32> = (0..4).map(|l| h8[l] + h8[l + 4]).collect();
        let h2: Vec<f32> = (0..2).map(|l| h4[l] + h4[l + 2]).collect();
        assert_eq!(got.to_bits(), (h2[0] + h2[1]).to_bits());
    }
    for (isa, kern) in isas() {
        let mut y = vec![0.0f32; m];
        kern.gemm_f32(&x, m, k, WeightRows::new(&w[..], 1, None), &mut y);
        assert_eq!(y, want, "{isa}");
    }
}
