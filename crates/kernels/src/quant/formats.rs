//! One definition per block format: the [`BlockFormat`] trait and its implementation for every
//! ggml block type the matmul computes with.
//!
//! Every format decodes, per 16 weights, to 16 int8 codes `q`, an f32 scale `d` and (formats
//! with an offset) an f32 min `m`, so that weight `i` is exactly `d·q[i]` (or `d·q[i] + m`) —
//! bit for bit the value ggml's `dequantize_row_*` computes. The products that form `d` and `m`
//! are exact in f32: an f16 (11 significant bits) times a K-quant's 6-bit (Q6_K: 8-bit) sub-block
//! scale needs at most 19 bits. All codes fit i8 (IQ4's table spans −127..113, Q6_K −32..31).

use bytemuck::Pod;

use super::blocks::*;
use crate::block::BlockQ8_0;
use crate::q8_0::ActScales;

/// Weights per activation scale and per decoded scale: every format's sub-blocks are 16 or 32.
pub const QK_SUB: usize = 16;

/// A ggml block format.
///
/// Every format dots with the same activation type, [`crate::QuantizedActivations`] (int8 codes
/// with one f32 scale per 16 values): the matmul decodes W to [`QK_SUB`]-value groups of int8 codes
/// and reuses the int8 micro-kernels of each ISA.
pub trait BlockFormat: Pod {
    /// The format's name and ggml id.
    const TYPE: QuantType;
    /// Weights per block.
    const QK: usize;
    /// Whether weights carry an offset (`d·q + m`).
    const HAS_MIN: bool;
    /// Bytes per block (the `#[repr(C)]` size, asserted beside each block type).
    const BYTES: usize = std::mem::size_of::<Self>();
    /// How the matmul quantizes the activations this format dots with (see
    /// [`QuantType::block_activations`] for the measurements behind each choice).
    const ACTIVATIONS: ActScales = ActScales::PerHalfBlock;

    /// Decodes the block: `codes` (`QK`), `scales` and `mins` (`QK / 16` each; `mins` is left
    /// alone when the format has no offset).
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], mins: &mut [f32]);

    /// Dequantizes a row of blocks given as the file's bytes into `out` (bit for bit ggml's
    /// `dequantize_row_*`).
    ///
    /// # Panics
    /// If `out.len()` is not a multiple of `QK` or `bytes` is not `out.len() / QK` blocks.
    fn dequantize_row(bytes: &[u8], out: &mut [f32]) {
        dequantize_row::<Self>(bytes, out);
    }
}

/// The quantized weight types the matmul computes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantType {
    /// ggml `q4_0`.
    Q4_0,
    /// ggml `q4_1`.
    Q4_1,
    /// ggml `q5_0`.
    Q5_0,
    /// ggml `q5_1`.
    Q5_1,
    /// ggml `q8_0` (also has its own dedicated matmul, [`crate::gemm_q8_0`]).
    Q8_0,
    /// ggml `q2_K`.
    Q2K,
    /// ggml `q3_K`.
    Q3K,
    /// ggml `q4_K`.
    Q4K,
    /// ggml `q5_K`.
    Q5K,
    /// ggml `q6_K`.
    Q6K,
    /// ggml `iq4_nl`.
    Iq4Nl,
    /// ggml `iq4_xs`.
    Iq4Xs,
}

/// Calls `$f::<BlockType>($args)` for the block type of `$ty`.
macro_rules! with_block {
    ($ty:expr, $f:ident($($arg:expr),*)) => {
        match $ty {
            QuantType::Q4_0 => $f::<BlockQ4_0>($($arg),*),
            QuantType::Q4_1 => $f::<BlockQ4_1>($($arg),*),
            QuantType::Q5_0 => $f::<BlockQ5_0>($($arg),*),
            QuantType::Q5_1 => $f::<BlockQ5_1>($($arg),*),
            QuantType::Q8_0 => $f::<BlockQ8_0>($($arg),*),
            QuantType::Q2K => $f::<BlockQ2K>($($arg),*),
            QuantType::Q3K => $f::<BlockQ3K>($($arg),*),
            QuantType::Q4K => $f::<BlockQ4K>($($arg),*),
            QuantType::Q5K => $f::<BlockQ5K>($($arg),*),
            QuantType::Q6K => $f::<BlockQ6K>($($arg),*),
            QuantType::Iq4Nl => $f::<BlockIq4Nl>($($arg),*),
            QuantType::Iq4Xs => $f::<BlockIq4Xs>($($arg),*),
        }
    };
}

