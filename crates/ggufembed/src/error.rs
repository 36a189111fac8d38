//! The public crate's error type.

use gguf_loader::GgufError;
use ggufembed_runtime::RuntimeError;

/// Everything that can go wrong opening a model or embedding with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The GGUF file could not be read or is malformed (names the field and byte offset).
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The model's metadata or tensors are unusable, or the tokenizer failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The model cannot do what was asked: embedding with a reranker (a cross-encoder), or
    /// reranking with an embedding model.
    #[error("{0}")]
    WrongModel(String),
    /// An [`Options`](crate::Options) value is out of range for this model.
    #[error("invalid option {name}: {reason}")]
    InvalidOption {
        /// The option, e.g. `max_len`.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
