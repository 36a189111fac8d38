//! ggufembed: fast, faithful sentence embeddings from GGUF models on the CPU.
//!
//! This crate is the public face of the workspace: the library API and the `ggufembed`
//! command-line tool. The embedding API (`open`, `embed`) arrives with the BERT end-to-end
//! work; today the crate offers [`inspect`], the report behind `ggufembed inspect`, and
//! re-exports the GGUF reader it is built on.

pub mod convert;
pub mod inspect;

pub use gguf_loader;
