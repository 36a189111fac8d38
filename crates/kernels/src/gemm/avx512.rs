//! AVX-512 float matmul: 16-lane FMAs, masked loads for the K tail.
//!
//! Tile: `MR = 4` rows × `NR = 4` columns = 16 zmm accumulators (of 32), enough independent FMA
//! chains for two 512-bit FMA pipes. Not runnable on the Zen 3 development machine; guarded by
//! the dispatcher's self-check (see `isa::self_check`).

use std::arch::x86_64::*;

use super::{FloatWeights, WT_BF16, WT_F16, WT_F32};
use crate::tiling::{Tiles, store_tile, tile_cols};

const MR: usize = 4;
const NR: usize = 4;
const L: usize = 16;

/// AVX-512 driver (see [`super::GemmFn`]).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL, AVX2, FMA and F16C, and the arguments must satisfy the
/// checks of `Kernels::gemm_float_cols`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
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

/// Up to 16 weights at element `i` (lanes outside `mask` read nothing and are zero), as f32.
#[inline(always)]
unsafe fn load_w<const WT: u8>(p: *const u8, i: usize, mask: __mmask16) -> __m512 {
    // SAFETY: the caller guarantees the masked-in elements are valid; masked-out lanes are not
    // accessed. AVX-512F/BW are enabled.
    unsafe {
        match WT {
            WT_F32 => _mm512_maskz_loadu_ps(mask, p.cast::<f32>().add(i)),
            WT_F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p.cast::<i16>().add(i))),
            _ => {
                let h = _mm256_maskz_loadu_epi16(mask, p.cast::<i16>().add(i));
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
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
    // SAFETY: X rows 0..R (stride k) and the W rows in `wr` hold k valid elements each; the
    // tail step only touches the masked-in `k - i` elements.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NR]; R];
        let mut wv = [_mm512_setzero_ps(); NR];
        let mut i = 0;
        while i < k {
            let mask: __mmask16 = if k - i >= L {
                0xFFFF
            } else {
                (1u16 << (k - i)) - 1
            };
            for j in 0..NR {
                wv[j] = load_w::<WT>(wr[j], i, mask);
            }
            for (r, ar) in acc.iter_mut().enumerate() {
                let xv = _mm512_maskz_loadu_ps(mask, x.add(r * k + i));
                for j in 0..NR {
                    ar[j] = _mm512_fmadd_ps(xv, wv[j], ar[j]);
                }
            }
            i += L;
        }
        for (o, ar) in out.iter_mut().zip(&acc) {
            for j in 0..NR {
                o[j] = _mm512_reduce_add_ps(ar[j]);
            }
        }
    }
}
