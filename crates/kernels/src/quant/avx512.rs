//! AVX-512 VNNI quantized matmul: the Q8_0 micro-kernel (`vpdpbusd`, 4 rows × 32 columns) on a
//! panel of decoded W with one scale (and min) per 16 values.
//!
//! Panel, per (16-column group, 32-value block): 8 vectors holding 4-byte k-group `t` of the 16
//! columns (two 8×8 32-bit transposes, as Q8_0), the offset corrections `−128·Σw` of values 0..16
//! and 16..32 (x is used as `x + 128`, the unsigned operand), the scales of both halves, the mins
//! of both halves.

use std::arch::x86_64::*;

use super::formats::QuantType;
use super::{MR, Tier, TileOut, Unpacked};
use crate::q8_0::QuantizedActivations;
use crate::q8_0::avx2::transpose8;

const GROUP: usize = 16;
const WORDS: usize = 8 * 16 + 6 * 16;
const CORR: usize = 128;
const SCALES: usize = 160;
const MINS: usize = 192;

pub(crate) const TIER: Tier = Tier {
    group: GROUP,
    nr: 2 * GROUP,
    words: WORDS,
    unpack,
    pack,
    tile,
};

// `unpack`: [`QuantType::unpack_row`] compiled for this tier, so that LLVM vectorizes the decode
// loops with its instructions (callgrind, MiniLM Q4_0, 100 sentences: see docs/KERNELS.md).
target_fns!("avx512f,avx512bw,avx512vl,avx2,fma,f16c";
    unpack(ty: QuantType, bytes: &[u8], codes: &mut [i8], scales: &mut [f32], mins: &mut [f32])
        => QuantType::unpack_row;
);

/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI and AVX2; `un` holds 16 decoded rows of `k` and
/// `out` at least `k / 32 · WORDS` words.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn pack(un: &Unpacked, k: usize, out: &mut [i32]) {
    let (nb, ns) = (k / 32, k / 16);
    assert!(
        out.len() >= nb * WORDS && un.codes.len() >= GROUP * k && un.scales.len() >= GROUP * ns
    );
    // SAFETY: the bounds were checked above; the features are the caller's contract.
    unsafe {
        let rows: [*const i8; GROUP] = std::array::from_fn(|j| un.codes.as_ptr().add(j * k));
        let ones = _mm512_set1_epi8(1);
        let zero = _mm512_setzero_si512();
        for b in 0..nb {
            let lo: [__m256i; 8] =
                std::array::from_fn(|j| _mm256_loadu_si256(rows[j].add(32 * b).cast()));
            let hi: [__m256i; 8] =
                std::array::from_fn(|j| _mm256_loadu_si256(rows[8 + j].add(32 * b).cast()));
            let (tl, th) = (transpose8(lo), transpose8(hi));
            let dst = out.as_mut_ptr().add(b * WORDS);
            let mut sum = [zero; 2];
            for t in 0..8 {
                let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(tl[t]), th[t]);
                _mm512_storeu_si512(dst.add(t * 16).cast(), v);
                sum[t / 4] = _mm512_dpbusd_epi32(sum[t / 4], ones, v);
            }
            for (h, &sh) in sum.iter().enumerate() {
                let corr = _mm512_sub_epi32(zero, _mm512_slli_epi32::<7>(sh));
                _mm512_storeu_si512(dst.add(CORR + 16 * h).cast(), corr);
                for j in 0..GROUP {
                    *dst.add(SCALES + 16 * h + j) = un.scales[j * ns + 2 * b + h].to_bits() as i32;
                    *dst.add(MINS + 16 * h + j) = un.mins[j * ns + 2 * b + h].to_bits() as i32;
                }
            }
        }
    }
}

/// # Safety
/// As [`super::TileFn`]: AVX-512 VNNI; `panel` at two packed groups; rows in bounds.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
unsafe fn tile(
    qa: &QuantizedActivations,
    r0: usize,
    rows: usize,
    panel: *const i32,
    has_min: bool,
    out: &mut TileOut,
) {
    // SAFETY: forwarded contract.
    unsafe {
        match (rows, has_min) {
            (1, false) => tile_r::<1, false>(qa, r0, panel, out),
            (2, false) => tile_r::<2, false>(qa, r0, panel, out),
            (3, false) => tile_r::<3, false>(qa, r0, panel, out),
            (_, false) => tile_r::<MR, false>(qa, r0, panel, out),
            (1, true) => tile_r::<1, true>(qa, r0, panel, out),
            (2, true) => tile_r::<2, true>(qa, r0, panel, out),
            (3, true) => tile_r::<3, true>(qa, r0, panel, out),
            (_, true) => tile_r::<MR, true>(qa, r0, panel, out),
        }
    }
}

/// `R` rows × 32 columns, the canonical order of [`super`]: per 16 values, the exact sum folded
/// with `d_x · d_w`, then (formats with a min) `m_w` times the activations' `d_x · Σq`.
#[inline(always)]
unsafe fn tile_r<const R: usize, const MIN: bool>(
    qa: &QuantizedActivations,
    r0: usize,
    panel: *const i32,
    out: &mut TileOut,
) {
    let k = qa.k();
    let (nb, ns) = (k / 32, k / 16);
    // SAFETY: rows r0..r0+R are in bounds; `panel` covers two groups of nb packed blocks.
    unsafe {
        let x = qa.qu8.as_ptr().add(r0 * k);
        let dx = qa.d.as_ptr().add(r0 * ns);
        let sx = qa.dsums.as_ptr().add(r0 * ns);
        let g1 = nb * WORDS;
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for b in 0..nb {
            let p = [panel.add(b * WORDS), panel.add(g1 + b * WORDS)];
            for h in 0..2 {
                let mut isum: [[__m512i; 2]; R] =
                    [p.map(|pg| _mm512_loadu_si512(pg.add(CORR + 16 * h).cast())); R];
                for t in 4 * h..4 * h + 4 {
                    let w = p.map(|pg| _mm512_loadu_si512(pg.add(t * 16).cast()));
                    for (r, s) in isum.iter_mut().enumerate() {
                        let q = x.add(r * k + b * 32 + 4 * t).cast::<i32>().read_unaligned();
                        let xv = _mm512_set1_epi32(q);
                        s[0] = _mm512_dpbusd_epi32(s[0], xv, w[0]);
                        s[1] = _mm512_dpbusd_epi32(s[1], xv, w[1]);
                    }
                }
                let dw = p.map(|pg| _mm512_loadu_ps(pg.add(SCALES + 16 * h).cast()));
                let mw = p.map(|pg| _mm512_loadu_ps(pg.add(MINS + 16 * h).cast()));
                for (r, a) in acc.iter_mut().enumerate() {
                    let s = r * ns + 2 * b + h;
                    let dxr = _mm512_set1_ps(*dx.add(s));
                    for g in 0..2 {
                        let prod = _mm512_cvtepi32_ps(isum[r][g]);
                        a[g] = _mm512_fmadd_ps(_mm512_mul_ps(dxr, dw[g]), prod, a[g]);
                    }
                    if MIN {
                        let sum = _mm512_set1_ps(*sx.add(s));
                        for g in 0..2 {
                            a[g] = _mm512_fmadd_ps(mw[g], sum, a[g]);
                        }
                    }
                }
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            _mm512_storeu_ps(o.as_mut_ptr(), a[0]);
            _mm512_storeu_ps(o.as_mut_ptr().add(16), a[1]);
        }
    }
}
