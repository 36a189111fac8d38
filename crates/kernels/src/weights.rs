//! One flat view of a weight matrix's storage, for every format the kernels compute with.
//!
//! The same vocabulary serves the CPU matmuls (`gemm_float_cols`, `gemm_q8_0_cols`,
//! `gemm_quant_cols`), the GPU upload (`gpu::GpuWeightData` is this type; it refuses the block
//! formats it has no shader for) and whatever binds a file's tensors to it.

use half::{bf16, f16};

use crate::block::{BlockQ8_0, QK8_0};
use crate::gemm::FloatWeights;
use crate::quant::formats::QuantType;

/// The values of a weight matrix (`n` rows of `k`, row-major, GGUF's layout) as the file stores
/// them.
#[derive(Clone, Copy, Debug)]
pub enum WeightsView<'a> {
    /// 32-bit floats.
    F32(&'a [f32]),
    /// IEEE half precision.
    F16(&'a [f16]),
    /// bfloat16.
    Bf16(&'a [bf16]),
    /// ggml Q8_0 blocks (32 values each).
    Q8_0(&'a [BlockQ8_0]),
    /// Another ggml block format: the file's bytes, whole blocks.
    Quant(QuantType, &'a [u8]),
}

impl<'a> WeightsView<'a> {
    /// The float formats as the float matmul takes them.
    pub fn float(self) -> Option<FloatWeights<'a>> {
        match self {
            WeightsView::F32(w) => Some(FloatWeights::F32(w)),
            WeightsView::F16(w) => Some(FloatWeights::F16(w)),
            WeightsView::Bf16(w) => Some(FloatWeights::Bf16(w)),
            WeightsView::Q8_0(_) | WeightsView::Quant(..) => None,
        }
    }

    /// Number of values (weights) the view holds.
    pub fn values(self) -> usize {
        match self {
            WeightsView::F32(w) => w.len(),
            WeightsView::F16(w) => w.len(),
            WeightsView::Bf16(w) => w.len(),
            WeightsView::Q8_0(b) => b.len() * QK8_0,
            WeightsView::Quant(ty, bytes) => bytes.len() / ty.block_bytes() * ty.block_size(),
        }
    }

    /// ggml's name of the storage type (`F32`, `Q8_0`, `Q4_K`, …).
    pub fn type_name(self) -> &'static str {
        match self {
            WeightsView::F32(_) => "F32",
            WeightsView::F16(_) => "F16",
            WeightsView::Bf16(_) => "BF16",
            WeightsView::Q8_0(_) => "Q8_0",
            WeightsView::Quant(ty, _) => ty.label(),
        }
    }
}

impl<'a> From<FloatWeights<'a>> for WeightsView<'a> {
    fn from(w: FloatWeights<'a>) -> Self {
        match w {
            FloatWeights::F32(w) => WeightsView::F32(w),
            FloatWeights::F16(w) => WeightsView::F16(w),
            FloatWeights::Bf16(w) => WeightsView::Bf16(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_count_values_and_name_types() {
        let f = [0.0f32; 64];
        let q = [BlockQ8_0::default(); 2];
        let q4 = [0u8; 2 * 18];
        let views = [
            (WeightsView::F32(&f), 64, "F32"),
            (WeightsView::Q8_0(&q), 64, "Q8_0"),
            (WeightsView::Quant(QuantType::Q4_0, &q4), 64, "Q4_0"),
        ];
        for (v, n, name) in views {
            assert_eq!((v.values(), v.type_name()), (n, name));
        }
        assert!(WeightsView::F32(&f).float().is_some());
        assert!(WeightsView::Q8_0(&q).float().is_none());
        let h = [f16::ZERO; 3];
        assert_eq!(WeightsView::from(FloatWeights::F16(&h)).values(), 3);
    }
}
