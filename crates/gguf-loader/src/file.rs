//! [`GgufFile`]: a parsed, validated GGUF file over a read-only memory map.

use std::fs::File;
use std::path::Path;

use bytemuck::Pod;
use half::f16;

use crate::error::{GgufError, Result};
use crate::ggml_type::GgmlType;
use crate::parse::{self, Parsed};
use crate::tensor::TensorInfo;
use crate::value::{Array, ArrayElement, Value};

/// The bytes behind a [`GgufFile`]: a memory map, or an owned copy for in-memory use.
enum Storage {
    Mmap(memmap2::Mmap),
    /// Owned bytes in a `u64` buffer so that tensor data keeps at least 8-byte alignment, as
    /// it has in a page-aligned map.
    Owned {
        words: Vec<u64>,
        len: usize,
    },
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mmap(m) => m,
            Storage::Owned { words, len } => &bytemuck::cast_slice(words)[..*len],
        }
    }
}

/// A validated GGUF file: metadata, tensor infos and zero-copy views of tensor data.
///
/// Opening parses the header, the metadata and the tensor info table and checks them all
/// (see the crate docs); tensor data is never read or copied until a view is asked for.
pub struct GgufFile {
    storage: Storage,
    parsed: Parsed,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.parsed.version)
            .field("metadata", &self.parsed.metadata.len())
            .field("tensors", &self.parsed.tensors.len())
            .field("bytes", &self.storage.bytes().len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and validates the GGUF file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < 4 {
            return Err(GgufError::Truncated {
                field: "header magic".into(),
                offset: 0,
                needed: 4,
                available: len,
            });
        }
        // SAFETY: the map is read-only and private to this process. Like every mmap-based
        // reader (ggml included), we rely on the file not being truncated or rewritten while
        // it is mapped; this is documented on `GgufFile`. All reads go through bounds-checked
        // slices of the map.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_storage(Storage::Mmap(mmap))
    }

    /// Validates a GGUF file held in memory (copied once into an aligned buffer).
    pub fn from_bytes(bytes: &[u8]) -> Result<GgufFile> {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self::from_storage(Storage::Owned {
            words,
            len: bytes.len(),
        })
    }

    fn from_storage(storage: Storage) -> Result<GgufFile> {
        let parsed = parse::parse(storage.bytes())?;
        Ok(GgufFile { storage, parsed })
    }

    /// GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.parsed.version
    }

    /// Size of the whole file in bytes.
    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// Alignment of tensor data (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.parsed.alignment
    }

    /// File offset where the data section starts.
    pub fn data_offset(&self) -> u64 {
        self.parsed.data_offset
    }

    // ---- metadata ----------------------------------------------------------------------

    /// All metadata key-value pairs, in file order.
    pub fn metadata(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.parsed.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value stored under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.parsed
            .index
            .get(key)
            .map(|&i| &self.parsed.metadata[i].1)
    }

    /// File offset of the value stored under `key`, for error messages about it.
    pub fn metadata_offset(&self, key: &str) -> Option<u64> {
        self.parsed
            .index
            .get(key)
            .map(|&i| self.parsed.value_offsets[i])
    }

    /// The value under `key`, or [`GgufError::MissingKey`].
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_string(),
        })
    }

    fn wrong_type(key: &str, expected: &str, found: &Value) -> GgufError {
        GgufError::WrongType {
            key: key.to_string(),
            expected: expected.to_string(),
            found: found.type_description(),
        }
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.require(key)? {
            Value::String(s) => Ok(s),
            v => Err(Self::wrong_type(key, "string", v)),
        }
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        match *self.require(key)? {
            Value::Bool(b) => Ok(b),
            ref v => Err(Self::wrong_type(key, "bool", v)),
        }
    }

    /// Any non-negative integer value, whatever its stored width (converters disagree on
    /// whether counts are u32 or u64).
    pub fn get_uint(&self, key: &str) -> Result<u64> {
        let v = self.require(key)?;
        v.as_u64()
            .ok_or_else(|| Self::wrong_type(key, "a non-negative integer", v))
    }

    /// Any float or integer value, as `f64`.
    pub fn get_f64_lossy(&self, key: &str) -> Result<f64> {
        let v = self.require(key)?;
        v.as_f64()
            .ok_or_else(|| Self::wrong_type(key, "a number", v))
    }

    /// The elements of an array value of element type `T`.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), gguf_loader::GgufError> {
    /// let file = gguf_loader::GgufFile::open("model.gguf")?;
    /// let scores: &[f32] = file.get_array::<f32>("tokenizer.ggml.scores")?;
    /// let tokens: &[String] = file.get_array::<String>("tokenizer.ggml.tokens")?;
    /// # Ok(()) }
    /// ```
    pub fn get_array<T: ArrayElement>(&self, key: &str) -> Result<&[T]> {
        match self.require(key)? {
            Value::Array(a) => T::slice(a).ok_or_else(|| GgufError::WrongType {
                key: key.to_string(),
                expected: format!("array of {}", T::VALUE_TYPE),
                found: a.type_description(),
            }),
            v => Err(Self::wrong_type(
                key,
                &format!("array of {}", T::VALUE_TYPE),
                v,
            )),
        }
    }

    /// The array stored under `key`, whatever its element type.
    pub fn get_any_array(&self, key: &str) -> Result<&Array> {
        match self.require(key)? {
            Value::Array(a) => Ok(a),
            v => Err(Self::wrong_type(key, "array", v)),
        }
    }

    // ---- tensors -----------------------------------------------------------------------

    /// All tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.parsed.tensors
    }

    /// The tensor named `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.parsed
            .tensor_index
            .get(name)
            .map(|&i| &self.parsed.tensors[i])
    }

    /// The tensor named `name`, or [`GgufError::MissingTensor`].
    pub fn require_tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor(name).ok_or_else(|| GgufError::MissingTensor {
            name: name.to_string(),
        })
    }

    /// The raw bytes of a tensor's data (no copy).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        // Parsing proved data_offset + offset + n_bytes <= file length for every tensor.
        let start = (self.parsed.data_offset + info.offset) as usize;
        &self.storage.bytes()[start..start + info.n_bytes as usize]
    }

    /// A tensor's data viewed as a slice of `T`, one `T` per ggml block (so `f32` for F32,
    /// `half::f16` for F16, a 34-byte block struct for Q8_0), without copying.
    ///
    /// Fails when `size_of::<T>()` is not the type's bytes per block, or when the data is not
    /// aligned for `T` in memory.
    pub fn view<T: Pod>(&self, info: &TensorInfo) -> Result<&[T]> {
        let elem = std::mem::size_of::<T>() as u64;
        let view_error = |reason: String| GgufError::TensorView {
            name: info.name.clone(),
            offset: info.offset,
            reason,
        };
        if elem != info.ggml_type.type_size() {
            return Err(view_error(format!(
                "a {}-byte element cannot view {} data ({} bytes per block of {})",
                elem,
                info.ggml_type,
                info.ggml_type.type_size(),
                info.ggml_type.block_size()
            )));
        }
        let bytes = self.tensor_bytes(info);
        if bytes.as_ptr().align_offset(std::mem::align_of::<T>()) != 0 && !bytes.is_empty() {
            return Err(view_error(format!(
                "data is not {}-byte aligned in memory",
                std::mem::align_of::<T>()
            )));
        }
        bytemuck::try_cast_slice(bytes).map_err(|e| view_error(format!("cannot cast: {e}")))
    }

    /// A view checked to be of exactly `ggml_type`.
    pub fn view_as<T: Pod>(&self, info: &TensorInfo, ggml_type: GgmlType) -> Result<&[T]> {
        if info.ggml_type != ggml_type {
            return Err(GgufError::TensorView {
                name: info.name.clone(),
                offset: info.offset,
                reason: format!("has type {}, expected {ggml_type}", info.ggml_type),
            });
        }
        self.view(info)
    }

    /// An F32 tensor's data.
    pub fn view_f32(&self, info: &TensorInfo) -> Result<&[f32]> {
        self.view_as(info, GgmlType::F32)
    }

    /// An F16 tensor's data.
    pub fn view_f16(&self, info: &TensorInfo) -> Result<&[f16]> {
        self.view_as(info, GgmlType::F16)
    }

    /// The index of metadata keys, for callers that iterate by name.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.parsed.metadata.iter().map(|(k, _)| k.as_str())
    }
}