impl QuantType {
    /// Every type, in ggml id order.
    pub const ALL: [QuantType; 12] = [
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
        QuantType::Q8_0,
        QuantType::Q2K,
        QuantType::Q3K,
        QuantType::Q4K,
        QuantType::Q5K,
        QuantType::Q6K,
        QuantType::Iq4Nl,
        QuantType::Iq4Xs,
    ];

    /// ggml's type id (as in GGUF tensor infos).
    pub fn ggml_id(self) -> u32 {
        match self {
            QuantType::Q4_0 => 2,
            QuantType::Q4_1 => 3,
            QuantType::Q5_0 => 6,
            QuantType::Q5_1 => 7,
            QuantType::Q8_0 => 8,
            QuantType::Q2K => 10,
            QuantType::Q3K => 11,
            QuantType::Q4K => 12,
            QuantType::Q5K => 13,
            QuantType::Q6K => 14,
            QuantType::Iq4Nl => 20,
            QuantType::Iq4Xs => 23,
        }
    }

    /// The type with ggml id `id`, if the matmul computes with it.
    pub fn from_ggml_id(id: u32) -> Option<QuantType> {
        Self::ALL.into_iter().find(|t| t.ggml_id() == id)
    }

    /// ggml's name (`"q4_K"`, …).
    pub fn name(self) -> &'static str {
        match self {
            QuantType::Q4_0 => "q4_0",
            QuantType::Q4_1 => "q4_1",
            QuantType::Q5_0 => "q5_0",
            QuantType::Q5_1 => "q5_1",
            QuantType::Q8_0 => "q8_0",
            QuantType::Q2K => "q2_K",
            QuantType::Q3K => "q3_K",
            QuantType::Q4K => "q4_K",
            QuantType::Q5K => "q5_K",
            QuantType::Q6K => "q6_K",
            QuantType::Iq4Nl => "iq4_nl",
            QuantType::Iq4Xs => "iq4_xs",
        }
    }

    /// The name as `ggufembed inspect` and error messages print it (`"Q4_K"`, …).
    pub fn label(self) -> &'static str {
        match self {
            QuantType::Q4_0 => "Q4_0",
            QuantType::Q4_1 => "Q4_1",
            QuantType::Q5_0 => "Q5_0",
            QuantType::Q5_1 => "Q5_1",
            QuantType::Q8_0 => "Q8_0",
            QuantType::Q2K => "Q2_K",
            QuantType::Q3K => "Q3_K",
            QuantType::Q4K => "Q4_K",
            QuantType::Q5K => "Q5_K",
            QuantType::Q6K => "Q6_K",
            QuantType::Iq4Nl => "IQ4_NL",
            QuantType::Iq4Xs => "IQ4_XS",
        }
    }

    /// Weights per block.
    pub fn block_size(self) -> usize {
        fn f<B: BlockFormat>() -> usize {
            B::QK
        }
        with_block!(self, f())
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        fn f<B: BlockFormat>() -> usize {
            B::BYTES
        }
        with_block!(self, f())
    }

    /// Whether weights carry an offset (`d·q + m`).
    pub fn has_min(self) -> bool {
        fn f<B: BlockFormat>() -> bool {
            B::HAS_MIN
        }
        with_block!(self, f())
    }

    /// Whether the matmul quantizes activations for this type as llama.cpp does, in 32-value
    /// blocks with an f16 scale ([`crate::QuantizedActivations::quantize_for`]): the formats
    /// without a min that llama.cpp dots with Q8_0 activations (Q4_0, Q5_0, IQ4_NL).
    ///
    /// Measured on the MiniLM dev texts (`scripts/quant-accuracy.sh`, p1 vs sentence-transformers;
    /// our one scale per 16 / llama.cpp's blocks / llama.cpp itself): Q4_0 0.907512 / 0.909722 /
    /// 0.908719 (per 16 misses the bar), Q5_0 0.977306 / 0.977961 / 0.977378, IQ4_NL 0.942869 /
    /// 0.942669 / 0.940874. The formats with a min keep one scale per 16: llama.cpp dots them with
    /// Q8_1, whose block sum it rounds to f16 (we keep it exact), and blocks measured worse there
    /// (Q4_1 0.930770 / 0.926439 / 0.929137, below the bar; Q5_1 0.980146 / 0.979830 /
    /// 0.979768). Q8_0 keeps one scale per 16 (0.998908 vs llama.cpp's 0.998513), and the K-quants
    /// and IQ4_XS too (llama.cpp's Q8_K, 256-value blocks, is coarser still). These differences
    /// are of the order of one text's noise; the choice is the measured one.
    pub fn block_activations(self) -> bool {
        self.activations() == ActScales::PerBlock
    }

    /// How the matmul quantizes activations for this type ([`BlockFormat::ACTIVATIONS`]).
    pub fn activations(self) -> ActScales {
        fn f<B: BlockFormat>() -> ActScales {
            B::ACTIVATIONS
        }
        with_block!(self, f())
    }

    /// Bytes of one row of `k` weights, or `None` if `k` is not a multiple of the block size.
    pub fn row_bytes(self, k: usize) -> Option<usize> {
        k.is_multiple_of(self.block_size())
            .then(|| k / self.block_size() * self.block_bytes())
    }

    /// Decodes a row (`codes.len()` weights, a multiple of the block size) from its bytes.
    ///
    /// # Panics
    /// If the lengths disagree: `bytes` must be [`row_bytes`](Self::row_bytes)`(codes.len())`,
    /// `scales` and `mins` `codes.len() / 16` long.
    #[inline(always)]
    pub fn unpack_row(self, bytes: &[u8], codes: &mut [i8], scales: &mut [f32], mins: &mut [f32]) {
        with_block!(self, unpack_row(bytes, codes, scales, mins))
    }

    /// Dequantizes a row of `out.len()` weights from its bytes, bit-identical to ggml's
    /// `dequantize_row_*`.
    ///
    /// # Panics
    /// If `out.len()` is not a multiple of the block size or `bytes` is not its row's length.
    pub fn dequantize_row(self, bytes: &[u8], out: &mut [f32]) {
        fn f<B: BlockFormat>(bytes: &[u8], out: &mut [f32]) {
            B::dequantize_row(bytes, out)
        }
        with_block!(self, f(bytes, out))
    }
}

