//! A memory-mapped `model.safetensors`, parsed and validated by the `safetensors` crate.

use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, Metadata, SafeTensors};

use super::quant;
use super::{ConvertError, Result};

/// A validated safetensors file over a read-only memory map.
pub(crate) struct SafetensorsFile {
    pub path: PathBuf,
    map: memmap2::Mmap,
    header_len: usize,
    metadata: Metadata,
}

/// One tensor's description.
pub(crate) struct StTensor<'a> {
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    pub data: &'a [u8],
}

impl SafetensorsFile {
    /// Maps and validates `path` (header, offsets, sizes).
    pub fn open(path: &Path) -> Result<SafetensorsFile> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = path.parent().unwrap_or(Path::new("."));
                let what = if dir.join("model.safetensors.index.json").exists() {
                    "weights: sharded safetensors checkpoints are not supported yet, only a single model.safetensors"
                } else if dir.join("pytorch_model.bin").exists() {
                    "weights: pytorch_model.bin is not supported, only model.safetensors"
                } else {
                    "weights (model.safetensors)"
                };
                return Err(ConvertError::MissingFile {
                    path: path.to_path_buf(),
                    what: what.into(),
                });
            }
            Err(source) => {
                return Err(ConvertError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let io = |source| ConvertError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = file.metadata().map_err(io)?.len();
        if len < 8 {
            return Err(ConvertError::Safetensors {
                path: path.to_path_buf(),
                reason: format!("the file is {len} bytes long, too short for a header"),
            });
        }
        // SAFETY: the map is read-only and private to this process; like every mmap-based
        // reader we rely on the file not being truncated or rewritten during the conversion.
        // All accesses go through bounds-checked slices validated by `read_metadata`.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let (header_len, metadata) =
            SafeTensors::read_metadata(&map).map_err(|e| ConvertError::Safetensors {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            map,
            header_len,
            metadata,
        })
    }

    /// All tensor names, sorted by name as Python's `safetensors` (and llama.cpp's reader)
    /// list them.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.metadata.tensors().into_keys().collect();
        names.sort();
        names
    }

    /// The tensor named `name`, if present.
    pub fn get(&self, name: &str) -> Option<StTensor<'_>> {
        let info = self.metadata.info(name)?;
        let start = 8 + self.header_len + info.data_offsets.0;
        let end = 8 + self.header_len + info.data_offsets.1;
        // `read_metadata` checked that the offsets are contiguous and end at the file's end.
        let data = self.map.get(start..end)?;
        Some(StTensor {
            dtype: info.dtype,
            shape: info.shape.iter().map(|&d| d as u64).collect(),
            data,
        })
    }

    /// The tensor's elements as `f32` (F32, F16 and BF16 inputs; exact widening).
    pub fn to_f32(&self, name: &str, t: &StTensor<'_>) -> Result<Vec<f32>> {
        match t.dtype {
            Dtype::F32 => Ok(quant::f32_from_le_bytes(t.data)),
            Dtype::F16 => Ok(quant::f16_from_le_bytes(t.data)),
            Dtype::BF16 => Ok(quant::bf16_from_le_bytes(t.data)),
            other => Err(ConvertError::TensorDtype {
                path: self.path.clone(),
                name: name.to_string(),
                dtype: format!("{other:?}"),
            }),
        }
    }
}
