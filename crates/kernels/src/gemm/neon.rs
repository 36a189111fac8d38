//! NEON float matmul: 4-lane fused multiply-adds; F16 widened with an exact integer/bit trick
//! (the `float16x4_t` conversion intrinsics are not stable Rust), BF16 by a shift.
//!
//! Tile: `MR = 4` rows × `NR = 4` columns = 16 of the 32 vector registers.

use std::arch::aarch64::*;

use super::{FloatWeights, WT_BF16, WT_F16, WT_F32};
use crate::tiling::{Tiles, store_tile, tile_cols};

const MR: usize = 4;
const NR: usize = 4;
const L: usize = 4;

/// NEON driver (see [`super::GemmFn`]).
///
/// # Safety
/// The arguments must satisfy the checks of `Kernels::gemm_float_cols` (NEON is baseline).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "neon")]
pub(crate) unsafe fn gemm_cols(
    x: &[f32],
    m: usize,
    k: usize,
    w: FloatWeights<'_>,
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    let eb = w.elem_bytes();
    // SAFETY: forwarded contract; the pointer covers n * k weights of the tagged format.
    unsafe {
        match w {
            FloatWeights::F32(w) => {
                driver::<WT_F32>(x, m, k, w.as_ptr().cast(), eb, n, bias, n0, n1, y)
            }
            FloatWeights::F16(w) => {
                driver::<WT_F16>(x, m, k, w.as_ptr().cast(), eb, n, bias, n0, n1, y)
            }
            FloatWeights::Bf16(w) => {
                driver::<WT_BF16>(x, m, k, w.as_ptr().cast(), eb, n, bias, n0, n1, y)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn driver<const WT: u8>(
    x: &[f32],
    m: usize,
    k: usize,
    w: *const u8,
    eb: usize,
    n: usize,
    bias: Option<&[f32]>,
    n0: usize,
    n1: usize,
    y: &mut [f32],
) {
    for t in Tiles::new(m, n0, n1, MR, NR, k * eb) {
        let cols = tile_cols::<NR>(t.c0, t.cols);
        let wr: [*const u8; NR] = cols.map(|c| w.wrapping_add(c * k * eb));
        let xr = x[t.r0 * k..].as_ptr();
        let mut out = [[0.0f32; NR]; MR];
        // SAFETY: rows and columns of the tile are in bounds (lengths checked by the caller).
        unsafe {
            match t.rows {
                1 => tile::<1, WT>(xr, k, &wr, &mut out),
                2 => tile::<2, WT>(xr, k, &wr, &mut out),
                3 => tile::<3, WT>(xr, k, &wr, &mut out),
                _ => tile::<4, WT>(xr, k, &wr, &mut out),
            }
        }
        store_tile(&out, t, n, bias, y);
    }
}

/// Exact f16 -> f32 for 4 values: shift the magnitude into f32 position and rescale by 2^112
/// (also right for subnormals), force Inf/NaN exponents, restore the sign.
#[inline(always)]
pub(crate) unsafe fn f16x4_to_f32(h: uint16x4_t) -> float32x4_t {
    // SAFETY: NEON is baseline on aarch64.
    unsafe {
        let u = vmovl_u16(h);
        let sign = vshlq_n_u32::<16>(vandq_u32(u, vdupq_n_u32(0x8000)));
        let mag = vshlq_n_u32::<13>(vandq_u32(u, vdupq_n_u32(0x7fff)));
        let scaled = vreinterpretq_u32_f32(vmulq_f32(
            vreinterpretq_f32_u32(mag),
            vdupq_n_f32(f32::from_bits(0x7780_0000)), // 2^112
        ));
        let infnan = vceqq_u32(vandq_u32(u, vdupq_n_u32(0x7c00)), vdupq_n_u32(0x7c00));
        let special = vorrq_u32(mag, vdupq_n_u32(0x7f80_0000));
        vreinterpretq_f32_u32(vorrq_u32(vbslq_u32(infnan, special, scaled), sign))
    }
}

#[inline(always)]
unsafe fn load_w<const WT: u8>(p: *const u8, i: usize) -> float32x4_t {
    // SAFETY: the caller guarantees 4 valid elements at `i`.
    unsafe {
        match WT {
            WT_F32 => vld1q_f32(p.cast::<f32>().add(i)),
            WT_F16 => f16x4_to_f32(vld1_u16(p.cast::<u16>().add(i))),
            _ => vreinterpretq_f32_u32(vshlq_n_u32::<16>(vmovl_u16(vld1_u16(
                p.cast::<u16>().add(i),
            )))),
        }
    }
}

#[inline(always)]
unsafe fn tile<const R: usize, const WT: u8>(
    x: *const f32,
    k: usize,
    wr: &[*const u8; NR],
    out: &mut [[f32; NR]; MR],
) {
    // SAFETY: X rows 0..R (stride k) and the W rows in `wr` hold k valid elements each.
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); NR]; R];
        let mut wv = [vdupq_n_f32(0.0); NR];
        let k4 = k / L * L;
        let mut i = 0;
        while i < k4 {
            for j in 0..NR {
                wv[j] = load_w::<WT>(wr[j], i);
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let xv = vld1q_f32(x.add(r * k + i));
                for j in 0..NR {
                    ar[j] = vfmaq_f32(ar[j], xv, wv[j]);
                }
            }
            i += L;
        }
        if i < k {
            let len = k - i;
            for j in 0..NR {
                let mut buf = [0.0f32; L];
                for (t, b) in buf.iter_mut().enumerate().take(len) {
                    *b = match WT {
                        WT_F32 => *wr[j].cast::<f32>().add(i + t),
                        WT_F16 => half::f16::from_bits(*wr[j].cast::<u16>().add(i + t)).to_f32(),
                        _ => half::bf16::from_bits(*wr[j].cast::<u16>().add(i + t)).to_f32(),
                    };
                }
                wv[j] = vld1q_f32(buf.as_ptr());
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let mut buf = [0.0f32; L];
                buf[..len].copy_from_slice(std::slice::from_raw_parts(x.add(r * k + i), len));
                let xv = vld1q_f32(buf.as_ptr());
                for j in 0..NR {
                    ar[j] = vfmaq_f32(ar[j], xv, wv[j]);
                }
            }
        }
        for (o, ar) in out.iter_mut().zip(&acc) {
            for j in 0..NR {
                o[j] = vaddvq_f32(ar[j]);
            }
        }
    }
}
