//! Element conversions of the converter: safetensors inputs to `f32`, and `f32` to the GGUF
//! output types, bit-identical to what llama.cpp's `convert_hf_to_gguf.py` writes.
//!
//! * F16 output is numpy's `astype(np.float16)`: IEEE round-to-nearest-even, which is what
//!   [`half::f16::from_f32`] does.
//! * Q8_0 output is ggml's `quantize_row_q8_0_ref` (and gguf-py's numpy `Q8_0.quantize_blocks`,
//!   which reproduces it bit for bit): per block of 32, `d = amax / 127` in `f32`,
//!   `id = d != 0 ? 1/d : 0`, `q = roundf(x * id)` (half away from zero), and `d` stored as
//!   `fp16(d)` rounded to nearest even. The quantizer is the kernels crate's one
//!   ([`ggufembed_kernels::quantize_row_q8_0`], the one the runtime and its tests use); this
//!   module only lays its blocks out as bytes.

use ggufembed_kernels::{BlockQ8_0, QK8_0};
use half::{bf16, f16};

/// Elements per Q8_0 block.
pub const Q8_0_BLOCK: usize = QK8_0;
/// Bytes per Q8_0 block: an `f16` scale and 32 signed bytes.
pub const Q8_0_BLOCK_BYTES: usize = std::mem::size_of::<BlockQ8_0>();

/// Quantizes one block of 32 values into ggml's 34-byte `block_q8_0` (little-endian `f16` scale,
/// then 32 `i8`), exactly as ggml's `quantize_row_q8_0_ref`.
pub fn quantize_block_q8_0(x: &[f32; Q8_0_BLOCK]) -> [u8; Q8_0_BLOCK_BYTES] {
    let mut block = [BlockQ8_0::default()];
    ggufembed_kernels::quantize_row_q8_0(x, &mut block);
    let mut out = [0u8; Q8_0_BLOCK_BYTES];
    out[..2].copy_from_slice(&block[0].d.to_le_bytes());
    for (o, &q) in out[2..].iter_mut().zip(&block[0].qs) {
        *o = q as u8;
    }
    out
}

/// Quantizes a row (or any run of rows) whose length is a multiple of 32 into Q8_0 blocks,
/// exactly as ggml's `quantize_row_q8_0_ref`. Returns `None` when the length is not a
/// multiple of 32.
pub fn quantize_row_q8_0_ref(x: &[f32]) -> Option<Vec<u8>> {
    if !x.len().is_multiple_of(Q8_0_BLOCK) {
        return None;
    }
    let mut blocks = vec![BlockQ8_0::default(); x.len() / Q8_0_BLOCK];
    ggufembed_kernels::quantize_row_q8_0(x, &mut blocks);
    let mut out = Vec::with_capacity(blocks.len() * Q8_0_BLOCK_BYTES);
    for b in &blocks {
        out.extend_from_slice(&b.d.to_le_bytes());
        out.extend(b.qs.iter().map(|&q| q as u8));
    }
    Some(out)
}

/// `f32` values as little-endian F16 bytes, rounding to nearest even (numpy's `astype`).
pub fn f32_to_f16_bytes(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() * 2);
    for &v in x {
        out.extend_from_slice(&f16::from_f32(v).to_le_bytes());
    }
    out
}

/// `f32` values as little-endian bytes.
pub fn f32_to_bytes(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() * 4);
    for &v in x {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Little-endian F32 bytes as values (any alignment).
pub fn f32_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Little-endian F16 bytes widened to `f32` (exact).
pub fn f16_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect()
}

