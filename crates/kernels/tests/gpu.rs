//! The GPU shaders (feature `gpu`) against f64 references, on whatever adapter the machine has
//! (Mesa's lavapipe in CI). Without an adapter the tests print SKIPPED, unless
//! `GGUFEMBED_REQUIRE_GPU=1` (set by CI) makes that a failure.
#![cfg(feature = "gpu")]

mod common;

use std::sync::OnceLock;

use common::*;
use ggufembed_kernels::gpu::{
    AdapterPolicy, AttentionShape, GpuAttentionInputs, GpuBuffer, GpuContext, GpuNormParams,
    GpuPass, GpuWeightData, PoolMode,
};
use ggufembed_kernels::{BlockQ8_0, QK8_0};
use half::{bf16, f16};
use proptest::prelude::*;

fn ctx() -> Option<&'static GpuContext> {
    static CTX: OnceLock<Option<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| match GpuContext::new(AdapterPolicy::AllowSoftware) {
        Ok(c) => {
            eprintln!("gpu tests on {}", c.adapter());
            Some(c)
        }
        Err(e) => {
            if std::env::var("GGUFEMBED_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("GGUFEMBED_REQUIRE_GPU=1 but {e}");
            }
            eprintln!("SKIPPED: {e}");
            None
        }
    })
    .as_ref()
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn upload(c: &GpuContext, v: &[f32]) -> GpuBuffer {
    c.upload_f32("test input", v).unwrap()
}

fn run(pass: GpuPass<'_>, src: &GpuBuffer, len: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; len];
    pass.submit_and_read(src, &mut out).unwrap();
    out
}

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= tol * scale,
            "{what}: element {i}: got {g}, want {w} (scale {scale})"
        );
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    F32,
    F16,
    Bf16,
    Q8_0,
}

/// Weights of `kind` for an `n × k` matrix, and their exact f32 values.
fn weights(kind: Kind, k: usize, n: usize, seed: u64) -> (Vec<f32>, Stored) {
    let v = values(k * n, seed);
    match kind {
        Kind::F32 => (v.clone(), Stored::F32(v)),
        Kind::F16 => {
            let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
            (h.iter().map(|x| x.to_f32()).collect(), Stored::F16(h))
        }
        Kind::Bf16 => {
            let h: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
            (h.iter().map(|x| x.to_f32()).collect(), Stored::Bf16(h))
        }
        Kind::Q8_0 => {
            let b = ggml_quantize_row_q8_0_ref(&v);
            let exact = b
                .iter()
                .flat_map(|b| b.qs.iter().map(move |&q| f32::from(q) * b.d.to_f32()))
                .collect();
            (exact, Stored::Q8(b))
        }
    }
}

enum Stored {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Bf16(Vec<bf16>),
    Q8(Vec<BlockQ8_0>),
}

impl Stored {
    fn data(&self) -> GpuWeightData<'_> {
        match self {
            Stored::F32(v) => GpuWeightData::F32(v),
            Stored::F16(v) => GpuWeightData::F16(v),
            Stored::Bf16(v) => GpuWeightData::Bf16(v),
            Stored::Q8(v) => GpuWeightData::Q8_0(v),
        }
    }
}

fn gelu64(x: f64) -> f64 {
    // Φ(x) via erfc, from the libm-free identity erfc(z) = 1 - erf(z); f64 series is enough.
    0.5 * x * (1.0 + erf64(x / std::f64::consts::SQRT_2))
}

