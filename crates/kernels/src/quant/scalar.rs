//! Portable quantized matmul tile: the oracle every SIMD tier must match bit for bit, and the
//! plain panel layout it shares with NEON.

use super::formats::QuantType;
use super::{MR, Tier, TileOut, Unpacked};
use crate::q8_0::QuantizedActivations;

/// Columns per group (and per tile).
pub(crate) const GROUP: usize = 4;
/// Plain panel, per (group, 32-value block): the 4 columns' 32 codes (32 words), then the scales
/// of values 0..16 (4 f32) and 16..32 (4 f32), then the mins likewise.
pub(crate) const WORDS: usize = 32 + 16;
pub(crate) const SCALES: usize = 32;
pub(crate) const MINS: usize = 40;

pub(crate) const TIER: Tier = Tier {
    group: GROUP,
    nr: GROUP,
    words: WORDS,
    unpack,
    pack: pack_plain,
    tile,
};

/// Decodes a row with the baseline instruction set.
///
/// # Safety
/// None beyond the signature (safe code; `unsafe` for the table's type).
pub(crate) unsafe fn unpack(
    ty: QuantType,
    bytes: &[u8],
    codes: &mut [i8],
    scales: &mut [f32],
    mins: &mut [f32],
) {
    ty.unpack_row(bytes, codes, scales, mins);
}

/// Packs a decoded group into the plain layout.
///
/// # Safety
/// None beyond the signature (safe code; `unsafe` for the table's type).
pub(crate) unsafe fn pack_plain(un: &Unpacked, k: usize, out: &mut [i32]) {
    let (nb, ns) = (k / 32, k / 16);
    for b in 0..nb {
        let dst = &mut out[b * WORDS..(b + 1) * WORDS];
        let codes: &mut [i8] = bytemuck::cast_slice_mut(&mut dst[..32]);
        for j in 0..GROUP {
            codes[32 * j..32 * j + 32]
                .copy_from_slice(&un.codes[j * k + 32 * b..j * k + 32 * b + 32]);
        }
        for h in 0..2 {
            for j in 0..GROUP {
                dst[SCALES + 4 * h + j] = un.scales[j * ns + 2 * b + h].to_bits() as i32;
                dst[MINS + 4 * h + j] = un.mins[j * ns + 2 * b + h].to_bits() as i32;
            }
        }
    }
}

/// # Safety
/// `panel` must point at a group of `k / 32` packed blocks and rows `r0..r0 + rows` must exist.
unsafe fn tile(
    qa: &QuantizedActivations,
    r0: usize,
    rows: usize,
    panel: *const i32,
    has_min: bool,
    out: &mut TileOut,
) {
    let k = qa.k();
    let nb = k / 32;
    // SAFETY: per the contract, the panel holds nb * WORDS words.
    let p = unsafe { std::slice::from_raw_parts(panel, nb * WORDS) };
    for (r, o) in out.iter_mut().enumerate().take(rows.min(MR)) {
        let xq = qa.row_codes(r0 + r);
        let dx = qa.row_scales(r0 + r);
        let sx = qa.row_dsums(r0 + r);
        for (j, oj) in o.iter_mut().enumerate().take(GROUP) {
            let mut acc = 0.0f32;
            for b in 0..nb {
                let pb = &p[b * WORDS..(b + 1) * WORDS];
                let codes: &[i8] = bytemuck::cast_slice(&pb[..32]);
                for h in 0..2 {
                    let s = 2 * b + h;
                    let isum: i32 = xq[16 * s..16 * s + 16]
                        .iter()
                        .zip(&codes[32 * j + 16 * h..32 * j + 16 * h + 16])
                        .map(|(&a, &q)| i32::from(a) * i32::from(q))
                        .sum();
                    let dw = f32::from_bits(pb[SCALES + 4 * h + j] as u32);
                    acc = (dx[s] * dw).mul_add(isum as f32, acc);
                    if has_min {
                        let mw = f32::from_bits(pb[MINS + 4 * h + j] as u32);
                        acc = mw.mul_add(sx[s], acc);
                    }
                }
            }
            *oj = acc;
        }
    }
}
