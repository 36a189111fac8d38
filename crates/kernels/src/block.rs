//! Quantized block types, laid out exactly as ggml stores them in GGUF files.

use bytemuck::{Pod, Zeroable};
use half::f16;

/// Number of weights in one [`BlockQ8_0`].
pub const QK8_0: usize = 32;

/// ggml's `block_q8_0`: 32 signed 8-bit weights sharing one f16 scale `d`.
///
/// The value of weight `i` is `d * qs[i]`. The layout (2-byte scale, then 32 bytes, no padding,
/// 2-byte alignment) matches the GGUF on-disk format, so a slice of blocks can be viewed directly
/// in a memory-mapped file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_0 {
    /// Scale: `amax / 127` of the 32 source values, stored as f16.
    pub d: f16,
    /// Quantized values.
    pub qs: [i8; QK8_0],
}

const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(std::mem::align_of::<BlockQ8_0>() == 2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_q8_0_casts_from_gguf_bytes() {
        let mut bytes = [0u8; 68];
        // Block 0: d = 1.0 (0x3C00), qs[0] = -1; block 1: d = 0.5 (0x3800), qs[31] = 127.
        bytes[0..2].copy_from_slice(&0x3C00u16.to_le_bytes());
        bytes[2] = 0xFF;
        bytes[34..36].copy_from_slice(&0x3800u16.to_le_bytes());
        bytes[67] = 127;
        let aligned: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        let blocks: &[BlockQ8_0] = bytemuck::cast_slice(&aligned);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].d.to_f32(), 1.0);
        assert_eq!(blocks[0].qs[0], -1);
        assert_eq!(blocks[1].d.to_f32(), 0.5);
        assert_eq!(blocks[1].qs[31], 127);
    }
}