/// erf by its Taylor series (|z| < 3) or continued fraction tail (|z| ≥ 3): f64-accurate for
/// the test's inputs.
fn erf64(z: f64) -> f64 {
    if z.abs() >= 3.0 {
        // erfc(z) ≈ exp(-z²)/(z√π) · (1 - 1/(2z²) + 3/(4z⁴)): < 1e-6 absolute at |z| ≥ 3.
        let a = z.abs();
        let t = (-a * a).exp() / (a * std::f64::consts::PI.sqrt())
            * (1.0 - 1.0 / (2.0 * a * a) + 3.0 / (4.0 * a.powi(4)));
        return z.signum() * (1.0 - t);
    }
    let mut sum = 0.0;
    let mut term = z;
    let mut n = 0.0;
    while term.abs() > 1e-17 {
        sum += term / (2.0 * n + 1.0);
        n += 1.0;
        term *= -z * z / n;
    }
    2.0 / std::f64::consts::PI.sqrt() * sum
}

fn check_matmul(kind: Kind, m: usize, k: usize, n: usize, bias: bool, gelu: bool) {
    let Some(c) = ctx() else { return };
    let x = values(m * k, 1 + m as u64);
    let (w_exact, stored) = weights(kind, k, n, 7 + n as u64);
    let b = values(n, 99);
    let w = c.upload_matrix("w", stored.data(), k, n).unwrap();
    let (xb, bb, yb) = (upload(c, &x), upload(c, &b), c.buffer("y", m * n).unwrap());
    let mut pass = GpuPass::new(c);
    pass.matmul(&xb, m, &w, bias.then_some(&bb), gelu, &yb);
    let got = run(pass, &yb, m * n);
    let want: Vec<f64> = (0..m * n)
        .map(|e| {
            let (r, col) = (e / n, e % n);
            let mut s: f64 = (0..k)
                .map(|i| f64::from(x[r * k + i]) * f64::from(w_exact[col * k + i]))
                .sum();
            if bias {
                s += f64::from(b[col]);
            }
            if gelu { gelu64(s) } else { s }
        })
        .collect();
    assert_close(&got, &want, 2e-5, &format!("matmul {kind:?} {m}x{k}x{n}"));
}

#[test]
fn matmul_every_weight_type_and_epilogue() {
    for kind in [Kind::F32, Kind::F16, Kind::Bf16, Kind::Q8_0] {
        let k = if matches!(kind, Kind::Q8_0) { 96 } else { 37 };
        check_matmul(kind, 1, k, 1, false, false);
        check_matmul(kind, 67, k, 131, true, false);
        check_matmul(kind, 130, k, 64, true, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn matmul_shapes(m in 0usize..150, kb in 1usize..5, n in 1usize..140, q8 in any::<bool>()) {
        let (kind, k) = if q8 { (Kind::Q8_0, kb * QK8_0) } else { (Kind::F32, kb * 13) };
        check_matmul(kind, m, k, n, true, false);
    }
}

/// A row's result does not depend on what else is in the batch, nor on its place in a tile.
#[test]
fn matmul_rows_are_bit_identical_in_any_batch() {
    let Some(c) = ctx() else { return };
    let (k, n) = (64, 100);
    let (_, stored) = weights(Kind::Q8_0, k, n, 3);
    let w = c.upload_matrix("w", stored.data(), k, n).unwrap();
    let x = values(130 * k, 5);
    let big = {
        let (xb, yb) = (upload(c, &x), c.buffer("y", 130 * n).unwrap());
        let mut p = GpuPass::new(c);
        p.matmul(&xb, 130, &w, None, true, &yb);
        run(p, &yb, 130 * n)
    };
    for r in [0, 63, 64, 129] {
        let (xb, yb) = (upload(c, &x[r * k..(r + 1) * k]), c.buffer("y", n).unwrap());
        let mut p = GpuPass::new(c);
        p.matmul(&xb, 1, &w, None, true, &yb);
        let one = run(p, &yb, n);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&big[r * n..(r + 1) * n]), "row {r}");
    }
}

