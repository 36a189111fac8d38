//! The runtime crate's one error type.
//!
//! Every fallible operation of `ggufembed-runtime` returns [`RuntimeError`]. Variants say *what*
//! went wrong and *where* (the metadata key, the token id, …) so that a message alone is enough
//! to diagnose a bad model file. The enum is `#[non_exhaustive]`: model graphs and the worker
//! pool add their own variants over time.

/// Everything that can go wrong loading a model's runtime pieces or running them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The GGUF file itself could not be read, or a metadata value could not be fetched
    /// (missing key, wrong type) through the loader.
    #[error(transparent)]
    Gguf(#[from] gguf_loader::GgufError),

    /// A metadata value is present and well-typed but unusable, or a set of values is
    /// inconsistent (e.g. a special-token id outside the vocabulary).
    #[error("metadata key '{key}': {reason}")]
    Metadata {
        /// The key at fault (for cross-key problems, the key whose value was rejected).
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `tokenizer.ggml.model` names a tokenizer family this runtime does not implement.
    #[error("unsupported tokenizer model '{model}'")]
    UnsupportedTokenizer {
        /// The value of `tokenizer.ggml.model`.
        model: String,
    },

    /// The tokenizer could not be built or failed on an input.
    #[error("tokenizer: {reason}")]
    Tokenizer {
        /// What failed.
        reason: String,
    },

    /// `general.architecture` names a model family this runtime does not implement.
    #[error("unsupported architecture '{arch}' (supported: {supported})")]
    UnsupportedArchitecture {
        /// The value of `general.architecture`.
        arch: String,
        /// The architectures this build runs.
        supported: &'static str,
    },

    /// A tensor the model needs is missing, or has the wrong shape or type.
    #[error("tensor '{name}': {reason}")]
    Tensor {
        /// The tensor name, e.g. `blk.3.attn_q.weight`.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The GPU backend failed: no adapter, a buffer above the device's limits, or an error
    /// the device reported.
    #[cfg(feature = "gpu")]
    #[error(transparent)]
    Gpu(#[from] ggufembed_kernels::gpu::GpuError),

    /// An argument passed by the caller is out of its documented range.
    #[error("invalid argument '{name}': {reason}")]
    InvalidArgument {
        /// The parameter's name, e.g. `max_len`.
        name: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}

impl RuntimeError {
    /// Shorthand for [`RuntimeError::Metadata`].
    pub fn metadata(key: impl Into<String>, reason: impl Into<String>) -> RuntimeError {
        RuntimeError::Metadata {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`RuntimeError::Tensor`].
    pub fn tensor(name: impl Into<String>, reason: impl Into<String>) -> RuntimeError {
        RuntimeError::Tensor {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`RuntimeError::Tokenizer`].
    pub(crate) fn tokenizer(reason: impl Into<String>) -> RuntimeError {
        RuntimeError::Tokenizer {
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
