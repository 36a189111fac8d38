//! Q8_0 quantization and matmul: ggml bit-exactness, cross-ISA bit identity, row independence,
//! column ranges and error budgets.

mod common;

use common::*;
use ggufembed_kernels::{
    BlockQ8_0, QK_ACT, QK8_0, QuantizedActivations, WeightRows, quantize_row_q8_0,
};
use half::f16;
use proptest::prelude::*;

#[test]
fn quantizer_rounds_half_away_from_zero_like_roundf() {
    // amax = 127 gives d = 1, id = 1: 2.5 -> 3 and -2.5 -> -3 (rint would give 2 / -2).
    let mut x = [0.0f32; 32];
    x[0] = 127.0;
    x[1] = 2.5;
    x[2] = -2.5;
    x[3] = 0.5;
    let mut b = [BlockQ8_0::default()];
    quantize_row_q8_0(&x, &mut b);
    assert_eq!(b[0].d.to_f32(), 1.0);
    assert_eq!(&b[0].qs[..4], &[127, 3, -3, 1]);
    // All zeros: d = 0, id = 0, q = 0.
    quantize_row_q8_0(&[0.0; 32], &mut b);
    assert_eq!(b[0], BlockQ8_0::default());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn quantization_is_bit_identical_to_ggml_ref(
        x in prop::collection::vec(mixed_f32(), 1..8usize).prop_flat_map(|v| {
            let nb = v.len();
            prop::collection::vec(mixed_f32(), nb * QK8_0)
        })
    ) {
        let want = ggml_quantize_row_q8_0_ref(&x);
        let mut got = vec![BlockQ8_0::default(); x.len() / QK8_0];
        quantize_row_q8_0(&x, &mut got);
        prop_assert_eq!(&got, &want);
    }

    /// Activations: ggml's Q8_0 rounding applied per 16 values, with the scale kept in f32.
    #[test]
    fn activations_are_quantized_per_16_values(
        (m, k, x) in (1..=3usize, 1..=5usize).prop_flat_map(|(m, nb)| (
            Just(m), Just(nb * QK8_0), prop::collection::vec(mixed_f32(), m * nb * QK8_0),
        ))
    ) {
        for (isa, kern) in isas() {
            let mut qa = QuantizedActivations::new();
            qa.quantize_with(kern, &x, m, k);
            prop_assert_eq!((qa.m(), qa.k()), (m, k));
            for r in 0..m {
                let (codes, scales) = (qa.row_codes(r), qa.row_scales(r));
                prop_assert_eq!((codes.len(), scales.len()), (k, k / QK_ACT));
                for (s, xs) in x[r * k..(r + 1) * k].chunks(QK_ACT).enumerate() {
                    let (d, q) = act_quantize_ref(xs);
                    prop_assert_eq!(scales[s].to_bits(), d.to_bits(), "{:?} r={} s={}", isa, r, s);
                    prop_assert_eq!(
                        &codes[s * QK_ACT..(s + 1) * QK_ACT], &q[..], "{:?} r={} s={}", isa, r, s
                    );
                }
            }
        }
    }
}

/// The activation format, written out independently: ggml's `quantize_row_q8_0_ref` arithmetic
/// on 16 values, `d` left in f32.
fn act_quantize_ref(xs: &[f32]) -> (f32, Vec<i8>) {
    let amax = xs
        .iter()
        .fold(0.0f32, |a, &v| if a > v.abs() { a } else { v.abs() });
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    (d, xs.iter().map(|&v| (v * id).round() as i8).collect())
}

#[allow(clippy::type_complexity)]
fn case() -> impl Strategy<
    Value = (
        usize,
        usize,
        usize,
        Vec<f32>,
        Vec<BlockQ8_0>,
        Option<Vec<f32>>,
    ),
> {
    case_shaped(1..=13, 1..=37, 1..=7)
}

/// A random case with `m`, `n` and the number of blocks per row drawn from the given ranges.
#[allow(clippy::type_complexity)]
fn case_shaped(
    ms: std::ops::RangeInclusive<usize>,
    ns: std::ops::RangeInclusive<usize>,
    nbs: std::ops::RangeInclusive<usize>,
) -> impl Strategy<
    Value = (
        usize,
        usize,
        usize,
        Vec<f32>,
        Vec<BlockQ8_0>,
        Option<Vec<f32>>,
    ),
