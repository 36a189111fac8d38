//! NEON attention: four `float32x4_t` per [`Lanes`] vector.
//!
//! Tiles: query tiles of 16 lanes (four q registers). `Q·Kᵀ`: 6 keys × 1 query vector = 24
//! accumulators (per head dim 4 `Qᵀ` loads + 6 broadcasts); `P·V`: 6 rows × 1 output vector = 24
//! (per key 4 V loads + 6 broadcasts); ~29 of the 32 registers.
//!
//! NOTE: type-checked with `cargo check --target aarch64-unknown-linux-gnu` and run under qemu
//! by `scripts/test.sh`; not timed on aarch64 hardware.

use std::arch::aarch64::*;

use super::AttentionParams;
use super::blocked;
use super::lanes::Lanes;

#[derive(Clone, Copy)]
pub(crate) struct Q4([float32x4_t; 4]);

// SAFETY: NEON is baseline on aarch64; pointer contracts are the callers'.
unsafe impl Lanes for Q4 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe { Q4([vdupq_n_f32(0.0); 4]) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe { Q4([vdupq_n_f32(x); 4]) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: 16 readable floats per the caller.
        unsafe { Q4(std::array::from_fn(|i| vld1q_f32(p.add(4 * i)))) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        for (i, &x) in self.0.iter().enumerate() {
            // SAFETY: 16 writable floats per the caller.
            unsafe { vst1q_f32(p.add(4 * i), x) }
        }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe {
            // vfmaq_f32(c, a, b) = c + a·b, fused.
            Q4(std::array::from_fn(|i| vfmaq_f32(c.0[i], a.0[i], b.0[i])))
        }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe { Q4(std::array::from_fn(|i| vmulq_f32(self.0[i], b.0[i]))) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe { Q4(std::array::from_fn(|i| vaddq_f32(self.0[i], b.0[i]))) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe { Q4(std::array::from_fn(|i| vsubq_f32(self.0[i], b.0[i]))) }
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe { Q4(std::array::from_fn(|i| vdivq_f32(self.0[i], b.0[i]))) }
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe { Q4(std::array::from_fn(|i| vmaxq_f32(self.0[i], b.0[i]))) }
    }
    #[inline(always)]
    unsafe fn fnma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe {
            // vfmsq_f32(c, a, b) = c - a·b, fused.
            Q4(std::array::from_fn(|i| vfmsq_f32(c.0[i], a.0[i], b.0[i])))
        }
    }
    #[inline(always)]
    unsafe fn keep_ge(self, a: Self, b: Self, other: Self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe {
            Q4(std::array::from_fn(|i| {
                vbslq_f32(vcgeq_f32(a.0[i], b.0[i]), self.0[i], other.0[i])
            }))
        }
    }
    #[inline(always)]
    unsafe fn pow2n(self) -> Self {
        // SAFETY: the caller runs with NEON enabled (trait contract).
        unsafe {
            Q4(std::array::from_fn(|i| {
                vreinterpretq_f32_u32(vshlq_n_u32::<23>(vaddq_u32(
                    vreinterpretq_u32_f32(self.0[i]),
                    vdupq_n_u32(127),
                )))
            }))
        }
    }
}

/// NEON attention (see `Kernels::attention`).
///
/// # Safety
/// The arguments must satisfy the checks of `Kernels::attention` (NEON is baseline).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    // SAFETY: forwarded contract; NEON is enabled here.
    unsafe { blocked::attention::<Q4, 1, 6, 1, 6, 1>(q, k, v, p, mask, out, scratch) }
}