#[test]
fn gather_rows_and_accumulate() {
    let Some(c) = ctx() else { return };
    for kind in [Kind::F32, Kind::F16, Kind::Bf16, Kind::Q8_0] {
        let (d, rows) = (64, 9);
        let (table, stored) = weights(kind, d, rows, 11);
        let (t2, stored2) = weights(kind, d, 1, 12);
        let w = c.upload_matrix("table", stored.data(), d, rows).unwrap();
        let w2 = c.upload_matrix("type", stored2.data(), d, 1).unwrap();
        let idx: Vec<u32> = vec![3, 0, 8, 3, 5];
        let ib = c.buffer("idx", idx.len()).unwrap();
        c.write(&ib, &idx);
        let y = c.buffer("y", idx.len() * d).unwrap();
        let mut p = GpuPass::new(c);
        p.gather(&w, Some(&ib), idx.len(), false, &y);
        p.gather(&w2, None, idx.len(), true, &y);
        let got = run(p, &y, idx.len() * d);
        let want: Vec<f64> = idx
            .iter()
            .flat_map(|&r| (0..d).map(move |i| (r as usize, i)))
            .map(|(r, i)| f64::from(table[r * d + i]) + f64::from(t2[i]))
            .collect();
        assert_close(&got, &want, 1e-6, &format!("gather {kind:?}"));
    }
}

#[test]
fn layer_norm_with_and_without_residual() {
    let Some(c) = ctx() else { return };
    for (t, d) in [(1, 1), (5, 384), (3, 1000), (2, 63)] {
        let x = values(t * d, 21);
        let r = values(t * d, 22);
        let (g, b) = (values(d, 23), values(d, 24));
        for residual in [false, true] {
            let xb = upload(c, &x);
            let (rb, gb, bb) = (upload(c, &r), upload(c, &g), upload(c, &b));
            let mut p = GpuPass::new(c);
            let norm = GpuNormParams {
                gamma: &gb,
                beta: &bb,
                eps: 1e-12,
            };
            p.layer_norm(&xb, residual.then_some(&rb), t, d, norm);
            let got = run(p, &xb, t * d);
            let mut want = Vec::new();
            for row in 0..t {
                let v: Vec<f64> = (0..d)
                    .map(|i| {
                        f64::from(x[row * d + i])
                            + if residual {
                                f64::from(r[row * d + i])
                            } else {
                                0.0
                            }
                    })
                    .collect();
                let mean = v.iter().sum::<f64>() / d as f64;
                let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / d as f64;
                let inv = 1.0 / (var + 1e-12).sqrt();
                want.extend(
                    v.iter()
                        .enumerate()
                        .map(|(i, a)| (a - mean) * inv * f64::from(g[i]) + f64::from(b[i])),
                );
            }
            // d = 1: the deviation is exactly 0, so the output is beta exactly.
            assert_close(
                &got,
                &want,
                1e-5,
                &format!("layer_norm {t}x{d} residual={residual}"),
            );
        }
    }
}