impl std::fmt::Display for QuantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[inline(always)]
fn unpack_row<B: BlockFormat>(
    bytes: &[u8],
    codes: &mut [i8],
    scales: &mut [f32],
    mins: &mut [f32],
) {
    let size = std::mem::size_of::<B>();
    let k = codes.len();
    assert!(k.is_multiple_of(B::QK), "{}: row of {k} weights", B::TYPE);
    assert_eq!(bytes.len(), k / B::QK * size, "{}: row bytes", B::TYPE);
    assert!(
        scales.len() == k / QK_SUB && mins.len() == k / QK_SUB,
        "{}: scales",
        B::TYPE
    );
    let g = B::QK / QK_SUB;
    for (((raw, c), s), m) in bytes
        .chunks_exact(size)
        .zip(codes.chunks_exact_mut(B::QK))
        .zip(scales.chunks_exact_mut(g))
        .zip(mins.chunks_exact_mut(g))
    {
        // The file's bytes are only 1-byte aligned in general (a 144-byte block at any offset).
        let block: B = bytemuck::pod_read_unaligned(raw);
        block.unpack(c, s, m);
    }
}

fn dequantize_row<B: BlockFormat>(bytes: &[u8], out: &mut [f32]) {
    let k = out.len();
    let (mut codes, mut scales, mut mins) = (
        vec![0i8; B::QK],
        vec![0.0f32; B::QK / QK_SUB],
        vec![0.0f32; B::QK / QK_SUB],
    );
    let size = std::mem::size_of::<B>();
    assert!(k.is_multiple_of(B::QK), "{}: row of {k} weights", B::TYPE);
    assert_eq!(bytes.len(), k / B::QK * size, "{}: row bytes", B::TYPE);
    for (raw, o) in bytes.chunks_exact(size).zip(out.chunks_exact_mut(B::QK)) {
        unpack_row::<B>(raw, &mut codes, &mut scales, &mut mins);
        for (s, og) in o.chunks_exact_mut(QK_SUB).enumerate() {
            let q = &codes[s * QK_SUB..(s + 1) * QK_SUB];
            for (y, &q) in og.iter_mut().zip(q) {
                // `d·q − m` in ggml is `d·q + (−m)` here: the same IEEE result.
                *y = if B::HAS_MIN {
                    scales[s] * f32::from(q) + mins[s]
                } else {
                    scales[s] * f32::from(q)
                };
            }
        }
    }
}

