//! The fused epilogues (`Kernels::*_quantize`) against the unfused sequence on the scalar tier:
//! the f32 outputs, the quantized activations and a Q8_0 matmul over them must be the same bits
//! on every ISA, for any shape (rows 0, 1, odd, prime; widths of 1, odd and prime 32-blocks).

mod common;

use common::*;
use ggufembed_kernels::{
    BlockQ8_0, Kernels, NormParams, QK8_0, QuantizedActivations, WeightRows, quantize_row_q8_0,
};
use proptest::prelude::*;

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// Everything a consumer reads from `qa`, as bits; plus a Q8_0 matmul over it on `k`'s tier
/// (which reads the unsigned codes on AVX-512).
fn fingerprint(k: &Kernels, qa: &QuantizedActivations, w: &[BlockQ8_0], n: usize) -> Vec<u32> {
    let mut out = vec![qa.m() as u32, qa.k() as u32];
    for r in 0..qa.m() {
        out.extend(qa.row_codes(r).iter().map(|&c| c as u8 as u32));
        out.extend(bits(qa.row_scales(r)));
        out.extend(qa.row_sums(r).iter().map(|&s| s as u32));
        out.extend(bits(qa.row_dsums(r)));
    }
    let mut y = vec![0.0f32; qa.m() * n];
    let bias: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 1.0).collect();
    k.gemm_q8_0_cols(qa, WeightRows::new(w, n, Some(&bias)), &mut y);
    out.extend(bits(&y));
    out
}

/// `n` rows of Q8_0 weights over `k` inputs.
fn weights(k: usize, n: usize) -> Vec<BlockQ8_0> {
    let wf: Vec<f32> = (0..n * k)
        .map(|i| ((i * 53 % 89) as f32 - 44.0) * 0.007)
        .collect();
    let mut w = vec![BlockQ8_0::default(); n * k / QK8_0];
    for (row, out) in wf.chunks(k).zip(w.chunks_mut(k / QK8_0)) {
        quantize_row_q8_0(row, out);
    }
    w
}

