//! The table of ggml tensor types: id, name, elements per block and bytes per block.
//!
//! Every type a GGUF file may name is listed, including those no kernel of ours computes with,
//! so that any real file can be inspected. Ids that ggml has retired (4, 5, 31–33, 36–38) are
//! refused with a message saying so.

use std::fmt;

macro_rules! ggml_types {
    ($($variant:ident = $id:literal, $name:literal, $block:literal, $bytes:literal;)*) => {
        /// A ggml tensor element type, as stored in a GGUF tensor info.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum GgmlType {
            $(
                #[doc = concat!("`", $name, "`: ", $block, " element(s) per block, ", $bytes, " bytes per block.")]
                $variant = $id,
            )*
        }

        impl GgmlType {
            /// Every type this table knows, in id order.
            pub const ALL: &'static [GgmlType] = &[$(GgmlType::$variant),*];

            /// The type with ggml id `id`, if it is one ggml currently defines.
            pub fn from_id(id: u32) -> Option<GgmlType> {
                match id {
                    $($id => Some(GgmlType::$variant),)*
                    _ => None,
                }
            }

            /// ggml's name for the type (`"q8_0"`, `"f16"`…).
            pub fn name(self) -> &'static str {
                match self { $(GgmlType::$variant => $name,)* }
            }

            /// Number of elements in one block (1 for plain types).
            pub fn block_size(self) -> u64 {
                match self { $(GgmlType::$variant => $block,)* }
            }

            /// Number of bytes one block occupies.
            pub fn type_size(self) -> u64 {
                match self { $(GgmlType::$variant => $bytes,)* }
            }
        }
    };
}

ggml_types! {
    F32 = 0, "f32", 1, 4;
    F16 = 1, "f16", 1, 2;
    Q4_0 = 2, "q4_0", 32, 18;
    Q4_1 = 3, "q4_1", 32, 20;
    Q5_0 = 6, "q5_0", 32, 22;
    Q5_1 = 7, "q5_1", 32, 24;
    Q8_0 = 8, "q8_0", 32, 34;
    Q8_1 = 9, "q8_1", 32, 36;
    Q2_K = 10, "q2_K", 256, 84;
    Q3_K = 11, "q3_K", 256, 110;
    Q4_K = 12, "q4_K", 256, 144;
    Q5_K = 13, "q5_K", 256, 176;
    Q6_K = 14, "q6_K", 256, 210;
    Q8_K = 15, "q8_K", 256, 292;
    IQ2_XXS = 16, "iq2_xxs", 256, 66;
    IQ2_XS = 17, "iq2_xs", 256, 74;
    IQ3_XXS = 18, "iq3_xxs", 256, 98;
    IQ1_S = 19, "iq1_s", 256, 50;
    IQ4_NL = 20, "iq4_nl", 32, 18;
    IQ3_S = 21, "iq3_s", 256, 110;
    IQ2_S = 22, "iq2_s", 256, 82;
    IQ4_XS = 23, "iq4_xs", 256, 136;
    I8 = 24, "i8", 1, 1;
    I16 = 25, "i16", 1, 2;
    I32 = 26, "i32", 1, 4;
    I64 = 27, "i64", 1, 8;
    F64 = 28, "f64", 1, 8;
    IQ1_M = 29, "iq1_m", 256, 56;
    BF16 = 30, "bf16", 1, 2;
    TQ1_0 = 34, "tq1_0", 256, 54;
    TQ2_0 = 35, "tq2_0", 256, 66;
    MXFP4 = 39, "mxfp4", 32, 17;
    NVFP4 = 40, "nvfp4", 64, 36;
    Q1_0 = 41, "q1_0", 128, 18;
    Q2_0 = 42, "q2_0", 64, 18;
}

impl GgmlType {
    /// ggml's id for the type, as written in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// Whether the type is a block-quantized format (block size above 1).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Why ggml no longer accepts `id`, if it is one of the retired type ids.
    pub fn retired(id: u32) -> Option<&'static str> {
        match id {
            4 => Some("Q4_2 was removed from ggml in 2023"),
            5 => Some("Q4_3 was removed from ggml in 2023"),
            31..=33 => Some(
                "Q4_0_4_4/Q4_0_4_8/Q4_0_8_8 are no longer allowed in GGUF files (ggml repacks Q4_0 at load instead)",
            ),
            36..=38 => Some(
                "IQ4_NL_4_4/IQ4_NL_4_8/IQ4_NL_8_8 are no longer allowed in GGUF files (ggml repacks IQ4_NL at load instead)",
            ),
            _ => None,
        }
    }

    /// Bytes taken by one row of `n` elements, or `None` when `n` is not a multiple of the
    /// block size or the size overflows.
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        if !n.is_multiple_of(self.block_size()) {
            return None;
        }
        (n / self.block_size()).checked_mul(self.type_size())
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name().to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_retired_ids_are_not_types() {
        for &t in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(t.id()), Some(t));
            assert!(GgmlType::retired(t.id()).is_none());
        }
        for id in [4, 5, 31, 32, 33, 36, 37, 38] {
            assert_eq!(GgmlType::from_id(id), None);
            assert!(GgmlType::retired(id).is_some());
        }
        assert_eq!(GgmlType::from_id(43), None);
        assert_eq!(GgmlType::ALL.len(), 35);
    }

    #[test]
    fn sizes_match_ggml_block_structs() {
        // sizeof(block_q8_0) = f16 d + 32 x i8.
        assert_eq!(
            (GgmlType::Q8_0.block_size(), GgmlType::Q8_0.type_size()),
            (32, 34)
        );
        // block_q4_K = 2 x f16 + 12 scale bytes + 128 nibble bytes.
        assert_eq!(GgmlType::Q4_K.type_size(), 2 * 2 + 12 + 128);
        // block_q6_K = ql[128] + qh[64] + scales[16] + f16 d.
        assert_eq!(GgmlType::Q6_K.type_size(), 128 + 64 + 16 + 2);
        // block_q8_K = f32 d + qs[256] + bsums[16] (i16).
        assert_eq!(GgmlType::Q8_K.type_size(), 4 + 256 + 32);
        assert_eq!(GgmlType::Q8_0.row_bytes(384), Some(12 * 34));
        assert_eq!(GgmlType::Q8_0.row_bytes(33), None);
        assert_eq!(GgmlType::F32.row_bytes(u64::MAX), None);
        assert_eq!(GgmlType::Q8_0.to_string(), "Q8_0");
    }
}
