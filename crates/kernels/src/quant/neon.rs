//! NEON quantized matmul: the Q8_0 NEON micro-kernel (4 rows × 4 columns, `sdot` or widening
//! multiplies, two levels of `addp`) on the plain panel of [`super::scalar`] (per column, the
//! 32 decoded codes of a block; per half-block, the 4 columns' scales and mins).

use std::arch::aarch64::*;

use super::scalar::{GROUP, MINS, SCALES, WORDS, pack_plain, unpack};
use super::{MR, Tier, TileOut};
use crate::q8_0::QuantizedActivations;
use crate::q8_0::neon::{BlockDot, SDot, Widening};

pub(crate) const TIER_WIDENING: Tier = Tier {
    group: GROUP,
    nr: GROUP,
    words: WORDS,
    unpack,
    pack: pack_plain,
    tile: tile_widening,
};

pub(crate) const TIER_DOTPROD: Tier = Tier {
    group: GROUP,
    nr: GROUP,
    words: WORDS,
    unpack,
    pack: pack_plain,
    tile: tile_dotprod,
};

/// # Safety
/// As [`super::TileFn`] (NEON is baseline).
#[target_feature(enable = "neon")]
unsafe fn tile_widening(
    qa: &QuantizedActivations,
    r0: usize,
    rows: usize,
    panel: *const i32,
    has_min: bool,
    out: &mut TileOut,
) {
    // SAFETY: forwarded contract.
    unsafe { dispatch::<Widening>(qa, r0, rows, panel, has_min, out) }
}

/// # Safety
/// As [`super::TileFn`], and the CPU must have the dot-product extension.
#[target_feature(enable = "neon,dotprod")]
unsafe fn tile_dotprod(
    qa: &QuantizedActivations,
    r0: usize,
    rows: usize,
    panel: *const i32,
    has_min: bool,
    out: &mut TileOut,
) {
    // SAFETY: forwarded contract, dotprod included.
    unsafe { dispatch::<SDot>(qa, r0, rows, panel, has_min, out) }
}

#[inline(always)]
unsafe fn dispatch<D: BlockDot>(
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
            (1, false) => tile::<1, false, D>(qa, r0, panel, out),
            (2, false) => tile::<2, false, D>(qa, r0, panel, out),
            (3, false) => tile::<3, false, D>(qa, r0, panel, out),
            (_, false) => tile::<MR, false, D>(qa, r0, panel, out),
            (1, true) => tile::<1, true, D>(qa, r0, panel, out),
            (2, true) => tile::<2, true, D>(qa, r0, panel, out),
            (3, true) => tile::<3, true, D>(qa, r0, panel, out),
            (_, true) => tile::<MR, true, D>(qa, r0, panel, out),
        }
    }
}

/// `R` rows × 4 columns in the canonical order of [`super`].
#[inline(always)]
unsafe fn tile<const R: usize, const MIN: bool, D: BlockDot>(
    qa: &QuantizedActivations,
    r0: usize,
    panel: *const i32,
    out: &mut TileOut,
) {
    let k = qa.k();
    let (nb, ns) = (k / 32, k / 16);
    // SAFETY: rows r0..r0+R are in bounds; the panel holds one group of nb packed blocks.
    unsafe {
        let x = qa.qs.as_ptr().add(r0 * k);
        let dx = qa.d.as_ptr().add(r0 * ns);
        let sx = qa.dsums.as_ptr().add(r0 * ns);
        let mut acc = [vdupq_n_f32(0.0); R];
        for b in 0..nb {
            let p = panel.add(b * WORDS);
            let codes = p.cast::<i8>();
            for h in 0..2 {
                let mut v = [[vdupq_n_s32(0); R]; GROUP];
                for (j, vj) in v.iter_mut().enumerate() {
                    let wh = vld1q_s8(codes.add(32 * j + 16 * h));
                    for (r, vr) in vj.iter_mut().enumerate() {
                        *vr = D::partials(x.add(r * k + b * 32 + 16 * h), wh);
                    }
                }
                let dw = vld1q_f32(p.add(SCALES + 4 * h).cast());
                let mw = vld1q_f32(p.add(MINS + 4 * h).cast());
                for (r, a) in acc.iter_mut().enumerate() {
                    let sums =
                        vpaddq_s32(vpaddq_s32(v[0][r], v[1][r]), vpaddq_s32(v[2][r], v[3][r]));
                    let s = r * ns + 2 * b + h;
                    let dxr = vdupq_n_f32(*dx.add(s));
                    *a = vfmaq_f32(*a, vmulq_f32(dxr, dw), vcvtq_f32_s32(sums));
                    if MIN {
                        *a = vfmaq_f32(*a, mw, vdupq_n_f32(*sx.add(s)));
                    }
                }
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            vst1q_f32(o.as_mut_ptr(), a);
        }
    }
}
