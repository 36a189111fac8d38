//! The one float matmul driver, written once over a tier's 16-lane vector ([`Lanes16`]).
//!
//! Every SIMD tier runs this code; a tier contributes only its vector type (loads, the fused
//! multiply-add, the horizontal sum) and its register-tile shape. The scalar oracle
//! (`super::scalar`) spells out the same per-output order in plain Rust.
//!
//! The canonical order of one output `y[r][c] = x[r] · w[c]` (see the module docs of
//! [`super`]): 16 lane sums, lane `l` a chain of fused multiply-adds over `i ≡ l (mod 16)` in
//! increasing `i`, the last partial step zero-padded (`fma(0, 0, s) = s + 0`); then the fixed
//! tree `h8[l] = s[l] + s[l+8]`, `h4[l] = h8[l] + h8[l+4]`, `h2[l] = h4[l] + h4[l+2]`,
//! `h2[0] + h2[1]`; then `+ bias[c]`.

use super::{FloatGemm, FloatWeights, WT_BF16, WT_F16, WT_F32};
use crate::tiling::{Tiles, store_tile, tile_cols};

/// Lanes of one output's reduction, on every tier.
pub(crate) const L: usize = 16;

/// Sixteen f32 lanes of one tier: one zmm, two ymm, four NEON registers.
///
/// # Safety
/// Implementations use ISA intrinsics: a method may only be called where that ISA's features
/// are enabled (inside the tier's `#[target_feature]` entry point, into which they inline).
pub(crate) unsafe trait Lanes16: Copy {
    /// All lanes zero.
    unsafe fn zero() -> Self;
    /// Sixteen activations at `p`.
    ///
    /// # Safety
    /// `p..p + 16` readable.
    unsafe fn load_x(p: *const f32) -> Self;
    /// Sixteen weights of format `WT` at element `i` of `p`, widened to f32 (exact).
    ///
    /// # Safety
    /// Elements `i..i + 16` readable.
    unsafe fn load_w<const WT: u8>(p: *const u8, i: usize) -> Self;
    /// `len < 16` activations at `p`, the other lanes zero.
    ///
    /// # Safety
    /// `p..p + len` readable.
    #[inline(always)]
    unsafe fn load_x_part(p: *const f32, len: usize) -> Self {
        let mut buf = [0.0f32; L];
        // SAFETY: the caller guarantees `len` readable floats; the buffer holds 16.
        unsafe {
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), len);
            Self::load_x(buf.as_ptr())
        }
    }
    /// `len < 16` weights of format `WT` at element `i`, widened, the other lanes zero.
    ///
    /// # Safety
    /// Elements `i..i + len` readable.
    #[inline(always)]
    unsafe fn load_w_part<const WT: u8>(p: *const u8, i: usize, len: usize) -> Self {
        let mut buf = [0.0f32; L];
        // SAFETY: the caller guarantees `len` readable elements at `i`.
        unsafe {
            widen_part::<WT>(p, i, len, &mut buf);
            Self::load_x(buf.as_ptr())
        }
    }
    /// `self + x · w` per lane, fused (one rounding).
    unsafe fn fma(self, x: Self, w: Self) -> Self;
    /// The canonical tree sum of the 16 lanes (module docs).
    unsafe fn hsum(self) -> f32;
    /// The canonical sums of a tile's accumulators into `out`. A tier may reduce them together
    /// (AVX-512 transposes 16 at a time); each output's tree stays the canonical one.
    #[inline(always)]
    unsafe fn hsum_tile<const R: usize, const MR: usize, const NR: usize>(
        acc: &[[Self; NR]; R],
        out: &mut [[f32; NR]; MR],
    ) {
        for (o, ar) in out.iter_mut().zip(acc) {
            for j in 0..NR {
                // SAFETY: forwarded contract.
                o[j] = unsafe { ar[j].hsum() };
            }
        }
    }
}

/// Widens `len <= 16` weights of format `WT` at element `i` into `buf` (the rest untouched).
///
/// # Safety
/// Elements `i..i + len` of `p` readable.
#[inline(always)]
pub(crate) unsafe fn widen_part<const WT: u8>(
    p: *const u8,
    i: usize,
    len: usize,
    buf: &mut [f32; L],
) {
    for (t, b) in buf.iter_mut().enumerate().take(len) {
        // SAFETY: element `i + t < i + len` is readable (caller).
        *b = unsafe {
            match WT {
                WT_F32 => p.cast::<f32>().add(i + t).read_unaligned(),
                WT_F16 => {
                    half::f16::from_bits(p.cast::<u16>().add(i + t).read_unaligned()).to_f32()
                }
                _ => half::bf16::from_bits(p.cast::<u16>().add(i + t).read_unaligned()).to_f32(),
            }
        };
    }
}