> {
    (ms, ns, nbs, any::<bool>()).prop_flat_map(|(m, n, nb, with_bias)| {
        (
            Just(m),
            Just(n),
            Just(nb * QK8_0),
            prop::collection::vec(mixed_f32(), m * nb * QK8_0),
            q8_blocks(n * nb),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Every ISA equals the scalar oracle bit for bit, and every row equals the same row
    /// computed alone and inside a differently placed 3-row window.
    #[test]
    fn every_isa_matches_scalar_and_rows_are_independent((m, n, k, x, w, bias) in case()) {
        let mut qa = QuantizedActivations::new();
        let mut want = vec![0.0f32; m * n];
        scalar().gemm_q8_0(&x, m, k, WeightRows::new(&w[..], n, bias.as_deref()), &mut want, &mut qa);
        for (isa, kern) in isas() {
            let mut y = vec![f32::NAN; m * n];
            kern.gemm_q8_0(&x, m, k, WeightRows::new(&w[..], n, bias.as_deref()), &mut y, &mut qa);
            prop_assert!(y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{isa}: differs from scalar");
            for r in 0..m {
                let mut y1 = vec![0.0f32; n];
                kern.gemm_q8_0(&x[r * k..(r + 1) * k], 1, k, WeightRows::new(&w[..], n, bias.as_deref()), &mut y1, &mut qa);
                prop_assert!(y1.iter().zip(&y[r * n..(r + 1) * n]).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{isa}: row {r} alone differs");
                // The row as the last row of a window starting up to 2 rows earlier.
                let s = r.saturating_sub(2);
                let mw = r + 1 - s;
                let mut yw = vec![0.0f32; mw * n];
                kern.gemm_q8_0(&x[s * k..(r + 1) * k], mw, k, WeightRows::new(&w[..], n, bias.as_deref()), &mut yw, &mut qa);
                prop_assert!(yw[(mw - 1) * n..].iter().zip(&y[r * n..(r + 1) * n]).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{isa}: row {r} in window differs");
            }
        }
    }

    /// Column ranges write exactly their columns, with the full call's values.
    #[test]
    fn column_ranges_write_only_their_columns((m, n, k, x, w, bias) in case(), a in 0usize..64, b in 0usize..64) {
        let (n0, n1) = { let (p, q) = (a % (n + 1), b % (n + 1)); (p.min(q), p.max(q)) };
        let mut qa = QuantizedActivations::new();
        qa.quantize(&x, m, k);
        for (isa, kern) in isas() {
            let mut full = vec![0.0f32; m * n];
            kern.gemm_q8_0_cols(&qa, WeightRows::new(&w[..], n, bias.as_deref()), &mut full);
            let mut part = vec![-7.0f32; m * n];
            kern.gemm_q8_0_cols(&qa, WeightRows::new(&w[..], n, bias.as_deref()).cols(n0, n1), &mut part);
            for r in 0..m {
                for c in 0..n {
                    let want = if (n0..n1).contains(&c) { full[r * n + c] } else { -7.0 };
                    prop_assert_eq!(part[r * n + c].to_bits(), want.to_bits(), "{} r={} c={}", isa, r, c);
                }
            }
        }
    }

    /// Integer block sums are exact: with unit scales the result is the exact integer dot.
    #[test]
    fn integer_block_sums_are_exact(
        nb in 1..=6usize, n in 1..=11usize,
        seed in prop::collection::vec(any::<i8>(), 6 * 32 * 11),
        xs in prop::collection::vec(-127i8..=127, 6 * 32),
    ) {
        let k = nb * QK8_0;
        // x = q exactly: 16 values containing 127 quantize with d = 1 to themselves.
        let mut x: Vec<f32> = xs[..k].iter().map(|&q| f32::from(q)).collect();
        for s in 0..k / QK_ACT { x[s * QK_ACT] = 127.0; }
        let w: Vec<BlockQ8_0> = (0..n * nb).map(|i| BlockQ8_0 {
            d: f16::from_f32(1.0),
            qs: seed[i * 32..(i + 1) * 32].try_into().unwrap(),
        }).collect();
        let mut qa = QuantizedActivations::new();
        for (isa, kern) in isas() {
            let mut y = vec![0.0f32; n];
            kern.gemm_q8_0(&x, 1, k, WeightRows::new(&w[..], n, None), &mut y, &mut qa);
            for c in 0..n {
                let exact: i64 = (0..k).map(|i| x[i] as i64 * i64::from(w[c * nb + i / 32].qs[i % 32])).sum();
                prop_assert_eq!(y[c], exact as f32, "{}", isa);
            }
        }
    }

    /// Error budget against the unquantized f64 product: each quantized x differs from x by at
    /// most d/2 with `d = amax/127` of its own 16 values (the f32 scale is not rounded further),
    /// and float accumulation adds K·eps relative.
    #[test]
    fn quantization_error_stays_within_budget(
        (m, n, k, x, w) in (1..=5usize, 1..=9usize, 1..=12usize).prop_flat_map(|(m, n, nb)| (
            Just(m), Just(n), Just(nb * QK8_0),
            prop::collection::vec(-100.0f32..100.0, m * nb * QK8_0),
            q8_blocks(n * nb),
        ))
    ) {
        let mut qa = QuantizedActivations::new();
        let mut y = vec![0.0f32; m * n];
        scalar().gemm_q8_0(&x, m, k, WeightRows::new(&w[..], n, None), &mut y, &mut qa);
        let wd = dequant64(&w);
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let exact = matmul64(&x64, m, k, &wd, n);
        for r in 0..m {
            for c in 0..n {
                let mut budget = 0.0;
                let mut mag = 0.0;
                for s in 0..k / QK_ACT {
                    let (o, e) = (s * QK_ACT, (s + 1) * QK_ACT);
                    let amax = x[r * k + o..r * k + e].iter().fold(0.0f64, |a, &v| a.max(f64::from(v).abs()));
                    let d = amax / 127.0;
                    let wabs: f64 = wd[c * k + o..c * k + e].iter().map(|v| v.abs()).sum();
                    budget += 0.5 * d * wabs;
                    mag += 1.1 * amax * wabs;
                }
                budget += mag * (k as f64) * f64::from(f32::EPSILON);
                let err = (f64::from(y[r * n + c]) - exact[r * n + c]).abs();
                prop_assert!(err <= budget * 1.0001 + 1e-30, "r={} c={} err={} budget={}", r, c, err, budget);
            }
        }
    }
}

#[test]
#[should_panic(expected = "not a multiple of 32")]
fn k_must_be_a_multiple_of_32() {
    let mut qa = QuantizedActivations::new();
    qa.quantize(&[0.0; 33], 1, 33);
}

#[test]
#[should_panic(expected = "w must hold")]
fn weight_shape_is_checked() {
    let mut qa = QuantizedActivations::new();
    let mut y = [0.0; 2];
    ggufembed_kernels::gemm_q8_0(
        &[0.0; 32],
        1,
        32,
        WeightRows::new(&[BlockQ8_0::default()][..], 2, None),
        &mut y,
        &mut qa,
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// K long enough to span several k-chunks of the x86 drivers (16 blocks on AVX-512, 32 on
    /// AVX2, a ragged last one), with odd and prime M and N (row tiles and column strips with
    /// tails): every ISA equals scalar bit for bit, and a column range equals the full call.
    #[test]
    fn k_chunked_shapes_match_scalar(
        (m, n, k, x, w, bias) in case_shaped(1..=13, 1..=41, 15..=71),
        a in 0usize..64,
    ) {
        let mut qa = QuantizedActivations::new();
        let mut want = vec![0.0f32; m * n];
        scalar().gemm_q8_0(&x, m, k, WeightRows::new(&w[..], n, bias.as_deref()), &mut want, &mut qa);
        let n0 = a % (n + 1);
        for (isa, kern) in isas() {
            let mut y = vec![f32::NAN; m * n];
            kern.gemm_q8_0(&x, m, k, WeightRows::new(&w[..], n, bias.as_deref()), &mut y, &mut qa);
            prop_assert!(y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{isa}: differs from scalar (m={m} k={k} n={n})");
            let mut part = vec![-7.0f32; m * n];
            kern.gemm_q8_0_cols(&qa, WeightRows::new(&w[..], n, bias.as_deref()).cols(n0, n), &mut part);
            for (i, (&p, &f)) in part.iter().zip(&want).enumerate() {
                let want = if i % n >= n0 { f } else { -7.0 };
                prop_assert_eq!(p.to_bits(), want.to_bits(), "{} cols {}.. at {}", isa, n0, i);
            }
        }
    }
}

/// Shapes large enough that the drivers split N into several L2-sized column blocks (with a
/// ragged last block): still bit-identical to scalar and row-independent on every ISA.
#[test]
fn large_shapes_span_several_column_blocks() {
    let (m, k, n) = (7, 32 * 64, 150);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 97.0)
        .collect();
    let w: Vec<BlockQ8_0> = (0..n * k / QK8_0)
        .map(|i| BlockQ8_0 {
            d: f16::from_f32(1e-3 * (1 + i % 7) as f32),
            qs: std::array::from_fn(|j| ((i * 31 + j * 17) % 256) as u8 as i8),
        })
        .collect();
    let bias: Vec<f32> = (0..n).map(|c| c as f32 * 0.25).collect();
    let mut qa = QuantizedActivations::new();
    let mut want = vec![0.0f32; m * n];
    scalar().gemm_q8_0(
        &x,
        m,
        k,
        WeightRows::new(&w[..], n, Some(&bias)),
        &mut want,
        &mut qa,
    );
    for (isa, kern) in isas() {
        let mut y = vec![0.0f32; m * n];
        kern.gemm_q8_0(
            &x,
            m,
            k,
            WeightRows::new(&w[..], n, Some(&bias)),
            &mut y,
            &mut qa,
        );
        assert!(
            y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{isa}"
        );
        let mut y1 = vec![0.0f32; n];
        kern.gemm_q8_0(
            &x[3 * k..4 * k],
            1,
            k,
            WeightRows::new(&w[..], n, Some(&bias)),
            &mut y1,
            &mut qa,
        );
        assert_eq!(&y1[..], &y[3 * n..4 * n], "{isa} row 3");
    }
}

/// One channel 1000× larger than the rest of its block no longer destroys the block: with one
/// scale per 32 values (the old format, recomputed here) the other half-block's values all
/// quantize to 0 (relative error 1); with one scale per 16 they keep full int8 resolution
/// (measured: ≤ 8e-4 relative).
#[test]
fn an_outlier_only_coarsens_its_own_half_block() {
    let (m, nb, n) = (4, 3, 5);
    let k = nb * QK8_0;
    // Row r has one outlier per block at position p(r, b), alternating halves; ordinary values
    // are pseudo-random in [0.1, 1.1) and weights positive, so no sum cancels.
    let pos = |r: usize, b: usize| (r * 7 + b * 13) % QK8_0;
    let mut x: Vec<f32> = (0..m * k)
        .map(|i| 0.1 + (i * 7919 % 2003) as f32 / 2003.0)
        .collect();
    for r in 0..m {
        for b in 0..nb {
            x[r * k + b * QK8_0 + pos(r, b)] = 1000.0 * if (r + b) % 2 == 0 { 1.0 } else { -1.0 };
        }
    }
    // W (per row of X, since the outlier's half differs): weights only in the half without the
    // outlier, so the exact product is that of the ordinary values alone.
    for r in 0..m {
        let w: Vec<BlockQ8_0> = (0..n * nb)
            .map(|i| {
                let b = i % nb;
                let skip = pos(r, b) / QK_ACT;
                BlockQ8_0 {
                    d: f16::from_f32(0.01 * (1 + i % 3) as f32),
                    qs: std::array::from_fn(|j| {
                        if j / QK_ACT == skip {
                            0
                        } else {
                            ((i * 31 + j * 17) % 127 + 1) as i8
                        }
                    }),
                }
            })
            .collect();
        let xr = &x[r * k..(r + 1) * k];
        let wd = dequant64(&w);
        let x64: Vec<f64> = xr.iter().map(|&v| f64::from(v)).collect();
        let exact = matmul64(&x64, 1, k, &wd, n);
        // The old format: ggml Q8_0 on 32 values (f16 scale), dequantized, in f64.
        let old_x: Vec<f64> = ggml_quantize_row_q8_0_ref(xr)
            .iter()
            .flat_map(|b| b.qs.map(|q| f64::from(b.d.to_f32()) * f64::from(q)))
            .collect();
        let old = matmul64(&old_x, 1, k, &wd, n);
        let mut qa = QuantizedActivations::new();
        for (isa, kern) in isas() {
            let mut y = vec![0.0f32; n];
            kern.gemm_q8_0(xr, 1, k, WeightRows::new(&w[..], n, None), &mut y, &mut qa);
            for c in 0..n {
                let scale = exact[c].abs();
                let new_rel = (f64::from(y[c]) - exact[c]).abs() / scale;
                let old_rel = (old[c] - exact[c]).abs() / scale;
                assert!(
                    new_rel < 2e-3 && old_rel > 0.5,
                    "{isa} r={r} c={c}: new {new_rel:.2e} vs old {old_rel:.2e} (exact {})",
                    exact[c]
                );
            }
        }
    }
}
