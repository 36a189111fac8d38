//! Model graphs, the architecture registry and the scheduler that runs them.
//!
//! This crate joins the two leaf crates: [`gguf_loader`] hands it typed views of a GGUF file's
//! tensors and [`ggufembed_kernels`] computes with them. It holds the [`tokenizer`]s built from
//! GGUF metadata, one module per architecture ([`bert`], [`gemma`], [`nomic_bert`],
//! [`modern_bert`], [`qwen3`]) behind the [`Encoder`] trait, the [`registry`] that maps
//! `general.architecture` to them and owns the mapped file with the weights bound to it
//! ([`MappedEncoder`]), and the [`Scheduler`] that checks packed [`batch`]es once and runs them
//! on the worker [`pool`] or a GPU.

pub use gguf_loader;
pub use ggufembed_kernels as kernels;

pub mod batch;
pub mod bert;
pub mod encoder;
pub mod error;
pub mod exec;
pub mod gemma;
mod graph;
mod hparams;
pub mod modern_bert;
pub mod nomic_bert;
pub mod pool;
pub mod pooling;
pub mod profile;
pub mod qwen3;
pub mod registry;
mod rope_tables;
mod rotary_attention;
pub mod scheduler;
pub mod tokenizer;
pub mod weights;

pub use batch::{Batch, BatchLimits, CheckedBatch};
pub use encoder::Encoder;
pub use error::RuntimeError;
pub use pooling::Pooling;
pub use registry::MappedEncoder;
pub use scheduler::{Parallelism, Scheduler, SchedulerConfig};
pub use tokenizer::Tokenizer;
