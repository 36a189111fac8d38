//! Model graphs (BERT first) and the worker pool that runs them.
//!
//! This crate joins the two leaf crates: [`gguf_loader`] hands it typed views of a GGUF file's
//! tensors and [`ggufembed_kernels`] computes with them. Nothing here is written yet beyond the
//! re-exports the public crate builds on; the BERT graph arrives with the end-to-end issue.

pub use gguf_loader;
pub use ggufembed_kernels as kernels;