/// Shapes: rows 0, 1, 2, 3, 5, 7, 13; 32-blocks per row 1, 2, 3, 5, 7, 9, 13 (k up to 416,
/// past the GELU kernel's 256-value chunk), with the values of `mixed_f32`.
fn case() -> impl Strategy<Value = (usize, usize, Vec<f32>, Vec<f32>)> {
    (
        prop::sample::select(vec![0usize, 1, 2, 3, 5, 7, 13]),
        prop::sample::select(vec![1usize, 2, 3, 5, 7, 9, 13]),
    )
        .prop_flat_map(|(m, nb)| {
            let k = nb * QK8_0;
            (
                Just(m),
                Just(k),
                prop::collection::vec(mixed_f32(), m * k),
                prop::collection::vec(mixed_f32(), 3 * k),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn bias_gelu_quantize_is_add_bias_gelu_then_quantize((m, k, x, p) in case()) {
        let bias = &p[..k];
        let w = weights(k, 19);
        let mut want_x = x.clone();
        scalar().add_bias_gelu(&mut want_x, bias);
        let mut want = QuantizedActivations::new();
        want.quantize_with(scalar(), &want_x, m, k);
        let want = fingerprint(scalar(), &want, &w, 19);
        for (isa, kern) in isas() {
            let mut qa = QuantizedActivations::new();
            kern.bias_gelu_quantize(&x, bias, &mut qa);
            prop_assert_eq!(&fingerprint(kern, &qa, &w, 19), &want, "{:?} m={} k={}", isa, m, k);
        }
    }

    #[test]
    fn add_layer_norm_quantize_is_add_layer_norm_then_quantize(
        (m, k, x, p) in case(), with_beta in any::<bool>()
    ) {
        let res: Vec<f32> = x.iter().rev().map(|v| v * 0.5).collect();
        let gamma: Vec<f32> = p[..k].iter().map(|g| 1.0 + g.clamp(-1.0, 1.0)).collect();
        let beta = with_beta.then_some(&p[k..2 * k]);
        let w = weights(k, 21);
        let mut want_x = x.clone();
        scalar().add_layer_norm(&mut want_x, &res, k, &gamma, beta, 1e-12);
        let mut want = QuantizedActivations::new();
        want.quantize_with(scalar(), &want_x, m, k);
        let want = fingerprint(scalar(), &want, &w, 21);
        for (isa, kern) in isas() {
            let mut got_x = x.clone();
            let mut qa = QuantizedActivations::new();
            kern.add_layer_norm_quantize(&mut got_x, &res, k, NormParams { gamma: &gamma, beta, eps: 1e-12 }, &mut qa);
            prop_assert_eq!(bits(&got_x), bits(&want_x), "{:?} x m={} k={}", isa, m, k);
            prop_assert_eq!(&fingerprint(kern, &qa, &w, 21), &want, "{:?} m={} k={}", isa, m, k);
        }
    }

    #[test]
    fn layer_norm_and_rms_norm_quantize_are_the_norm_then_quantize(
        (m, k, x, p) in case()
    ) {
        let gamma: Vec<f32> = p[..k].iter().map(|g| 1.0 + g.clamp(-1.0, 1.0)).collect();
        let beta = &p[k..2 * k];
        let w = weights(k, 17);
        let mut ln_x = x.clone();
        scalar().layer_norm(&mut ln_x, k, &gamma, Some(beta), 1e-5);
        let mut rms_x = x.clone();
        scalar().rms_norm(&mut rms_x, k, &gamma, 1e-6);
        let mut qa = QuantizedActivations::new();
        qa.quantize_with(scalar(), &ln_x, m, k);
        let want_ln = fingerprint(scalar(), &qa, &w, 17);
        qa.quantize_with(scalar(), &rms_x, m, k);
        let want_rms = fingerprint(scalar(), &qa, &w, 17);
        for (isa, kern) in isas() {
            let mut got = x.clone();
            let mut qa = QuantizedActivations::new();
            kern.layer_norm_quantize(&mut got, k, &gamma, Some(beta), 1e-5, &mut qa);
            prop_assert_eq!(bits(&got), bits(&ln_x), "{:?} layer_norm m={} k={}", isa, m, k);
            prop_assert_eq!(&fingerprint(kern, &qa, &w, 17), &want_ln, "{:?} m={}", isa, m);
            let mut got = x.clone();
            kern.rms_norm_quantize(&mut got, k, &gamma, 1e-6, &mut qa);
            prop_assert_eq!(bits(&got), bits(&rms_x), "{:?} rms_norm m={} k={}", isa, m, k);
            prop_assert_eq!(&fingerprint(kern, &qa, &w, 17), &want_rms, "{:?} m={}", isa, m);
        }
    }
}

/// NaN and infinities (a corrupt model's activations): a group with a NaN takes the in-order
/// `amax` fold, so even then the bits are the unfused sequence's.
#[test]
fn non_finite_values_give_the_unfused_bits() {
    // 512 values: two 16-group batches per row on AVX-512, so a batch with a NaN (row 0), a
    // NaN-free batch with an infinity (row 1) and, in RMSNorm, subnormal groups whose `1/d` is
    // infinite (row 2), all meet the lane-parallel quantizer.
    let k = 512;
    let mut x: Vec<f32> = (0..3 * k).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    for (i, v) in [
        (k + 300, f32::INFINITY),
        (k + 301, -2.5),
        (0, f32::NAN),
        (5, f32::INFINITY),
        (17, f32::NEG_INFINITY),
        (40, f32::NAN),
        (47, -f32::NAN),
        (150, f32::NAN),
        (151, 1e38),
        (200, f32::INFINITY),
    ] {
        x[i] = v;
    }
    let bias: Vec<f32> = (0..k).map(|i| i as f32 * 0.01).collect();
    let w = weights(k, 5);
    for (isa, kern) in isas() {
        // RMSNorm: a row with a NaN or an infinity turns wholly non-finite (every group NaN).
        // Tiny weights over two groups make row 2's values there subnormal.
        let mut gamma = vec![1.0f32; k];
        gamma[256..288].fill(1e-40);
        let mut got_x = x.clone();
        let mut qa = QuantizedActivations::new();
        kern.rms_norm_quantize(&mut got_x, k, &gamma, 1e-6, &mut qa);
        let mut want_x = x.clone();
        scalar().rms_norm(&mut want_x, k, &gamma, 1e-6);
        let mut want_n = QuantizedActivations::new();
        want_n.quantize_with(scalar(), &want_x, 3, k);
        assert_eq!(
            fingerprint(kern, &qa, &w, 5),
            fingerprint(scalar(), &want_n, &w, 5),
            "{isa:?} rms_norm"
        );
        // bias+GELU: NaN only in the groups that held a non-finite value, finite groups beside.
        let mut g = x.clone();
        scalar().add_bias_gelu(&mut g, &bias);
        assert!(g.iter().any(|v| v.is_nan()) && g[64..80].iter().all(|v| v.is_finite()));
        let mut want = QuantizedActivations::new();
        want.quantize_with(scalar(), &g, 3, k);
        kern.bias_gelu_quantize(&x, &bias, &mut qa);
        assert_eq!(
            fingerprint(kern, &qa, &w, 5),
            fingerprint(scalar(), &want, &w, 5),
            "{isa:?} bias_gelu"
        );
    }
}

/// A scratch reused from a larger shape is resized, not left with stale rows.
#[test]
fn a_reused_scratch_takes_the_new_shape() {
    let k = 64;
    let bias = vec![0.1f32; k];
    let big: Vec<f32> = (0..5 * k).map(|i| i as f32 * 0.01 - 1.0).collect();
    let mut qa = QuantizedActivations::new();
    scalar().bias_gelu_quantize(&big, &bias, &mut qa);
    assert_eq!((qa.m(), qa.k()), (5, k));
    scalar().bias_gelu_quantize(&big[..2 * k], &bias, &mut qa);
    assert_eq!((qa.m(), qa.k()), (2, k));
    let mut fresh = QuantizedActivations::new();
    scalar().bias_gelu_quantize(&big[..2 * k], &bias, &mut fresh);
    let w = weights(k, 3);
    assert_eq!(
        fingerprint(scalar(), &qa, &w, 3),
        fingerprint(scalar(), &fresh, &w, 3)
    );
}

#[test]
#[should_panic(expected = "not a multiple of 32")]
fn widths_that_are_not_whole_blocks_are_refused() {
    let mut qa = QuantizedActivations::new();
    scalar().bias_gelu_quantize(&[0.0; 48], &[0.0; 48], &mut qa);
}