fn check_attention(lens: &[usize], n_head: usize, n_kv: usize, hd: usize, causal: bool) {
    let Some(c) = ctx() else { return };
    let t: usize = lens.iter().sum();
    let (qs, kvs) = (n_head * hd, n_kv * hd);
    let q = values(t * qs, 31);
    let k = values(t * kvs, 32);
    let v = values(t * kvs, 33);
    let mut tok_seq = Vec::new();
    let mut start = 0;
    for &l in lens {
        for _ in 0..l {
            tok_seq.extend([start as u32, l as u32]);
        }
        start += l;
    }
    let ts = c.buffer("tok_seq", tok_seq.len()).unwrap();
    c.write(&ts, &tok_seq);
    let (qb, kb, vb) = (upload(c, &q), upload(c, &k), upload(c, &v));
    let out = c.buffer("out", t * qs).unwrap();
    let scale = 1.0 / (hd as f32).sqrt();
    let shape = AttentionShape {
        n_head,
        n_kv_head: n_kv,
        head_dim: hd,
        q_stride: qs,
        kv_stride: kvs,
        causal,
        scale,
    };
    let mut p = GpuPass::new(c);
    let inputs = GpuAttentionInputs {
        q: &qb,
        k: &kb,
        v: &vb,
        tok_seq: &ts,
    };
    p.attention(inputs, t, &shape, &out);
    let got = run(p, &out, t * qs);
    let mut want = vec![0.0f64; t * qs];
    let mut start = 0;
    for &l in lens {
        for i in 0..l {
            for h in 0..n_head {
                let g = h / (n_head / n_kv);
                let visible = if causal { i + 1 } else { l };
                let s: Vec<f64> = (0..visible)
                    .map(|j| {
                        (0..hd)
                            .map(|e| {
                                f64::from(q[(start + i) * qs + h * hd + e])
                                    * f64::from(k[(start + j) * kvs + g * hd + e])
                            })
                            .sum::<f64>()
                            * f64::from(scale)
                    })
                    .collect();
                let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|x| (x - mx).exp()).sum();
                for e in 0..hd {
                    want[(start + i) * qs + h * hd + e] = s
                        .iter()
                        .enumerate()
                        .map(|(j, x)| {
                            (x - mx).exp() / z * f64::from(v[(start + j) * kvs + g * hd + e])
                        })
                        .sum();
                }
            }
        }
        start += l;
    }
    assert_close(
        &got,
        &want,
        2e-5,
        &format!("attention {lens:?} h{n_head}/{n_kv} d{hd}"),
    );
}

#[test]
fn attention_packed_sequences() {
    // Lengths around the 64-key block; a sequence of one token; GQA; heads wider than 64.
    check_attention(&[1, 5, 64, 65, 130], 3, 3, 32, false);
    check_attention(&[7, 70], 4, 2, 100, false);
    check_attention(&[9, 66], 2, 1, 256, true);
}

#[test]
fn pool_and_normalize() {
    let Some(c) = ctx() else { return };
    let d = 70;
    let lens = [1usize, 4, 9];
    let t: usize = lens.iter().sum();
    let x = values(t * d, 41);
    let mut seqs = Vec::new();
    let mut start = 0;
    for &l in &lens {
        seqs.extend([start as u32, l as u32]);
        start += l;
    }
    let sb = c.buffer("seqs", seqs.len()).unwrap();
    c.write(&sb, &seqs);
    let xb = upload(c, &x);
    for mode in [PoolMode::Mean, PoolMode::First, PoolMode::Last] {
        let out = c.buffer("out", lens.len() * d).unwrap();
        let mut p = GpuPass::new(c);
        p.pool(&xb, &sb, lens.len(), d, mode, &out);
        p.l2_normalize(&out, lens.len(), d);
        let got = run(p, &out, lens.len() * d);
        let mut want = Vec::new();
        let mut start = 0;
        for &l in &lens {
            let row: Vec<f64> = (0..d)
                .map(|i| match mode {
                    PoolMode::Mean => {
                        (0..l)
                            .map(|t| f64::from(x[(start + t) * d + i]))
                            .sum::<f64>()
                            / l as f64
                    }
                    PoolMode::First => f64::from(x[start * d + i]),
                    PoolMode::Last => f64::from(x[(start + l - 1) * d + i]),
                })
                .collect();
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            want.extend(row.iter().map(|v| v / norm));
            start += l;
        }
        assert_close(&got, &want, 1e-6, &format!("pool {mode:?} + l2_normalize"));
    }
}

#[test]
fn uploads_refuse_mismatched_shapes() {
    let Some(c) = ctx() else { return };
    let v = vec![0.0f32; 10];
    let e = c
        .upload_matrix("w", GpuWeightData::F32(&v), 3, 4)
        .unwrap_err();
    assert!(e.to_string().contains("10 values given for 4 × 3"), "{e}");
    let b = vec![BlockQ8_0::default(); 2];
    let e = c
        .upload_matrix("q", GpuWeightData::Q8_0(&b), 48, 1)
        .unwrap_err();
    assert!(e.to_string().contains("not a multiple of 32"), "{e}");
}
