//! AVX2 quantized matmul: the Q8_0 micro-kernel (`vpsignb` + `vpmaddubsw` + `vpmaddwd`, 4 rows ×
//! 16 columns as two 8-column passes) on a panel of decoded W with one scale (and min) per 16
//! values.
//!
//! Panel, per (8-column group, 32-value block): 8 vectors holding 4-byte k-group `t` of the 8
//! columns (one 8×8 32-bit transpose, as Q8_0), the scales of values 0..16 and 16..32, the mins
//! of both halves.

use std::arch::x86_64::*;

use super::formats::QuantType;
use super::{MR, Tier, TileOut, Unpacked};
use crate::q8_0::QuantizedActivations;
use crate::q8_0::avx2::transpose8;

const GROUP: usize = 8;
const WORDS: usize = 64 + 4 * 8;
const SCALES: usize = 64;
const MINS: usize = 80;

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
target_fns!("avx2,fma,f16c";
    unpack(ty: QuantType, bytes: &[u8], codes: &mut [i8], scales: &mut [f32], mins: &mut [f32])
        => QuantType::unpack_row;
);

/// # Safety
/// The CPU must support AVX2; `un` holds 8 decoded rows of `k` and `out` at least
/// `k / 32 · WORDS` words.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack(un: &Unpacked, k: usize, out: &mut [i32]) {
    let (nb, ns) = (k / 32, k / 16);
    assert!(
        out.len() >= nb * WORDS && un.codes.len() >= GROUP * k && un.scales.len() >= GROUP * ns
    );
    // SAFETY: the bounds were checked above; AVX2 is the caller's contract.
    unsafe {
        let rows: [*const i8; GROUP] = std::array::from_fn(|j| un.codes.as_ptr().add(j * k));
        for b in 0..nb {
            let r: [__m256i; 8] =
                std::array::from_fn(|j| _mm256_loadu_si256(rows[j].add(32 * b).cast()));
            let dst = out.as_mut_ptr().add(b * WORDS);
            for (t, v) in transpose8(r).iter().enumerate() {
                _mm256_storeu_si256(dst.add(t * 8).cast(), *v);
            }
            for h in 0..2 {
                for j in 0..GROUP {
                    *dst.add(SCALES + 8 * h + j) = un.scales[j * ns + 2 * b + h].to_bits() as i32;
                    *dst.add(MINS + 8 * h + j) = un.mins[j * ns + 2 * b + h].to_bits() as i32;
                }
            }
        }
    }
}

/// # Safety
/// As [`super::TileFn`]: AVX2 and FMA; `panel` at two packed groups; rows in bounds.
#[target_feature(enable = "avx2,fma")]
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

/// `R` rows × 16 columns, one 8-column group per pass (R f32 + R i32 accumulators: no spills,
/// as Q8_0), in the canonical order of [`super`].
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
        let x = qa.qs.as_ptr().add(r0 * k);
        let dx = qa.d.as_ptr().add(r0 * ns);
        let sx = qa.dsums.as_ptr().add(r0 * ns);
        let ones = _mm256_set1_epi16(1);
        for g in 0..2 {
            let pg = panel.add(g * nb * WORDS);
            let mut acc = [_mm256_setzero_ps(); R];
            for b in 0..nb {
                let p = pg.add(b * WORDS);
                for h in 0..2 {
                    let mut isum = [_mm256_setzero_si256(); R];
                    for t in 4 * h..4 * h + 4 {
                        let w = _mm256_loadu_si256(p.add(t * 8).cast());
                        let aw = _mm256_abs_epi8(w);
                        for (r, s) in isum.iter_mut().enumerate() {
                            let q = x.add(r * k + b * 32 + 4 * t).cast::<i32>().read_unaligned();
                            let xv = _mm256_set1_epi32(q);
                            let m = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, w));
                            *s = _mm256_add_epi32(*s, _mm256_madd_epi16(m, ones));
                        }
                    }
                    let dw = _mm256_loadu_ps(p.add(SCALES + 8 * h).cast());
                    for (r, a) in acc.iter_mut().enumerate() {
                        let s = r * ns + 2 * b + h;
                        let dxr = _mm256_set1_ps(*dx.add(s));
                        let prod = _mm256_cvtepi32_ps(isum[r]);
                        *a = _mm256_fmadd_ps(_mm256_mul_ps(dxr, dw), prod, *a);
                        if MIN {
                            let mw = _mm256_loadu_ps(p.add(MINS + 8 * h).cast());
                            *a = _mm256_fmadd_ps(mw, _mm256_set1_ps(*sx.add(s)), *a);
                        }
                    }
                }
            }
            for (o, a) in out.iter_mut().zip(acc) {
                _mm256_storeu_ps(o.as_mut_ptr().add(8 * g), a);
            }
        }
    }
}
