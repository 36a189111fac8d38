//! AVX2 + FMA float matmul; F16 weights widened with F16C (`vcvtph2ps`), BF16 by a shift.
//!
//! Tile: `MR = 4` rows × `NR = 3` columns = 12 ymm accumulators, plus 3 weight registers and one
//! X register: all 16 ymm registers, and 12 independent FMA chains (Zen 3 needs 2 FMA/cycle × 4
//! cycles latency = 8 in flight). Per 8-wide K step: 4 X loads + 3 W loads for 12 FMAs.

use std::arch::x86_64::*;

use super::{FloatWeights, WT_BF16, WT_F16, WT_F32};
use crate::tiling::{Tiles, store_tile, tile_cols};

const MR: usize = 4;
const NR: usize = 3;
const L: usize = 8;

/// AVX2 driver (see [`super::GemmFn`]).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and the arguments must satisfy the checks of
/// `Kernels::gemm_float_cols`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c")]
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
        // SAFETY: rows t.r0..t.r0+t.rows of X and the `cols` rows of W are in bounds (lengths
        // checked by the caller); features per the caller's contract.
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

/// Eight weights starting at element `i`, widened to f32.
#[inline(always)]
unsafe fn load_w<const WT: u8>(p: *const u8, i: usize) -> __m256 {
    // SAFETY: the caller guarantees 8 valid elements at `i`; AVX2/F16C are enabled.
    unsafe {
        match WT {
            WT_F32 => _mm256_loadu_ps(p.cast::<f32>().add(i)),
            WT_F16 => _mm256_cvtph_ps(_mm_loadu_si128(p.cast::<u16>().add(i).cast())),
            _ => {
                let h = _mm_loadu_si128(p.cast::<u16>().add(i).cast());
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
            }
        }
    }
}

/// Fixed-order horizontal sum: (lo + hi halves), then pairs, then the last two.
#[inline(always)]
pub(super) unsafe fn hsum(v: __m256) -> f32 {
    // SAFETY: AVX is enabled in every caller.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

/// Widens `len < 8` weights of format `WT` at element `i` into a zero-padded buffer.
#[inline(always)]
pub(super) unsafe fn tail_w<const WT: u8>(p: *const u8, i: usize, len: usize, buf: &mut [f32; 16]) {
    // SAFETY: the caller guarantees `len` valid elements at `i`.
    unsafe {
        for (t, b) in buf.iter_mut().enumerate().take(len) {
            *b = match WT {
                WT_F32 => *p.cast::<f32>().add(i + t),
                WT_F16 => {
                    half::f16::from_bits(p.cast::<u16>().add(i + t).read_unaligned()).to_f32()
                }
                _ => half::bf16::from_bits(p.cast::<u16>().add(i + t).read_unaligned()).to_f32(),
            };
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
        let mut acc = [[_mm256_setzero_ps(); NR]; R];
        let mut wv = [_mm256_setzero_ps(); NR];
        let k8 = k / L * L;
        let mut i = 0;
        while i < k8 {
            for j in 0..NR {
                wv[j] = load_w::<WT>(wr[j], i);
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let xv = _mm256_loadu_ps(x.add(r * k + i));
                for j in 0..NR {
                    ar[j] = _mm256_fmadd_ps(xv, wv[j], ar[j]);
                }
            }
            i += L;
        }
        if i < k {
            // Zero-padded last step: the same for every tile, so rows stay independent.
            let len = k - i;
            for j in 0..NR {
                let mut buf = [0.0f32; 16];
                tail_w::<WT>(wr[j], i, len, &mut buf);
                wv[j] = _mm256_loadu_ps(buf.as_ptr());
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let mut buf = [0.0f32; 8];
                buf[..len].copy_from_slice(std::slice::from_raw_parts(x.add(r * k + i), len));
                let xv = _mm256_loadu_ps(buf.as_ptr());
                for j in 0..NR {
                    ar[j] = _mm256_fmadd_ps(xv, wv[j], ar[j]);
                }
            }
        }
        for (o, ar) in out.iter_mut().zip(&acc) {
            for j in 0..NR {
                o[j] = hsum(ar[j]);
            }
        }
    }
}