/// The 32-weight formats store weight `j` in the low nibble of byte `j`, `j + 16` in the high one;
/// `f(nibble, bit4)` maps a nibble and its fifth bit (0 or 16; 0 for the 4-bit formats) to a code.
///
/// Written over fixed-size arrays with the fifth bits expanded first so that LLVM vectorizes it
/// (the per-ISA decode wrappers compile it for AVX2 / AVX-512): the per-`j` closure of the first
/// version stayed scalar, 6 instructions per weight, 5 % of a Q4_0 MiniLM run under callgrind.
#[inline(always)]
fn nibbles(qs: &[u8; 16], qh: u32, codes: &mut [i8], f: impl Fn(u8, u8) -> i8) {
    let codes: &mut [i8; 32] = codes.try_into().expect("32 codes");
    let mut h = [0u8; 32];
    for (j, h) in h.iter_mut().enumerate() {
        *h = (((qh >> j) & 1) << 4) as u8;
    }
    for j in 0..16 {
        codes[j] = f(qs[j] & 0xF, h[j]);
        codes[j + 16] = f(qs[j] >> 4, h[j + 16]);
    }
}

impl BlockFormat for BlockQ8_0 {
    const TYPE: QuantType = QuantType::Q8_0;
    const QK: usize = 32;
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], _: &mut [f32]) {
        codes.copy_from_slice(&self.qs);
        scales.fill(self.d.to_f32());
    }
}

impl BlockFormat for BlockQ4_0 {
    const TYPE: QuantType = QuantType::Q4_0;
    const QK: usize = 32;
    const HAS_MIN: bool = false;
    const ACTIVATIONS: ActScales = ActScales::PerBlock;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], _: &mut [f32]) {
        nibbles(&self.qs, 0, codes, |q, _| q as i8 - 8);
        scales.fill(self.d.to_f32());
    }
}

impl BlockFormat for BlockQ4_1 {
    const TYPE: QuantType = QuantType::Q4_1;
    const QK: usize = 32;
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], mins: &mut [f32]) {
        nibbles(&self.qs, 0, codes, |q, _| q as i8);
        scales.fill(self.d.to_f32());
        mins.fill(self.m.to_f32());
    }
}

impl BlockFormat for BlockQ5_0 {
    const TYPE: QuantType = QuantType::Q5_0;
    const QK: usize = 32;
    const HAS_MIN: bool = false;
    const ACTIVATIONS: ActScales = ActScales::PerBlock;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], _: &mut [f32]) {
        let qh = u32::from_le_bytes(self.qh);
        nibbles(&self.qs, qh, codes, |q, h| (q | h) as i8 - 16);
        scales.fill(self.d.to_f32());
    }
}

impl BlockFormat for BlockQ5_1 {
    const TYPE: QuantType = QuantType::Q5_1;
    const QK: usize = 32;
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], mins: &mut [f32]) {
        let qh = u32::from_le_bytes(self.qh);
        nibbles(&self.qs, qh, codes, |q, h| (q | h) as i8);
        scales.fill(self.d.to_f32());
        mins.fill(self.m.to_f32());
    }
}

impl BlockFormat for BlockQ2K {
    const TYPE: QuantType = QuantType::Q2K;
    const QK: usize = QK_K;
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], mins: &mut [f32]) {
        let codes: &mut [i8; QK_K] = codes.try_into().expect("256 codes");
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        // Group g = 8n + 2j + h holds weights 128n + 32j + 16h + l: bits 2j of qs[32n + 16h + l].
        for g in 0..16 {
            let (n, j, h) = (g / 8, g % 8 / 2, g % 2);
            for l in 0..16 {
                codes[g * 16 + l] = ((self.qs[32 * n + 16 * h + l] >> (2 * j)) & 3) as i8;
            }
            let sc = self.scales[g];
            scales[g] = d * f32::from(sc & 0xF);
            mins[g] = -(dmin * f32::from(sc >> 4));
        }
    }
}

impl BlockFormat for BlockQ3K {
    const TYPE: QuantType = QuantType::Q3K;
    const QK: usize = QK_K;
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], _: &mut [f32]) {
        let codes: &mut [i8; QK_K] = codes.try_into().expect("256 codes");
        let d = self.d.to_f32();
        let b = &self.scales;
        for g in 0..16 {
            // Scale g: low 4 bits in the low (g < 8) or high nibble of byte g % 8, high 2 bits in
            // bits 2(g/4).. of byte 8 + g % 4.
            let lo = if g < 8 { b[g] & 0xF } else { b[g - 8] >> 4 };
            let hi = (b[8 + g % 4] >> (2 * (g / 4))) & 3;
            scales[g] = d * f32::from((lo | (hi << 4)) as i8 - 32);
            let (n, j, h) = (g / 8, g % 8 / 2, g % 2);
            for l in 0..16 {
                let q = ((self.qs[32 * n + 16 * h + l] >> (2 * j)) & 3) as i8;
                let high = self.hmask[16 * h + l] & (1 << (4 * n + j)) != 0;
                codes[g * 16 + l] = if high { q } else { q - 4 };
            }
        }
    }
}

