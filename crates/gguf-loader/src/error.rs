//! The loader's one error type.

use std::path::PathBuf;

/// Everything that can go wrong reading, viewing or writing a GGUF file.
///
/// Parse errors name the field that was wrong and the byte offset at which it was read, so a
/// hostile or corrupt file can be diagnosed with a hex dump.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened, measured or mapped.
    #[error("cannot read '{}': {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The first four bytes are not `GGUF`.
    #[error(
        "not a GGUF file: magic at offset 0 is {found:02x?}, expected \"GGUF\" [47, 47, 55, 46]"
    )]
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
    },

    /// The version field names a GGUF version this reader does not parse.
    #[error("unsupported GGUF version {version} at offset 4: {reason}")]
    UnsupportedVersion {
        /// The version read (little-endian).
        version: u32,
        /// Why it is refused.
        reason: &'static str,
    },

    /// The file ends before a field does.
    #[error(
        "truncated file: {field} at offset {offset} needs {needed} bytes, but only {available} remain"
    )]
    Truncated {
        /// The field being read.
        field: String,
        /// Byte offset of the field.
        offset: u64,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
    },

    /// A field holds a value that is not allowed.
    #[error("invalid {field} at offset {offset}: {reason}")]
    Invalid {
        /// The field, e.g. `tensor_info[3] 'blk.0.attn_q.weight' n_dims`.
        field: String,
        /// Byte offset of the field.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// A metadata key that was asked for is absent.
    #[error("metadata key '{key}' not found")]
    MissingKey {
        /// The key.
        key: String,
    },

    /// A metadata value has another type than the one asked for.
    #[error("metadata key '{key}' holds {found}, expected {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// The type asked for.
        expected: String,
        /// The type stored.
        found: String,
    },

    /// A tensor that was asked for is absent.
    #[error("tensor '{name}' not found")]
    MissingTensor {
        /// The tensor name.
        name: String,
    },

    /// A tensor cannot be viewed as the element type asked for.
    #[error("tensor '{name}' (at data offset {offset}): {reason}")]
    TensorView {
        /// The tensor name.
        name: String,
        /// Offset of its data within the data section.
        offset: u64,
        /// What does not fit.
        reason: String,
    },

    /// The writer was given something it cannot write.
    #[error("cannot write GGUF: {reason}")]
    Write {
        /// What is wrong.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = GgufError> = std::result::Result<T, E>;
