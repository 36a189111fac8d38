//! Elementwise kernels against f64 references, and bit identity across ISAs.

mod common;

use common::*;
use ggufembed_kernels::{BlockQ8_0, Kernels};
use half::{bf16, f16};
use proptest::prelude::*;

fn rel_close(got: f32, want: f64, rel: f64, abs: f64) -> bool {
    (f64::from(got) - want).abs() <= rel * want.abs() + abs
}

/// Runs `f` on every ISA and checks that all produce the scalar tier's bits.
fn same_bits_everywhere(input: &[f32], f: impl Fn(&Kernels, &mut Vec<f32>)) -> Vec<f32> {
    let mut want = input.to_vec();
    f(scalar(), &mut want);
    for (isa, k) in isas() {
        let mut got = input.to_vec();
        f(k, &mut got);
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
            "{isa} differs from scalar"
        );
    }
    want
}

/// The exact (erf) GELU against `x·Φ(x)` in f64 on every ISA: the bounds stated on `math::gelu`.
/// `|gelu − x·Φ(x)| ≤ 2.0e-7·|x|` everywhere (the error of Φ is absolute; measured 1.98e-7),
/// and relative ≤ 2.0e-7 for x ≥ 0 and ≤ 3.4e-7 for x ∈ [-1, 0) (measured 1.98e-7, 3.34e-7).
#[test]
fn gelu_erf_matches_f64() {
    // A dense grid of [-10, 10] (step 2.5e-5, both sides of the ±6 edge), the subnormal and
    // tiny normal range, and huge values.
    let mut xs: Vec<f32> = (-400_000..=400_000).map(|i| i as f32 * 2.5e-5).collect();
    for b in (0..23)
        .map(|k| 1u32 << k)
        .chain((0..255).map(|e| e << 23 | 0x2f_1234))
    {
        let m = f32::from_bits(b);
        xs.extend([m, -m]);
    }
    xs.extend([
        f32::MIN_POSITIVE / 3.0,
        -f32::MIN_POSITIVE / 3.0,
        f32::MAX,
        f32::MIN,
    ]);
    for (isa, k) in isas() {
        let mut y = xs.clone();
        k.gelu(&mut y);
        let (mut worst_abs_over_x, mut worst_rel_pos, mut worst_rel_neg1) =
            (0.0f64, 0.0f64, 0.0f64);
        let mut worst_abs = (0.0f64, 0.0f32);
        for (&x, &g) in xs.iter().zip(&y) {
            let (x64, want) = (f64::from(x), gelu64(f64::from(x)));
            assert!(g.is_finite(), "{isa}: gelu({x}) = {g}");
            let err = (f64::from(g) - want).abs();
            // Underflowed halves of subnormals are off by their own rounding: allow 1 subnormal ulp.
            let over_x = (err - 1.5e-45).max(0.0) / x64.abs().max(f64::MIN_POSITIVE);
            worst_abs_over_x = worst_abs_over_x.max(over_x);
            if err > worst_abs.0 {
                worst_abs = (err, x);
            }
            let rel = (err - 1.5e-45).max(0.0) / want.abs().max(f64::MIN_POSITIVE);
            if x >= 0.0 {
                worst_rel_pos = worst_rel_pos.max(rel);
            } else if x >= -1.0 {
                worst_rel_neg1 = worst_rel_neg1.max(rel);
            }
            assert!(
                over_x <= 2.0e-7,
                "{isa}: gelu({x}) = {g}, want {want}: error {err:e} > 2.0e-7·|x|"
            );
            assert!(
                (g <= 0.0) == (x <= 0.0) || g == 0.0,
                "{isa}: gelu({x}) = {g} has the wrong sign"
            );
        }
        println!(
            "{isa}: max |Δ|/|x| {worst_abs_over_x:.3e}, max rel (x ≥ 0) {worst_rel_pos:.3e}, \
             max rel (x in [-1, 0)) {worst_rel_neg1:.3e}, max |Δ| {:.3e} at {}",
            worst_abs.0, worst_abs.1
        );
        assert!(
            worst_rel_pos <= 2.0e-7,
            "{isa}: relative error {worst_rel_pos:e} for x ≥ 0"
        );
        assert!(
            worst_rel_neg1 <= 3.4e-7,
            "{isa}: relative error {worst_rel_neg1:e} on [-1, 0)"
        );
    }
    // Specials, the same bits on every ISA: limits at ±inf, signed zeros kept, NaN propagated.
    let specials = [
        0.0f32,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        20.0,
        -30.0,
        1e30,
        -1e30,
    ];
    let got = same_bits_everywhere(&specials, |k, v| k.gelu(v));
    assert_eq!(got[0].to_bits(), 0.0f32.to_bits());
    assert_eq!(got[1].to_bits(), (-0.0f32).to_bits());
    assert_eq!(got[2], f32::INFINITY);
    assert_eq!(got[3].to_bits(), (-0.0f32).to_bits());
    assert!(got[4].is_nan());
    assert_eq!((got[5], got[7]), (20.0, 1e30));
    assert_eq!(
        (got[6].to_bits(), got[8].to_bits()),
        ((-0.0f32).to_bits(), (-0.0f32).to_bits())
    );
    // The grid itself is bit-identical across ISAs too.
    same_bits_everywhere(&xs, |k, v| k.gelu(v));
}

