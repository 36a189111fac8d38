//! Serial SIMD kernels for ggufembed.
//!
//! This crate knows nothing of GGUF files or models: it works on plain slices of `f32`,
//! [`half::f16`] and quantized blocks such as [`BlockQ8_0`]. Parallelism is the runtime's job;
//! every kernel here runs on the calling thread.

pub mod block;

pub use block::{BlockQ8_0, QK8_0};
