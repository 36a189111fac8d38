//! Model graphs (BERT first) and the worker pool that runs them.
//!
//! This crate joins the two leaf crates: [`gguf_loader`] hands it typed views of a GGUF file's
//! tensors and [`ggufembed_kernels`] computes with them. Today it holds the [`tokenizer`] built
//! from GGUF metadata (WordPiece for BERT) and the crate's error type; the BERT graph and the
//! worker pool arrive with the end-to-end and parallel-runtime work.

pub use gguf_loader;
pub use ggufembed_kernels as kernels;

mod batch;
pub mod bert;
pub mod error;
pub mod exec;
pub mod gemma;
mod hparams;
pub mod modern_bert;
pub mod nomic_bert;
pub mod pool;
pub mod pooling;
pub mod profile;
mod rope_tables;
pub mod tokenizer;
pub mod weights;

pub use error::RuntimeError;
pub use pooling::Pooling;
pub use tokenizer::Tokenizer;
