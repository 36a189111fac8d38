//! Every ggml block format: dequantization bit-identical to ggml's reference dequantizers on
//! random blocks, matmul bit-identical across ISAs and to the scalar oracle whatever the shape,
//! tile or column range, within the quantization error of an f64 reference, and the generic path
//! on Q8_0 bit-identical to the dedicated Q8_0 matmul.

mod common;

use common::ggml_ref;
use common::*;
use ggufembed_kernels::{BlockQ8_0, QuantType, QuantizedActivations, WeightRows};
use half::f16;
use proptest::prelude::*;

/// Random blocks of `ty` for `k`-wide rows: random bytes with every f16 field set to a finite
/// scale over several decades (of either sign, as llama-quantize writes for mins).
fn random_rows(ty: QuantType, n: usize, k: usize, seed: u64) -> Vec<u8> {
    let (size, qk, halves) = ggml_ref::layout(ty.name());
    assert_eq!((size, qk), (ty.block_bytes(), ty.block_size()));
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let blocks = n * k / qk;
    let mut out = vec![0u8; blocks * size];
    for b in out.chunks_exact_mut(size) {
        for v in b.iter_mut() {
            *v = next() as u8;
        }
        for &o in halves {
            let mag = [1e-4f32, 1e-3, 1e-2, 0.1][(next() % 4) as usize];
            let v =
                (next() % 2001) as f32 / 1000.0 * mag * if next() % 2 == 0 { 1.0 } else { -1.0 };
            b[o..o + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
        }
    }
    out
}

#[test]
fn block_sizes_are_ggmls() {
    for ty in QuantType::ALL {
        let (size, qk, _) = ggml_ref::layout(ty.name());
        assert_eq!((ty.block_bytes(), ty.block_size()), (size, qk), "{ty}");
        assert_eq!(QuantType::from_ggml_id(ty.ggml_id()), Some(ty));
    }
    assert_eq!(
        QuantType::from_ggml_id(16),
        None,
        "IQ2_XXS is not computed with"
    );
    assert_eq!(QuantType::Q4K.row_bytes(384), None);
    assert_eq!(QuantType::Q4K.row_bytes(512), Some(288));
}

#[test]
fn dequantize_matches_ggml_reference_on_random_blocks() {
    for ty in QuantType::ALL {
        for seed in 0..40 {
            let k = 2 * QK_K.max(ty.block_size());
            let bytes = random_rows(ty, 1, k, seed);
            let want = ggml_ref::dequantize_row(ty.name(), &bytes);
            let mut got = vec![f32::NAN; k];
            ty.dequantize_row(&bytes, &mut got);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "{ty} seed {seed} weight {i}: {g} vs {w}"
                );
            }
        }
    }
}

const QK_K: usize = 256;

/// Dequantized W (via the reference), X and the f64 product.
fn reference(x: &[f32], m: usize, k: usize, w: &[f32], n: usize, bias: &[f32]) -> Vec<f64> {
    let mut y = vec![0.0f64; m * n];
    for r in 0..m {
        for c in 0..n {
            let dot: f64 = (0..k)
                .map(|i| x[r * k + i] as f64 * w[c * k + i] as f64)
                .sum();
            y[r * n + c] = dot + bias[c] as f64;
        }
    }
    y
}

