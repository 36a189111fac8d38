//! ggufembed: fast, faithful sentence embeddings from GGUF models on the CPU.
//!
//! ```no_run
//! # fn main() -> Result<(), ggufembed::Error> {
//! let model = ggufembed::open("all-MiniLM-L6-v2.q8_0.gguf")?;
//! let embeddings = model.embed(&["first text", "second text"])?;
//! for (i, vector) in embeddings.iter().enumerate() {
//!     println!("{i}: {} tokens, {:?}…", embeddings.tokens(i), &vector[..4]);
//! }
//! # Ok(()) }
//! ```
//!
//! [`open`] memory-maps a GGUF file (BERT-family encoders such as all-MiniLM-L6-v2, converted by
//! llama.cpp or by `ggufembed convert`), checks every tensor and hyper-parameter, and builds the
//! tokenizer from the file's metadata. [`Model::embed`] tokenizes, runs the encoder with SIMD
//! kernels on worker threads, pools and normalizes. The command line (`ggufembed`,
//! `ggufembed-profile`) is the `ggufembed-cli` crate; the converter is `ggufembed-convert`.

mod dimensions;
mod embeddings;
mod error;
mod model;
mod options;

pub use dimensions::{check_dimensions, truncate_embedding};
pub use embeddings::Embeddings;
pub use error::{Error, Result};
pub use gguf_loader;
pub use model::{EmbedIter, Embedded, Model, RerankOptions, Scored, open, open_with, sigmoid};
pub use options::{Device, Options, Parallelism, Pooling, prompt_presets};
