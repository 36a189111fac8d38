//! Tensor infos: what the file says about each tensor.

use crate::ggml_type::GgmlType;

/// One tensor's description, as validated from the file's tensor info table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub(crate) name: String,
    pub(crate) ggml_type: GgmlType,
    pub(crate) n_dims: u32,
    pub(crate) dims: [u64; 4],
    pub(crate) n_elements: u64,
    pub(crate) n_bytes: u64,
    pub(crate) offset: u64,
    pub(crate) info_offset: u64,
    pub(crate) offset_field_offset: u64,
}

impl TensorInfo {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.ggml_type
    }

    /// Shape in ggml order: `shape()[0]` is the fastest-varying (row length), so a PyTorch
    /// `[out, in]` weight appears as `[in, out]`.
    pub fn shape(&self) -> &[u64] {
        &self.dims[..self.n_dims as usize]
    }

    /// The four ggml dimensions `ne[0..4]`, padded with 1.
    pub fn ne(&self) -> [u64; 4] {
        self.dims
    }

    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.n_elements
    }

    /// Size of the tensor's data in bytes.
    pub fn n_bytes(&self) -> u64 {
        self.n_bytes
    }

    /// Offset of the data from the start of the data section.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset in the file of this tensor's info record.
    pub fn info_offset(&self) -> u64 {
        self.info_offset
    }

    /// Number of rows: the product of all dimensions but the first.
    pub fn n_rows(&self) -> u64 {
        self.dims[1] * self.dims[2] * self.dims[3]
    }
}
