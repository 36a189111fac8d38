//! Zero-copy, hardened reader and writer for GGUF files.
//!
//! [`GgufFile::open`] memory-maps a file and validates everything before handing anything out:
//! magic and version (2 or 3), every metadata key and value (all thirteen value types, arrays
//! of every type including arrays of arrays), and every tensor info (name, up to four
//! dimensions, a known [`GgmlType`], a row length that is a whole number of blocks, a data
//! range that is aligned, inside the file and overlapping no other tensor).
//!
//! The reader is written for files from the internet. Counts and lengths are compared with the
//! bytes left in the file before anything is allocated for them, sizes use checked arithmetic,
//! nesting is bounded, and every refusal is a [`GgufError`] naming the field and the byte
//! offset at which it was read. Nothing panics on malformed input.
//!
//! Typed views ([`GgufFile::view`]) cast the mapped bytes to slices of any [`bytemuck::Pod`]
//! type whose size is the ggml type's bytes per block, after checking length and alignment;
//! no tensor data is ever copied.
//!
//! [`GgufWriter`] writes files in the same format (used by tests and by the converter).
//!
//! ```no_run
//! use gguf_loader::GgufFile;
//! # fn main() -> Result<(), gguf_loader::GgufError> {
//! let file = GgufFile::open("all-MiniLM-L6-v2.f32.gguf")?;
//! let arch = file.get_str("general.architecture")?;
//! let width = file.get_uint(&format!("{arch}.embedding_length"))?;
//! let norm = file.require_tensor("token_embd_norm.weight")?;
//! let weights: &[f32] = file.view_f32(norm)?;
//! assert_eq!(weights.len() as u64, width);
//! # Ok(()) }
//! ```

mod cursor;
mod error;
mod file;
mod ggml_type;
mod parse;
mod tensor;
mod value;
mod writer;

pub use error::{GgufError, Result};
pub use file::GgufFile;
pub use ggml_type::GgmlType;
pub use parse::{
    DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_ALIGNMENT, MAX_ARRAY_DEPTH, MAX_DIMS, MAX_TENSOR_NAME,
};
pub use tensor::TensorInfo;
pub use value::{Array, ArrayElement, Value, ValueType};
pub use writer::GgufWriter;