#[test]
fn gelu_tanh_and_silu_match_f64() {
    let xs: Vec<f32> = (-40_000..=40_000).map(|i| i as f32 * 2.5e-4).collect(); // [-10, 10]
    for (isa, k) in isas() {
        let (mut g, mut s) = (xs.clone(), xs.clone());
        k.gelu_tanh(&mut g);
        k.silu(&mut s);
        for ((&x, &gv), &sv) in xs.iter().zip(&g).zip(&s) {
            let x64 = f64::from(x);
            let u = (2.0 / std::f64::consts::PI).sqrt() * (x64 + 0.044715 * x64 * x64 * x64);
            let gw = x64 / (1.0 + (-2.0 * u).exp()); // = 0.5·x·(1 + tanh u), no cancellation
            // exp(-2u) amplifies the f32 rounding of u: allow eps·|2u| on top.
            let rel = 2e-6 + 4.0 * f64::from(f32::EPSILON) * (2.0 * u).abs();
            assert!(
                rel_close(gv, gw, rel, 1e-30),
                "{isa}: gelu_tanh({x}) = {gv}, want {gw}"
            );
            let sw = x64 / (1.0 + (-x64).exp());
            assert!(
                rel_close(sv, sw, 1e-6, 1e-30),
                "{isa}: silu({x}) = {sv}, want {sw}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn norms_match_f64_and_all_isas_agree(
        (rows, dim, x, g, b) in (1..=4usize, 1..=300usize).prop_flat_map(|(rows, dim)| (
            Just(rows), Just(dim),
            prop::collection::vec(-50.0f32..50.0, rows * dim),
            prop::collection::vec(-2.0f32..2.0, dim),
            prop::collection::vec(-2.0f32..2.0, dim),
        )),
        res_scale in -1.0f32..1.0,
    ) {
        let eps = 1e-5f32;
        let ln = same_bits_everywhere(&x, |k, v| k.layer_norm(v, dim, &g, Some(&b), eps));
        let rms = same_bits_everywhere(&x, |k, v| k.rms_norm(v, dim, &g, eps));
        let residual: Vec<f32> = x.iter().map(|v| v * res_scale).collect();
        let fused = same_bits_everywhere(&x, |k, v| k.add_layer_norm(v, &residual, dim, &g, Some(&b), eps));
        let mut unfused = x.clone();
        ggufembed_kernels::residual_add(&mut unfused, &residual);
        ggufembed_kernels::layer_norm(&mut unfused, dim, &g, Some(&b), eps);
        prop_assert_eq!(fused, unfused);
        for r in 0..rows {
            let row: Vec<f64> = x[r * dim..(r + 1) * dim].iter().map(|&v| f64::from(v)).collect();
            let mean = row.iter().sum::<f64>() / dim as f64;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / dim as f64;
            let ms = row.iter().map(|v| v * v).sum::<f64>() / dim as f64;
            for i in 0..dim {
                let gi = f64::from(g[i]);
                let want_ln = (row[i] - mean) / (var + f64::from(eps)).sqrt() * gi + f64::from(b[i]);
                // Cancellation in (x - mean) scales with |x| / std.
                let scale = (row[i].abs() + mean.abs()) / (var + f64::from(eps)).sqrt();
                prop_assert!(rel_close(ln[r * dim + i], want_ln, 1e-5, 1e-5 * (1.0 + scale) * gi.abs() + 1e-6),
                    "ln r={} i={} got={} want={}", r, i, ln[r * dim + i], want_ln);
                let want_rms = row[i] / (ms + f64::from(eps)).sqrt() * gi;
                prop_assert!(rel_close(rms[r * dim + i], want_rms, 1e-5, 1e-6), "rms r={} i={}", r, i);
            }
        }
    }

    #[test]
    fn softmax_matches_f64(
        (x, mask) in (1..=200usize).prop_flat_map(|n| (
            prop::collection::vec(-30.0f32..30.0, n),
            prop::collection::vec(prop_oneof![4 => Just(0.0f32), 1 => Just(f32::NEG_INFINITY), 1 => -5.0f32..0.0], n),
        )),
        scale in 0.05f32..2.0,
    ) {
        let y = same_bits_everywhere(&x, |k, v| k.softmax(v, scale, Some(&mask)));
        let z: Vec<f64> = x.iter().zip(&mask).map(|(&v, &m)| f64::from(v) * f64::from(scale) + f64::from(m)).collect();
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            prop_assert!(y.iter().all(|&v| v == 0.0));
        } else {
            let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
            for (i, &v) in y.iter().enumerate() {
                let want = (z[i] - max).exp() / sum;
                // The f32 argument x·scale + mask carries eps·(|z| + |max|) absolute error.
                if z[i] == f64::NEG_INFINITY {
                    prop_assert_eq!(v, 0.0);
                    continue;
                }
                let rel = 1e-6 + 2.0 * f64::from(f32::EPSILON) * (z[i].abs() + max.abs());
                // exp flushes results below the smallest normal (1.18e-38) to zero.
                prop_assert!(rel_close(v, want, rel, 1.2e-38), "i={} got={} want={}", i, v, want);
            }
        }
    }

    #[test]
    fn pooling_normalize_and_glu_match_f64(
        (t, dim, x) in (1..=9usize, 1..=70usize).prop_flat_map(|(t, dim)| (
            Just(t), Just(dim), prop::collection::vec(-10.0f32..10.0, t * dim),
        )),
    ) {
        for (isa, k) in isas() {
            let mut out = vec![0.0f32; dim];
            let t0 = t / 3;
            k.mean_pool(&x, dim, t0, t, &mut out);
            for i in 0..dim {
                let want = (t0..t).map(|r| f64::from(x[r * dim + i])).sum::<f64>() / (t - t0) as f64;
                prop_assert!(rel_close(out[i], want, 1e-5, 1e-5), "{} pool", isa);
            }
            let mut v = x[..dim].to_vec();
            k.l2_normalize(&mut v);
            let norm = x[..dim].iter().map(|&a| f64::from(a) * f64::from(a)).sum::<f64>().sqrt();
            for i in 0..dim {
                if norm > 0.0 {
                    prop_assert!(rel_close(v[i], f64::from(x[i]) / norm, 1e-6, 1e-7), "{} l2", isa);
                }
            }
            let (gate, up) = (&x[..dim], &x[x.len() - dim..]);
            let (mut gg, mut sg) = (vec![0.0; dim], vec![0.0; dim]);
            k.geglu(gate, up, &mut gg);
            k.swiglu(gate, up, &mut sg);
            let mut gelu = gate.to_vec();
            k.gelu(&mut gelu);
            let mut silu = gate.to_vec();
            k.silu(&mut silu);
            for i in 0..dim {
                prop_assert_eq!(gg[i], gelu[i] * up[i]);
                prop_assert_eq!(sg[i], silu[i] * up[i]);
            }
            let mut fused = x.clone();
            k.add_bias_gelu(&mut fused, up);
            let mut unfused = x.clone();
            k.add_bias(&mut unfused, up);
            k.gelu(&mut unfused);
            prop_assert_eq!(fused, unfused);
        }
    }
}

#[test]
fn dequantization_is_exact() {
    let blocks: Vec<BlockQ8_0> = (0..3)
        .map(|b| BlockQ8_0 {
            d: f16::from_f32(0.01 * (b as f32 + 1.0)),
            qs: std::array::from_fn(|i| (i as i32 * 9 - 128 + b) as i8),
        })
        .collect();
    let want: Vec<f32> = blocks
        .iter()
        .flat_map(|b| b.qs.map(|q| b.d.to_f32() * f32::from(q)))
        .collect();
    let halves: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
    let bfs: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
    for (isa, k) in isas() {
        let mut out = vec![0.0f32; 96];
        k.dequantize_row_q8_0(&blocks, &mut out);
        assert_eq!(out, want, "{isa} q8_0");
        let mut out = vec![0.0f32; halves.len()];
        k.dequantize_row_f16(&halves, &mut out);
        for (h, o) in halves.iter().zip(&out) {
            assert!(
                h.to_f32().to_bits() == o.to_bits() || (h.is_nan() && o.is_nan()),
                "{isa} f16 {h:?}"
            );
        }
        k.dequantize_row_bf16(&bfs, &mut out);
        for (h, o) in bfs.iter().zip(&out) {
            assert!(
                h.to_f32().to_bits() == o.to_bits() || (h.is_nan() && o.is_nan()),
                "{isa} bf16 {h:?}"
            );
        }
    }
}

#[test]
fn transcendental_kernels_agree_bitwise_across_isas() {
    let xs: Vec<f32> = (-30_000..30_000).map(|i| i as f32 * 7e-4).collect();
    same_bits_everywhere(&xs, |k, v| k.gelu(v));
    same_bits_everywhere(&xs, |k, v| k.gelu_tanh(v));
    same_bits_everywhere(&xs, |k, v| k.silu(v));
}
