//! GPU kernels (feature `gpu`): the WGSL compute shaders of `crates/kernels/wgsl/`
//! run through `wgpu` on Metal (Apple), Vulkan (Linux, Android, Windows) or DX12
//! (Windows).
//!
//! Like the CPU kernels, this module knows nothing of GGUF files or models: a [`GpuContext`]
//! owns a device and the compiled pipelines, [`GpuContext::upload_matrix`] copies a weight
//! matrix in its storage type (F32, F16, BF16 or Q8_0 blocks, dequantized in the shaders), and a
//! [`GpuPass`] records a sequence of operations (matmul, embedding gather, LayerNorm, attention
//! over packed sequences, pooling, L2 normalization) that run in one submission, so a model's
//! whole forward pass makes no round trip through the CPU. See docs/GPU.md.
//!
//! Every operation computes each output from its own row's (or sequence's) data in a fixed
//! order, so results do not depend on what else is in the batch.

mod context;
mod pass;
mod shaders;
mod weights;

pub use context::{AdapterPolicy, AdapterSummary, GpuContext, GpuError};
pub use pass::{
    AttentionShape, GpuAttentionInputs, GpuNormParams, GpuPass, MAX_HEAD_DIM, PoolMode,
};
pub use weights::{GpuBuffer, GpuMatrix, GpuWeightData};

/// Result of the GPU module.
pub type GpuResult<T> = Result<T, GpuError>;
