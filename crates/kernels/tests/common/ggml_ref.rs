//! ggml's reference dequantizers (`dequantize_row_*` in ggml-quants.c), transliterated from the
//! block layouts in ggml-common.h onto raw block bytes: independent of the crate's decoders (no
//! shared helper, ggml's own loop structure, `aux` words for Q3_K's scales).
#![allow(dead_code)]

use half::f16;

fn h(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

const KVALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// (block bytes, weights per block, offsets of the f16 fields) of a ggml type name.
pub fn layout(name: &str) -> (usize, usize, &'static [usize]) {
    match name {
        "q4_0" => (18, 32, &[0]),
        "q4_1" => (20, 32, &[0, 2]),
        "q5_0" => (22, 32, &[0]),
        "q5_1" => (24, 32, &[0, 2]),
        "q8_0" => (34, 32, &[0]),
        "q2_K" => (84, 256, &[80, 82]),
        "q3_K" => (110, 256, &[108]),
        "q4_K" => (144, 256, &[0, 2]),
        "q5_K" => (176, 256, &[0, 2]),
        "q6_K" => (210, 256, &[208]),
        "iq4_nl" => (18, 32, &[0]),
        "iq4_xs" => (136, 256, &[0]),
        _ => panic!("no layout for {name}"),
    }
}

/// Dequantizes one block of type `name`, appending to `y`.
pub fn dequantize_block(name: &str, x: &[u8], y: &mut Vec<f32>) {
    match name {
        "q4_0" | "q4_1" | "iq4_nl" => {
            let d = h(x, 0);
            let (m, qs) = if name == "q4_1" {
                (h(x, 2), &x[4..20])
            } else {
                (0.0, &x[2..18])
            };
            let mut out = [0.0f32; 32];
            for j in 0..16 {
                let (x0, x1) = ((qs[j] & 0x0F) as i32, (qs[j] >> 4) as i32);
                match name {
                    "q4_0" => {
                        out[j] = (x0 - 8) as f32 * d;
                        out[j + 16] = (x1 - 8) as f32 * d;
                    }
                    "q4_1" => {
                        out[j] = x0 as f32 * d + m;
                        out[j + 16] = x1 as f32 * d + m;
                    }
                    _ => {
                        out[j] = d * KVALUES[x0 as usize] as f32;
                        out[j + 16] = d * KVALUES[x1 as usize] as f32;
                    }
                }
            }
            y.extend_from_slice(&out);
        }
        "q5_0" | "q5_1" => {
            let d = h(x, 0);
            let (m, o) = if name == "q5_1" {
                (h(x, 2), 4)
            } else {
                (0.0, 2)
            };
            let qh = u32::from_le_bytes(x[o..o + 4].try_into().unwrap());
            let qs = &x[o + 4..o + 20];
            let mut out = [0.0f32; 32];
            for j in 0..16 {
                let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
                let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
                let x0 = ((qs[j] & 0x0F) | xh_0) as i32;
                let x1 = ((qs[j] >> 4) | xh_1) as i32;
                if name == "q5_0" {
                    out[j] = (x0 - 16) as f32 * d;
                    out[j + 16] = (x1 - 16) as f32 * d;
                } else {
                    out[j] = x0 as f32 * d + m;
                    out[j + 16] = x1 as f32 * d + m;
                }
            }
            y.extend_from_slice(&out);
        }
        "q8_0" => {
            let d = h(x, 0);
            y.extend(x[2..34].iter().map(|&q| q as i8 as f32 * d));
        }
        "q2_K" => {
            let (scales, qs) = (&x[0..16], &x[16..80]);
            let (d, min) = (h(x, 80), h(x, 82));
            let mut q = 0usize;
            let mut is = 0usize;
            for _n in (0..256).step_by(128) {
                let mut shift = 0;
                for _j in 0..4 {
                    let sc = scales[is];
                    is += 1;
                    let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
                    for l in 0..16 {
                        y.push(dl * ((qs[q + l] >> shift) & 3) as i8 as f32 - ml);
                    }
                    let sc = scales[is];
                    is += 1;
                    let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
                    for l in 0..16 {
                        y.push(dl * ((qs[q + l + 16] >> shift) & 3) as i8 as f32 - ml);
                    }
                    shift += 2;
                }
                q += 32;
            }
        }
        "q3_K" => {
            const KMASK1: u32 = 0x03030303;
            const KMASK2: u32 = 0x0f0f0f0f;
            let (hm, qs, sc) = (&x[0..32], &x[32..96], &x[96..108]);
            let d_all = h(x, 108);
            let mut aux = [0u32; 4];
            for i in 0..3 {
                aux[i] = u32::from_le_bytes(sc[4 * i..4 * i + 4].try_into().unwrap());
            }
            let tmp = aux[2];
            aux[2] = ((aux[0] >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4);
            aux[3] = ((aux[1] >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4);
            aux[0] = (aux[0] & KMASK2) | ((tmp & KMASK1) << 4);
            aux[1] = (aux[1] & KMASK2) | (((tmp >> 2) & KMASK1) << 4);
            let scales: Vec<i8> = aux
                .iter()
                .flat_map(|a| a.to_le_bytes())
                .map(|b| b as i8)
                .collect();
            let (mut q, mut is, mut m) = (0usize, 0usize, 1u8);
            for _n in (0..256).step_by(128) {
                let mut shift = 0;
                for _j in 0..4 {
                    let dl = d_all * (scales[is] as i32 - 32) as f32;
                    is += 1;
                    for l in 0..16 {
                        let v =
                            ((qs[q + l] >> shift) & 3) as i8 - if hm[l] & m != 0 { 0 } else { 4 };
                        y.push(dl * v as f32);
                    }
                    let dl = d_all * (scales[is] as i32 - 32) as f32;
                    is += 1;
                    for l in 0..16 {
                        let v = ((qs[q + l + 16] >> shift) & 3) as i8
                            - if hm[l + 16] & m != 0 { 0 } else { 4 };
                        y.push(dl * v as f32);
                    }
                    shift += 2;
                    m <<= 1;
                }
                q += 32;
            }
        }
        "q4_K" | "q5_K" => {
            let (d, min) = (h(x, 0), h(x, 2));
            let sc = &x[4..16];
            let (qh, ql) = if name == "q5_K" {
                (&x[16..48], &x[48..176])
            } else {
                (&[][..], &x[16..144])
            };
            let get = |j: usize| -> (u8, u8) {
                if j < 4 {
                    (sc[j] & 63, sc[j + 4] & 63)
                } else {
                    (
                        (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4),
                        (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4),
                    )
                }
            };
            let (mut q, mut is, mut u1, mut u2) = (0usize, 0usize, 1u8, 2u8);
            for _j in (0..256).step_by(64) {
                let (s, m) = get(is);
                let (d1, m1) = (d * s as f32, min * m as f32);
                let (s, m) = get(is + 1);
                let (d2, m2) = (d * s as f32, min * m as f32);
                for l in 0..32 {
                    let hb = if !qh.is_empty() && qh[l] & u1 != 0 {
                        16
                    } else {
                        0
                    };
                    y.push(d1 * ((ql[q + l] & 0xF) + hb) as f32 - m1);
                }
                for l in 0..32 {
                    let hb = if !qh.is_empty() && qh[l] & u2 != 0 {
                        16
                    } else {
                        0
                    };
                    y.push(d2 * ((ql[q + l] >> 4) + hb) as f32 - m2);
                }
                q += 32;
                is += 2;
                u1 <<= 2;
                u2 <<= 2;
            }
        }
        "q6_K" => {
            let d = h(x, 208);
            let mut out = [0.0f32; 256];
            let (mut ql, mut qh, mut sc, mut yo) = (0usize, 128usize, 192usize, 0usize);
            for _n in (0..256).step_by(128) {
                for l in 0..32 {
                    let is = l / 16;
                    let q1 = ((x[ql + l] & 0xF) | ((x[qh + l] & 3) << 4)) as i8 - 32;
                    let q2 = ((x[ql + l + 32] & 0xF) | (((x[qh + l] >> 2) & 3) << 4)) as i8 - 32;
                    let q3 = ((x[ql + l] >> 4) | (((x[qh + l] >> 4) & 3) << 4)) as i8 - 32;
                    let q4 = ((x[ql + l + 32] >> 4) | (((x[qh + l] >> 6) & 3) << 4)) as i8 - 32;
                    let s = |i: usize| x[sc + i] as i8 as f32;
                    out[yo + l] = d * s(is) * q1 as f32;
                    out[yo + l + 32] = d * s(is + 2) * q2 as f32;
                    out[yo + l + 64] = d * s(is + 4) * q3 as f32;
                    out[yo + l + 96] = d * s(is + 6) * q4 as f32;
                }
                yo += 128;
                ql += 64;
                qh += 32;
                sc += 8;
            }
            y.extend_from_slice(&out);
        }
        "iq4_xs" => {
            let d = h(x, 0);
            let scales_h = u16::from_le_bytes([x[2], x[3]]);
            let (scales_l, qs) = (&x[4..8], &x[8..136]);
            for ib in 0..8 {
                let ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) as i32
                    | ((((scales_h >> (2 * ib)) & 3) as i32) << 4);
                let dl = d * (ls - 32) as f32;
                let mut out = [0.0f32; 32];
                for j in 0..16 {
                    out[j] = dl * KVALUES[(qs[16 * ib + j] & 0xf) as usize] as f32;
                    out[j + 16] = dl * KVALUES[(qs[16 * ib + j] >> 4) as usize] as f32;
                }
                y.extend_from_slice(&out);
            }
        }
        _ => panic!("no reference for {name}"),
    }
}

/// Dequantizes a row of whole blocks.
pub fn dequantize_row(name: &str, bytes: &[u8]) -> Vec<f32> {
    let (size, _, _) = layout(name);
    let mut y = Vec::new();
    for b in bytes.chunks_exact(size) {
        dequantize_block(name, b, &mut y);
    }
    y
}