/// The canonical tree over 16 lane sums (module docs), in plain Rust: the oracle's, and the
/// reference the tiers' `hsum` are tested against.
#[inline(always)]
pub(crate) fn tree_sum(s: &[f32; L]) -> f32 {
    let h8: [f32; 8] = std::array::from_fn(|l| s[l] + s[l + 8]);
    let h4: [f32; 4] = std::array::from_fn(|l| h8[l] + h8[l + 4]);
    let h2: [f32; 2] = std::array::from_fn(|l| h4[l] + h4[l + 2]);
    h2[0] + h2[1]
}

/// `Y[:, n0..n1] = X · Wᵀ (+ bias)` with register tiles of `MR × NR` outputs of vector `V`.
///
/// # Safety
/// `V`'s ISA enabled (the caller is that tier's `#[target_feature]` entry point), and `p`, `y`
/// checked as in `Kernels::gemm_float_cols`.
#[inline(always)]
pub(crate) unsafe fn gemm_cols<V: Lanes16, const MR: usize, const NR: usize>(
    p: &FloatGemm<'_>,
    y: &mut [f32],
) {
    // SAFETY: forwarded contract; the pointer covers `n * k` weights of the tagged format.
    unsafe {
        match p.w {
            FloatWeights::F32(w) => driver::<V, MR, NR, WT_F32>(p, w.as_ptr().cast(), y),
            FloatWeights::F16(w) => driver::<V, MR, NR, WT_F16>(p, w.as_ptr().cast(), y),
            FloatWeights::Bf16(w) => driver::<V, MR, NR, WT_BF16>(p, w.as_ptr().cast(), y),
        }
    }
}

#[inline(always)]
unsafe fn driver<V: Lanes16, const MR: usize, const NR: usize, const WT: u8>(
    p: &FloatGemm<'_>,
    w: *const u8,
    y: &mut [f32],
) {
    const { assert!(MR >= 1 && MR <= 4 && NR >= 1) };
    let (k, eb) = (p.k, p.w.elem_bytes());
    for t in Tiles::new(p.m, p.n0, p.n1, MR, NR, k * eb) {
        let cols = tile_cols::<NR>(t.c0, t.cols);
        let wr: [*const u8; NR] = cols.map(|c| w.wrapping_add(c * k * eb));
        let xr = p.x[t.r0 * k..].as_ptr();
        let mut out = [[0.0f32; NR]; MR];
        // SAFETY: rows t.r0..t.r0 + t.rows of X and the `cols` rows of W are in bounds (checked
        // by the caller); `t.rows <= MR`; features per the caller's contract.
        unsafe {
            match t.rows {
                r if r >= MR => tile::<V, MR, MR, NR, WT>(xr, k, &wr, &mut out),
                1 => tile::<V, 1, MR, NR, WT>(xr, k, &wr, &mut out),
                2 => tile::<V, 2, MR, NR, WT>(xr, k, &wr, &mut out),
                _ => tile::<V, 3, MR, NR, WT>(xr, k, &wr, &mut out),
            }
        }
        store_tile(&out, t, p.n, p.bias, y);
    }
}

/// `R` rows of X (stride `k`) against the `NR` W rows in `wr`: each output in canonical order.
#[inline(always)]
unsafe fn tile<V: Lanes16, const R: usize, const MR: usize, const NR: usize, const WT: u8>(
    x: *const f32,
    k: usize,
    wr: &[*const u8; NR],
    out: &mut [[f32; NR]; MR],
) {
    // SAFETY: X rows 0..R (stride k) and the W rows in `wr` hold k valid elements each; the
    // last step reads only the `k - i` valid ones.
    unsafe {
        let mut acc = [[V::zero(); NR]; R];
        let mut wv = [V::zero(); NR];
        let full = k / L * L;
        let mut i = 0;
        while i < full {
            for j in 0..NR {
                wv[j] = V::load_w::<WT>(wr[j], i);
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let xv = V::load_x(x.add(r * k + i));
                for j in 0..NR {
                    ar[j] = ar[j].fma(xv, wv[j]);
                }
            }
            i += L;
        }
        if i < k {
            // Zero-padded last step: the same for every tile, so rows stay independent.
            let len = k - i;
            for j in 0..NR {
                wv[j] = V::load_w_part::<WT>(wr[j], i, len);
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let xv = V::load_x_part(x.add(r * k + i), len);
                for j in 0..NR {
                    ar[j] = ar[j].fma(xv, wv[j]);
                }
            }
        }
        V::hsum_tile(&acc, out);
    }
}