/// Little-endian BF16 bytes widened to `f32` (exact).
pub fn bf16_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(block: [f32; 32]) -> (u16, [i8; 32]) {
        let out = quantize_block_q8_0(&block);
        let d = u16::from_le_bytes([out[0], out[1]]);
        let mut qs = [0i8; 32];
        for (q, &b) in qs.iter_mut().zip(&out[2..]) {
            *q = b as i8;
        }
        (d, qs)
    }

    #[test]
    fn all_zero_block_has_zero_scale_and_zero_quants() {
        let (d, qs) = q([0.0; 32]);
        assert_eq!(d, 0);
        assert_eq!(qs, [0; 32]);
        // Negative zeros too: amax is +0, d is +0.
        let (d, qs) = q([-0.0; 32]);
        assert_eq!(d, 0);
        assert_eq!(qs, [0; 32]);
    }

    #[test]
    fn amax_127_gives_unit_scale_and_identity_quants() {
        let mut b = [0.0f32; 32];
        for (i, v) in b.iter_mut().enumerate() {
            *v = i as f32 * 4.0 - 62.0; // -62 ..= 62
        }
        b[31] = 127.0;
        let (d, qs) = q(b);
        assert_eq!(d, 0x3c00); // fp16(1.0)
        for i in 0..31 {
            assert_eq!(qs[i] as f32, b[i]);
        }
        assert_eq!(qs[31], 127);
    }

    #[test]
    fn ties_round_half_away_from_zero() {
        // amax = 127 -> d = 1, id = 1: x * id is exactly x, so .5 ties go away from zero
        // (roundf), not to even as numpy's np.round would.
        let mut b = [0.0f32; 32];
        b[0] = 127.0;
        b[1] = 0.5;
        b[2] = -0.5;
        b[3] = 1.5;
        b[4] = 2.5;
        b[5] = -2.5;
        b[6] = 0.49999997;
        b[7] = -126.5;
        let (_, qs) = q(b);
        assert_eq!(&qs[..8], &[127, 1, -1, 2, 3, -3, 0, -127]);
    }

    #[test]
    fn amax_at_a_negative_value_maps_to_minus_127() {
        let mut b = [0.0f32; 32];
        b[3] = -2.54;
        b[4] = 1.27;
        b[5] = 0.01;
        let (d, qs) = q(b);
        // d = 2.54 / 127 = 0.02 (f32), fp16 round-to-nearest-even of it:
        assert_eq!(d, f16::from_f32(2.54f32 / 127.0).to_bits());
        assert_eq!(d, 0x251f);
        assert_eq!(qs[3], -127);
        // In f32, 1.27 * id is exactly 63.5 and 0.01 * id exactly 0.5: both ties, both away
        // from zero (numpy's half-to-even np.round would give 64 and 0).
        assert_eq!(qs[4], 64);
        assert_eq!(qs[5], 1);
        let id = 1.0 / (2.54f32 / 127.0);
        assert_eq!(qs[4] as f32, (1.27f32 * id).round());
        assert_eq!(qs[5] as f32, (0.01f32 * id).round());
    }

    #[test]
    fn hand_checked_block_with_fp16_scale_rounding() {
        // amax = 1.0 -> d = 1/127 = 0.007874016 (f32) -> fp16 0x2008 (0.0078735...)
        let mut b = [0.0f32; 32];
        for (i, v) in b.iter_mut().enumerate() {
            *v = (i as f32 - 16.0) / 16.0; // -1.0 ..= 0.9375
        }
        let (d, qs) = q(b);
        assert_eq!(d, 0x2008);
        // The quants use the f32 d, not the rounded fp16 one.
        let expect: Vec<i8> = b
            .iter()
            .map(|&x| {
                let d = 1.0f32 / 127.0;
                (x * (1.0 / d)).round() as i8
            })
            .collect();
        assert_eq!(qs.to_vec(), expect);
        assert_eq!(qs[0], -127);
        assert_eq!(qs[8], -64); // -0.5 * 127 = -63.5 -> -64 (away from zero)
        assert_eq!(qs[24], 64); // 0.5 * 127 = 63.5 -> 64
    }

    #[test]
    fn a_nan_folds_into_amax_as_in_ggml() {
        // ggml's `amax = MAX(amax, fabsf(x))`, `MAX(a, b) = a > b ? a : b`: a NaN replaces the
        // running max and the next value replaces the NaN, so only a NaN in the last place makes
        // the scale NaN. The converter's own quantizer used `f32::max`, which drops every NaN,
        // and so wrote a finite scale there; the shared quantizer is ggml's.
        let mut b = [1.0f32; 32];
        b[7] = f32::NAN;
        let (d, qs) = q(b);
        assert_eq!(d, f16::from_f32(1.0 / 127.0).to_bits());
        assert_eq!((qs[7], qs[8]), (0, 127));
        b[31] = f32::NAN;
        let (d, _) = q(b);
        assert!(f16::from_bits(d).is_nan(), "{d:#x}");
    }

    #[test]
    fn rows_must_be_whole_blocks() {
        assert!(quantize_row_q8_0_ref(&[1.0; 33]).is_none());
        assert_eq!(quantize_row_q8_0_ref(&[1.0; 64]).unwrap().len(), 68);
    }

    #[test]
    fn f16_rounds_to_nearest_even() {
        // 1 + 2^-11 is exactly halfway between 1.0 and the next f16: ties to even (1.0).
        let half_ulp = 1.0 + f32::powi(2.0, -11);
        assert_eq!(f32_to_f16_bytes(&[half_ulp]), 0x3c00u16.to_le_bytes());
        // 1 + 3 * 2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even): goes up.
        let x = 1.0 + 3.0 * f32::powi(2.0, -11);
        assert_eq!(f32_to_f16_bytes(&[x]), 0x3c02u16.to_le_bytes());
        assert_eq!(bf16_from_le_bytes(&0x3f80u16.to_le_bytes()), vec![1.0]);
        assert_eq!(f16_from_le_bytes(&0xc000u16.to_le_bytes()), vec![-2.0]);
    }
}
