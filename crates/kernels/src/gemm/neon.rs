//! NEON float matmul micro-kernel: the 16 canonical lanes are four q registers; F16 widened
//! with an exact integer/bit trick (the `float16x4_t` conversion intrinsics are not stable
//! Rust), BF16 by a shift.
//!
//! Tile: `MR = 2` rows × `NR = 2` columns = 16 accumulator registers (four per output), plus
//! 8 for the weights and 4 for X: 28 of the 32 vector registers.

use std::arch::aarch64::*;

use super::driver::{self, Lanes16};
use super::{FloatGemm, WT_F16, WT_F32};

const MR: usize = 2;
const NR: usize = 2;

/// NEON float matmul (see [`super::GemmFn`]).
///
/// # Safety
/// The arguments must satisfy the checks of `Kernels::gemm_float_cols` (NEON is baseline).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn gemm_cols(p: &FloatGemm<'_>, y: &mut [f32]) {
    // SAFETY: forwarded contract; `Q4` uses baseline NEON only.
    unsafe { driver::gemm_cols::<Q4, MR, NR>(p, y) }
}

/// Four q registers: lanes 0..4, 4..8, 8..12, 12..16.
#[derive(Clone, Copy)]
struct Q4([float32x4_t; 4]);

/// Exact f16 -> f32 for 4 values: shift the magnitude into f32 position and rescale by 2^112
/// (also right for subnormals), force Inf/NaN exponents, restore the sign.
#[inline(always)]
unsafe fn f16x4_to_f32(h: uint16x4_t) -> float32x4_t {
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

/// Four weights of format `WT` at element `i`, widened to f32.
#[inline(always)]
unsafe fn load_w4<const WT: u8>(p: *const u8, i: usize) -> float32x4_t {
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

// SAFETY: baseline NEON only.
unsafe impl Lanes16 for Q4 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: NEON is baseline.
        Q4(unsafe { [vdupq_n_f32(0.0); 4] })
    }
    #[inline(always)]
    unsafe fn load_x(p: *const f32) -> Self {
        // SAFETY: 16 readable floats (caller).
        Q4(unsafe { std::array::from_fn(|q| vld1q_f32(p.add(4 * q))) })
    }
    #[inline(always)]
    unsafe fn load_w<const WT: u8>(p: *const u8, i: usize) -> Self {
        // SAFETY: 16 readable elements at `i` (caller).
        Q4(unsafe { std::array::from_fn(|q| load_w4::<WT>(p, i + 4 * q)) })
    }
    #[inline(always)]
    unsafe fn fma(self, x: Self, w: Self) -> Self {
        // SAFETY: NEON is baseline; `vfmaq_f32(a, b, c)` is `a + b · c`, fused.
        Q4(unsafe { std::array::from_fn(|q| vfmaq_f32(self.0[q], x.0[q], w.0[q])) })
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        // SAFETY: NEON is baseline. h8 = (q0 + q2, q1 + q3); h4 = their sum; h2 = low + high
        // halves of h4; then its two lanes.
        unsafe {
            let [q0, q1, q2, q3] = self.0;
            let h4 = vaddq_f32(vaddq_f32(q0, q2), vaddq_f32(q1, q3));
            let h2 = vadd_f32(vget_low_f32(h4), vget_high_f32(h4));
            vget_lane_f32::<0>(h2) + vget_lane_f32::<1>(h2)
        }
    }
}
