//! ggml's block structs for the 4-, 5-, 2…6-bit and IQ4 formats, laid out exactly as in GGUF files
//! (`ggml-common.h`): `#[repr(C)]`, no padding, 2-byte alignment, sizes asserted at compile time.
//!
//! The value of each weight is documented on its struct; [`super::formats`] decodes every block
//! to the shared int8-codes-plus-exact-scales form the matmul uses.

use bytemuck::{Pod, Zeroable};
use half::f16;

/// Weights per K-quant super-block (ggml's `QK_K`).
pub const QK_K: usize = 256;

/// `block_q4_0`: 32 weights `d · (q − 8)`, `q` 4-bit; byte `j` holds weight `j` (low nibble) and
/// `j + 16` (high nibble).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_0 {
    /// Scale.
    pub d: f16,
    /// Nibbles.
    pub qs: [u8; 16],
}

/// `block_q4_1`: 32 weights `d · q + m`, `q` 4-bit, nibbles as [`BlockQ4_0`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_1 {
    /// Scale.
    pub d: f16,
    /// Offset (the block's minimum).
    pub m: f16,
    /// Nibbles.
    pub qs: [u8; 16],
}

/// `block_q5_0`: 32 weights `d · (q − 16)`, `q` 5-bit: nibbles as [`BlockQ4_0`], bit 4 of weight
/// `j` is bit `j` of the little-endian `qh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// Fifth bits, a little-endian u32.
    pub qh: [u8; 4],
    /// Low nibbles.
    pub qs: [u8; 16],
}

/// `block_q5_1`: 32 weights `d · q + m`, `q` 5-bit, bits as [`BlockQ5_0`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: f16,
    /// Offset.
    pub m: f16,
    /// Fifth bits, a little-endian u32.
    pub qh: [u8; 4],
    /// Low nibbles.
    pub qs: [u8; 16],
}

/// `block_q2_K`: 256 weights in 16 groups of 16, `d·sc · q − dmin·m` with 2-bit `q` and 4-bit
/// `sc` (low nibble of `scales[g]`) and `m` (high nibble).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ2K {
    /// Per-group scale (low nibble) and min (high nibble).
    pub scales: [u8; 16],
    /// 2-bit codes, four per byte.
    pub qs: [u8; 64],
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the mins.
    pub dmin: f16,
}

/// `block_q3_K`: 256 weights in 16 groups of 16, `d · (sc − 32) · (q − 4·¬h)` with 2-bit `q`, a
/// high bit `h` from `hmask` and 6-bit `sc` packed in 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ3K {
    /// High bits.
    pub hmask: [u8; 32],
    /// Low 2 bits, four per byte.
    pub qs: [u8; 64],
    /// 16 six-bit scales, packed.
    pub scales: [u8; 12],
    /// Super-block scale.
    pub d: f16,
}

/// `block_q4_K`: 256 weights in 8 groups of 32, `d·sc · q − dmin·m` with 4-bit `q` and 6-bit `sc`,
/// `m` packed in 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ4K {
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the mins.
    pub dmin: f16,
    /// 8 six-bit scales and 8 six-bit mins, packed.
    pub scales: [u8; 12],
    /// Nibbles.
    pub qs: [u8; 128],
}

/// `block_q5_K`: as [`BlockQ4K`] with a fifth bit per weight in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ5K {
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the mins.
    pub dmin: f16,
    /// 8 six-bit scales and 8 six-bit mins, packed.
    pub scales: [u8; 12],
    /// Fifth bits.
    pub qh: [u8; 32],
    /// Low nibbles.
    pub qs: [u8; 128],
}

/// `block_q6_K`: 256 weights in 16 groups of 16, `d · sc · (q − 32)` with 6-bit `q` (low nibble
/// in `ql`, 2 high bits in `qh`) and an 8-bit signed `sc`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ6K {
    /// Low nibbles.
    pub ql: [u8; 128],
    /// High 2 bits, four per byte.
    pub qh: [u8; 64],
    /// Per-group scales.
    pub scales: [i8; 16],
    /// Super-block scale.
    pub d: f16,
}

/// `block_iq4_nl`: 32 weights `d · K[q]`, `q` 4-bit (nibbles as [`BlockQ4_0`]) indexing the
/// non-linear table [`KVALUES_IQ4NL`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockIq4Nl {
    /// Scale.
    pub d: f16,
    /// Table indices.
    pub qs: [u8; 16],
}

/// `block_iq4_xs`: 256 weights in 8 groups of 32, `d · (ls − 32) · K[q]` with a 6-bit `ls` (low 4
/// bits in `scales_l`, high 2 in `scales_h`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq4Xs {
    /// Super-block scale.
    pub d: f16,
    /// High 2 bits of the 8 group scales.
    pub scales_h: u16,
    /// Low 4 bits of the 8 group scales.
    pub scales_l: [u8; 4],
    /// Table indices, nibbles per group of 32 as [`BlockQ4_0`].
    pub qs: [u8; 128],
}

/// ggml's `kvalues_iq4nl`: the 16 levels of IQ4_NL and IQ4_XS.
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

macro_rules! assert_layout {
    ($($t:ty = $size:literal;)*) => {
        $(
            const _: () = assert!(std::mem::size_of::<$t>() == $size);
            const _: () = assert!(std::mem::align_of::<$t>() == 2);
        )*
    };
}

assert_layout! {
    BlockQ4_0 = 18;
    BlockQ4_1 = 20;
    BlockQ5_0 = 22;
    BlockQ5_1 = 24;
    BlockQ2K = 84;
    BlockQ3K = 110;
    BlockQ4K = 144;
    BlockQ5K = 176;
    BlockQ6K = 210;
    BlockIq4Nl = 18;
    BlockIq4Xs = 136;
}
