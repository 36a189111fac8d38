//! Serial SIMD kernels for ggufembed.
//!
//! This crate knows nothing of GGUF files or models: it works on plain slices of `f32`,
//! [`half::f16`] and quantized blocks such as [`BlockQ8_0`]. Parallelism is the runtime's job;
//! every kernel here runs on the calling thread and allocates nothing in steady state.
//!
//! # Dispatch
//! The best instruction set is detected once at run time ([`kernels`]); `GGUFEMBED_ISA=scalar|avx2|
//! avx512|neon` forces a tier; by default AVX-512 VNNI is used wherever the CPU has it. The free
//! functions of this crate ([`gemm_q8_0`], [`layer_norm`], …)
//! use the detected tier; [`kernels_for`] hands out the table of one given tier so that tests and
//! benchmarks can run every ISA the CPU has.
//!
//! # Determinism
//! Every kernel computes each output row with a reduction order that depends only on the
//! row's own data and the ISA, never on how many rows are processed together or where a row
//! falls in a register tile. The quantized matmul goes further: its integer block dot products
//! are exact and its float accumulation is the same sequence of fused multiply-adds on every ISA,
//! so Q8_0 results are bit-identical across scalar, AVX2, AVX-512 and NEON.

#[macro_use]
mod macros;

pub mod attention;
pub mod block;
pub mod elementwise;
pub mod gemm;
#[cfg(feature = "gpu")]
pub mod gpu;
mod isa;
mod math;
mod operands;
pub mod q8_0;
pub mod quant;
pub mod rope;
mod tiling;
pub mod weights;

pub use attention::{AttentionParams, attention};
pub use block::{BlockQ8_0, QK8_0};
pub use elementwise::{
    add_bias, add_bias_gelu, add_layer_norm, dequantize_row_bf16, dequantize_row_f16,
    dequantize_row_q8_0, geglu, gelu, gelu_tanh, l2_normalize, layer_norm, mean_pool, residual_add,
    rms_norm, silu, softmax, swiglu,
};
pub use gemm::{FloatWeights, gemm_bf16, gemm_f16, gemm_f32, gemm_float_cols};
pub use isa::{Isa, Kernels, kernels_for};
pub use operands::{AttentionInputs, NormParams, WeightRows};
pub use q8_0::{
    ActScales, QK_ACT, QuantizedActivations, gemm_q8_0, gemm_q8_0_cols, quantize_row_q8_0,
};
pub use quant::blocks::{
    BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0,
    BlockQ5_1, BlockQ5K, BlockQ6K, KVALUES_IQ4NL, QK_K,
};
pub use quant::formats::{BlockFormat, QuantType};
pub use quant::{gemm_quant, gemm_quant_cols};
pub use rope::{rope_cache, rope_neox};
pub use weights::WeightsView;

/// Every family's self-check, run on a SIMD tier against the scalar one before it is chosen (the
/// registry, `isa`, gets them from here and so imports no family).
pub(crate) const SELF_CHECKS: &[isa::SelfCheck] =
    &[q8_0::self_check, gemm::self_check, elementwise::self_check];

/// The kernels of the tier chosen for this process (detected once, then cached).
///
/// The fastest available tier is chosen (AVX-512 VNNI where the CPU has F, BW, VL and VNNI, then
/// AVX2, NEON, scalar) unless `GGUFEMBED_ISA` names another. A forced tier the CPU lacks falls
/// back to the best available one with a warning. Every SIMD tier must also pass a tiny
/// self-check against the scalar kernels before it is used (a guard against a miscompiled or
/// mis-detected tier); one that fails is skipped with a warning.
///
/// The AVX-512 tier was opt-in until it had been validated on AVX-512 hardware. On Zen 4 and on
/// an Ice Lake server (2 cores) its kernels pass the whole suite and MiniLM Q8_0 embeddings of
/// the 2,000 bench sentences are bit-identical to the AVX2 tier's; on the Ice Lake it is 2.0x
/// (sentences) and 1.6x (passages) faster than AVX2, whole process, 2 threads, medians of 3.
pub fn kernels() -> &'static Kernels {
    isa::selected(SELF_CHECKS)
}