fn check_shape(
    ty: QuantType,
    m: usize,
    kb: usize,
    n: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let k = kb * ty.block_size().max(32);
    let w = random_rows(ty, n, k, seed);
    let x: Vec<f32> = (0..m * k)
        .map(|i| (((i as u64 * 2654435761 + seed) % 2001) as f32 / 1000.0 - 1.0) * 2.0)
        .collect();
    let bias: Vec<f32> = (0..n).map(|i| i as f32 * 0.01 - 0.1).collect();
    let mut qa = QuantizedActivations::new();
    let mut y0 = vec![0.0f32; m * n];
    scalar().gemm_quant(
        &x,
        m,
        k,
        WeightRows::new((ty, &w[..]), n, Some(&bias)),
        &mut y0,
        &mut qa,
    );
    // Against f64 on the dequantized weights: the activations' 8-bit rounding is the only error.
    let wf = ggml_ref::dequantize_row(ty.name(), &w);
    let want = reference(&x, m, k, &wf, n, &bias);
    for r in 0..m {
        let row_scale: f64 = (0..n)
            .map(|c| {
                (0..k)
                    .map(|i| (x[r * k + i] as f64 * wf[c * k + i] as f64).abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        for c in 0..n {
            let err = (y0[r * n + c] as f64 - want[r * n + c]).abs();
            prop_assert!(
                err <= 0.01 * row_scale + 1e-6,
                "{} r={} c={} err {} scale {}",
                ty,
                r,
                c,
                err,
                row_scale
            );
        }
    }
    for (isa, kern) in isas() {
        let mut y1 = vec![0.0f32; m * n];
        kern.gemm_quant(
            &x,
            m,
            k,
            WeightRows::new((ty, &w[..]), n, Some(&bias)),
            &mut y1,
            &mut qa,
        );
        for (i, (a, b)) in y0.iter().zip(&y1).enumerate() {
            prop_assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{} {:?} m={} k={} n={} at {}",
                ty,
                isa,
                m,
                k,
                n,
                i
            );
        }
        // A column range computes exactly those columns, bit-identical.
        if n > 2 {
            let (n0, n1) = (1, n - 1);
            let mut y2 = vec![7.0f32; m * n];
            kern.gemm_quant_cols(
                &qa,
                WeightRows::new((ty, &w[..]), n, Some(&bias)).cols(n0, n1),
                &mut y2,
            );
            for r in 0..m {
                for c in 0..n {
                    let v = y2[r * n + c];
                    if (n0..n1).contains(&c) {
                        prop_assert_eq!(v.to_bits(), y0[r * n + c].to_bits());
                    } else {
                        prop_assert_eq!(v, 7.0);
                    }
                }
            }
        }
        // Each row alone gives the same bits as within the batch (no dependence on the tile).
        if m > 1 {
            let r = m - 1;
            let mut yr = vec![0.0f32; n];
            kern.gemm_quant(
                &x[r * k..],
                1,
                k,
                WeightRows::new((ty, &w[..]), n, Some(&bias)),
                &mut yr,
                &mut qa,
            );
            for c in 0..n {
                prop_assert_eq!(
                    yr[c].to_bits(),
                    y0[r * n + c].to_bits(),
                    "{} {:?} row alone",
                    ty,
                    isa
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn matmul_is_bit_identical_across_isas_and_close_to_f64(
        t in 0..QuantType::ALL.len(),
        m in prop_oneof![Just(0usize), Just(1), 2..=9usize],
        kb in 1..=3usize,
        n in prop_oneof![Just(0usize), Just(1), Just(17), Just(37), 2..=40usize],
        seed in any::<u64>(),
    ) {
        check_shape(QuantType::ALL[t], m, kb, n, seed)?;
    }
}

#[test]
fn every_type_on_fixed_shapes_including_several_column_blocks() {
    for ty in QuantType::ALL {
        for (m, kb, n) in [(1, 1, 1), (5, 1, 3), (4, 2, 33), (7, 1, 67), (3, 6, 1100)] {
            check_shape(ty, m, kb, n, 11).unwrap();
        }
    }
}

#[test]
fn generic_path_on_q8_0_is_the_q8_0_matmul() {
    let (m, k, n) = (6, 96, 45);
    let w = random_rows(QuantType::Q8_0, n, k, 3);
    let blocks: Vec<BlockQ8_0> = w
        .chunks_exact(34)
        .map(bytemuck::pod_read_unaligned::<BlockQ8_0>)
        .collect();
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
        .collect();
    let mut qa = QuantizedActivations::new();
    for (isa, kern) in isas() {
        let (mut y0, mut y1) = (vec![0.0; m * n], vec![0.0; m * n]);
        kern.gemm_q8_0(
            &x,
            m,
            k,
            WeightRows::new(&blocks[..], n, None),
            &mut y0,
            &mut qa,
        );
        kern.gemm_quant(
            &x,
            m,
            k,
            WeightRows::new((QuantType::Q8_0, &w[..]), n, None),
            &mut y1,
            &mut qa,
        );
        for (a, b) in y0.iter().zip(&y1) {
            assert_eq!(a.to_bits(), b.to_bits(), "{isa:?}");
        }
    }
}

#[test]
#[should_panic(expected = "w must hold")]
fn a_k_quant_refuses_rows_that_are_not_whole_super_blocks() {
    let mut qa = QuantizedActivations::new();
    let x = vec![0.0f32; 384];
    let mut y = vec![0.0f32; 1];
    scalar().gemm_quant(
        &x,
        1,
        384,
        WeightRows::new((QuantType::Q4K, &[0u8; 216][..]), 1, None),
        &mut y,
        &mut qa,
    );
}

/// For the types that llama.cpp dots with Q8_0 activations (`block_activations`), X is quantized
/// as ggml's `quantize_row_q8_0_ref` quantizes it (codes, and the f16 scale of each 32 values as
/// both halves' scale), on every ISA; for the others as our one scale per 16 values.
#[test]
fn block_activations_are_ggmls_q8_0_quantization() {
    let (m, k) = (3, 160);
    let mut x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 97.0)
        .collect();
    x[40..72].fill(0.0); // an all-zero block: scale 0, codes 0
    x[5] = 1e4; // an outlier
    for (isa, kern) in isas() {
        for ty in QuantType::ALL {
            let mut qa = QuantizedActivations::new();
            qa.quantize_for(kern, ty, &x, m, k);
            let mut plain = QuantizedActivations::new();
            plain.quantize_with(kern, &x, m, k);
            for r in 0..m {
                if !ty.block_activations() {
                    assert_eq!(qa.row_codes(r), plain.row_codes(r), "{isa:?} {ty}");
                    assert_eq!(qa.row_scales(r), plain.row_scales(r), "{isa:?} {ty}");
                    continue;
                }
                let mut blocks = vec![BlockQ8_0::default(); k / 32];
                ggufembed_kernels::quantize_row_q8_0(&x[r * k..(r + 1) * k], &mut blocks);
                for (b, blk) in blocks.iter().enumerate() {
                    assert_eq!(
                        &qa.row_codes(r)[32 * b..32 * b + 32],
                        &blk.qs,
                        "{isa:?} {ty}"
                    );
                    let d = qa.row_scales(r);
                    assert_eq!(d[2 * b].to_bits(), blk.d.to_f32().to_bits(), "{isa:?} {ty}");
                    assert_eq!(
                        d[2 * b + 1].to_bits(),
                        blk.d.to_f32().to_bits(),
                        "{isa:?} {ty}"
                    );
                }
            }
        }
    }
}