/// The `j`-th 6-bit scale and min of a Q4_K/Q5_K block (ggml's `get_scale_min_k4`).
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Q4_K and Q5_K: 8 groups of 32 (two of our 16-value groups each), `d·sc` and `−dmin·m`.
#[inline(always)]
fn k4_scales(d: f32, dmin: f32, q: &[u8; 12], scales: &mut [f32], mins: &mut [f32]) {
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, q);
        scales[2 * j..2 * j + 2].fill(d * f32::from(sc));
        mins[2 * j..2 * j + 2].fill(-(dmin * f32::from(m)));
    }
}

impl BlockFormat for BlockQ4K {
    const TYPE: QuantType = QuantType::Q4K;
    const QK: usize = QK_K;
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], mins: &mut [f32]) {
        let codes: &mut [i8; QK_K] = codes.try_into().expect("256 codes");
        // Chunk c of 64 weights: the low nibbles of qs[32c..32c + 32], then the high ones.
        for c in 0..4 {
            for l in 0..32 {
                let q = self.qs[32 * c + l];
                codes[64 * c + l] = (q & 0xF) as i8;
                codes[64 * c + 32 + l] = (q >> 4) as i8;
            }
        }
        k4_scales(
            self.d.to_f32(),
            self.dmin.to_f32(),
            &self.scales,
            scales,
            mins,
        );
    }
}

impl BlockFormat for BlockQ5K {
    const TYPE: QuantType = QuantType::Q5K;
    const QK: usize = QK_K;
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], mins: &mut [f32]) {
        let codes: &mut [i8; QK_K] = codes.try_into().expect("256 codes");
        for c in 0..4 {
            for l in 0..32 {
                let (q, h) = (self.qs[32 * c + l], self.qh[l]);
                codes[64 * c + l] = ((q & 0xF) | (((h >> (2 * c)) & 1) << 4)) as i8;
                codes[64 * c + 32 + l] = ((q >> 4) | (((h >> (2 * c + 1)) & 1) << 4)) as i8;
            }
        }
        k4_scales(
            self.d.to_f32(),
            self.dmin.to_f32(),
            &self.scales,
            scales,
            mins,
        );
    }
}

impl BlockFormat for BlockQ6K {
    const TYPE: QuantType = QuantType::Q6K;
    const QK: usize = QK_K;
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], _: &mut [f32]) {
        let codes: &mut [i8; QK_K] = codes.try_into().expect("256 codes");
        let d = self.d.to_f32();
        for (s, &sc) in scales.iter_mut().zip(&self.scales) {
            *s = d * f32::from(sc);
        }
        // Half n of 128 weights, part p of 32: low nibble (p even) or high nibble (p odd) of
        // ql[64n + 32(p % 2) + l], high bits 2p of qh[32n + l].
        for n in 0..2 {
            for p in 0..4 {
                for l in 0..32 {
                    let ql = self.ql[64 * n + 32 * (p % 2) + l];
                    let lo = if p < 2 { ql & 0xF } else { ql >> 4 };
                    let hi = (self.qh[32 * n + l] >> (2 * p)) & 3;
                    codes[128 * n + 32 * p + l] = (lo | (hi << 4)) as i8 - 32;
                }
            }
        }
    }
}

impl BlockFormat for BlockIq4Nl {
    const TYPE: QuantType = QuantType::Iq4Nl;
    const QK: usize = 32;
    const HAS_MIN: bool = false;
    const ACTIVATIONS: ActScales = ActScales::PerBlock;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], _: &mut [f32]) {
        nibbles(&self.qs, 0, codes, |q, _| KVALUES_IQ4NL[q as usize]);
        scales.fill(self.d.to_f32());
    }
}

impl BlockFormat for BlockIq4Xs {
    const TYPE: QuantType = QuantType::Iq4Xs;
    const QK: usize = QK_K;
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn unpack(&self, codes: &mut [i8], scales: &mut [f32], _: &mut [f32]) {
        let d = self.d.to_f32();
        for ib in 0..8 {
            let lo = (self.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
            let hi = ((self.scales_h >> (2 * ib)) & 3) as u8;
            scales[2 * ib..2 * ib + 2].fill(d * f32::from((lo | (hi << 4)) as i8 - 32));
            let qs: &[u8; 16] = self.qs[16 * ib..16 * ib + 16].try_into().expect("16 bytes");
            nibbles(qs, 0, &mut codes[32 * ib..32 * ib + 32], |q, _| {
                KVALUES_IQ4NL[q as usize]
            });
        }
    }
}
