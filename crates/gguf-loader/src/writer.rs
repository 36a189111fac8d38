//! [`GgufWriter`]: builds GGUF v3 files (metadata, tensor infos, aligned tensor data).

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{self, Write};
use std::path::Path;

use crate::error::{GgufError, Result};
use crate::ggml_type::GgmlType;
use crate::parse::{DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_ALIGNMENT, MAX_DIMS, MAX_TENSOR_NAME};
use crate::value::{Array, Value};

struct PendingTensor<'a> {
    name: String,
    ggml_type: GgmlType,
    shape: Vec<u64>,
    data: Cow<'a, [u8]>,
}

/// Writes a GGUF file: metadata in insertion order, then tensor infos, then each tensor's data
/// padded to the alignment (`general.alignment` if set, else 32), exactly as ggml lays it out.
///
/// ```
/// use gguf_loader::{GgmlType, GgufFile, GgufWriter};
/// # fn main() -> Result<(), gguf_loader::GgufError> {
/// let mut w = GgufWriter::new();
/// w.add_metadata("general.architecture", "bert")?;
/// let data: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|x| x.to_le_bytes()).collect();
/// w.add_tensor("v", GgmlType::F32, &[3], data)?;
/// let file = GgufFile::from_bytes(&w.to_bytes())?;
/// assert_eq!(file.view_f32(file.require_tensor("v")?)?, &[1.0, 2.0, 3.0]);
/// # Ok(()) }
/// ```
pub struct GgufWriter<'a> {
    version: u32,
    alignment: u64,
    metadata: Vec<(String, Value)>,
    keys: HashSet<String>,
    tensors: Vec<PendingTensor<'a>>,
    names: HashSet<String>,
}

impl Default for GgufWriter<'_> {
    fn default() -> Self {
        Self::new()
    }
}

fn write_error(reason: String) -> GgufError {
    GgufError::Write { reason }
}

impl<'a> GgufWriter<'a> {
    /// An empty GGUF v3 file.
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            alignment: DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            keys: HashSet::new(),
            tensors: Vec::new(),
            names: HashSet::new(),
        }
    }

    /// Writes this version number (2 or 3; the layouts are identical for little-endian files).
    pub fn set_version(&mut self, version: u32) -> Result<()> {
        if version != 2 && version != 3 {
            return Err(write_error(format!(
                "version {version}: only 2 and 3 can be written"
            )));
        }
        self.version = version;
        Ok(())
    }

    /// Adds a metadata key. `general.alignment` (a power-of-two `u32`) also sets the alignment.
    pub fn add_metadata(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Result<()> {
        let key = key.into();
        let value = value.into();
        if self.keys.contains(&key) {
            return Err(write_error(format!("duplicate metadata key '{key}'")));
        }
        if key == "general.alignment" {
            match value {
                Value::U32(a) if a != 0 && a.is_power_of_two() && u64::from(a) <= MAX_ALIGNMENT => {
                    self.alignment = u64::from(a);
                }
                ref v => {
                    return Err(write_error(format!(
                        "general.alignment must be a power-of-two u32 no larger than {MAX_ALIGNMENT}, got {v:?}"
                    )));
                }
            }
        }
        self.keys.insert(key.clone());
        self.metadata.push((key, value));
        Ok(())
    }

    /// Adds a tensor with shape in ggml order (`shape[0]` is the row length) and its raw data.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ggml_type: GgmlType,
        shape: &[u64],
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<()> {
        let name = name.into();
        let data = data.into();
        if name.len() as u64 > MAX_TENSOR_NAME {
            return Err(write_error(format!(
                "tensor name '{name}' is longer than {MAX_TENSOR_NAME} bytes"
            )));
        }
        if self.names.contains(&name) {
            return Err(write_error(format!("duplicate tensor name '{name}'")));
        }
        if shape.len() > MAX_DIMS as usize {
            return Err(write_error(format!(
                "tensor '{name}' has {} dimensions",
                shape.len()
            )));
        }
        let ne0 = shape.first().copied().unwrap_or(1);
        let n_bytes = ggml_type
            .row_bytes(ne0)
            .and_then(|row| shape.iter().skip(1).try_fold(row, |acc, &d| acc.checked_mul(d)))
            .ok_or_else(|| {
                write_error(format!(
                    "tensor '{name}' shape {shape:?} is not a whole number of {ggml_type} blocks or overflows"
                ))
            })?;
        if data.len() as u64 != n_bytes {
            return Err(write_error(format!(
                "tensor '{name}' of type {ggml_type} and shape {shape:?} needs {n_bytes} bytes, got {}",
                data.len()
            )));
        }
        self.names.insert(name.clone());
        self.tensors.push(PendingTensor {
            name,
            ggml_type,
            shape: shape.to_vec(),
            data,
        });
        Ok(())
    }

    /// Writes the file to `out`.
    pub fn write<W: Write>(&self, out: &mut W) -> io::Result<()> {
        let mut w = CountingWriter {
            inner: out,
            written: 0,
        };
        w.write_all(&GGUF_MAGIC)?;
        w.write_all(&self.version.to_le_bytes())?;
        w.write_all(&(self.tensors.len() as u64).to_le_bytes())?;
        w.write_all(&(self.metadata.len() as u64).to_le_bytes())?;
        for (key, value) in &self.metadata {
            write_string(&mut w, key)?;
            w.write_all(&value.value_type().tag().to_le_bytes())?;
            write_value(&mut w, value)?;
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            write_string(&mut w, &t.name)?;
            w.write_all(&(t.shape.len() as u32).to_le_bytes())?;
            for d in &t.shape {
                w.write_all(&d.to_le_bytes())?;
            }
            w.write_all(&t.ggml_type.id().to_le_bytes())?;
            w.write_all(&offset.to_le_bytes())?;
            offset += (t.data.len() as u64).next_multiple_of(self.alignment);
        }
        w.pad_to(self.alignment)?;
        for t in &self.tensors {
            w.write_all(&t.data)?;
            w.pad_to(self.alignment)?;
        }
        Ok(())
    }

    /// Writes the file to `path`.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut buf = io::BufWriter::with_capacity(1 << 20, file);
        self.write(&mut buf).map_err(io)?;
        buf.flush().map_err(io)?;
        Ok(())
    }

    /// The file as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out).expect("writing to a Vec cannot fail");
        out
    }
}

struct CountingWriter<'w, W: Write> {
    inner: &'w mut W,
    written: u64,
}

impl<W: Write> CountingWriter<'_, W> {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, alignment: u64) -> io::Result<()> {
        let pad = self.written.next_multiple_of(alignment) - self.written;
        const ZEROS: [u8; 64] = [0; 64];
        let mut left = pad;
        while left > 0 {
            let n = left.min(ZEROS.len() as u64) as usize;
            self.write_all(&ZEROS[..n])?;
            left -= n as u64;
        }
        Ok(())
    }
}

fn write_string<W: Write>(w: &mut CountingWriter<'_, W>, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn write_value<W: Write>(w: &mut CountingWriter<'_, W>, value: &Value) -> io::Result<()> {
    match value {
        Value::U8(v) => w.write_all(&v.to_le_bytes()),
        Value::I8(v) => w.write_all(&v.to_le_bytes()),
        Value::U16(v) => w.write_all(&v.to_le_bytes()),
        Value::I16(v) => w.write_all(&v.to_le_bytes()),
        Value::U32(v) => w.write_all(&v.to_le_bytes()),
        Value::I32(v) => w.write_all(&v.to_le_bytes()),
        Value::F32(v) => w.write_all(&v.to_le_bytes()),
        Value::U64(v) => w.write_all(&v.to_le_bytes()),
        Value::I64(v) => w.write_all(&v.to_le_bytes()),
        Value::F64(v) => w.write_all(&v.to_le_bytes()),
        Value::Bool(v) => w.write_all(&[u8::from(*v)]),
        Value::String(s) => write_string(w, s),
        Value::Array(a) => write_array(w, a),
    }
}

fn write_array<W: Write>(w: &mut CountingWriter<'_, W>, array: &Array) -> io::Result<()> {
    w.write_all(&array.element_type().tag().to_le_bytes())?;
    w.write_all(&(array.len() as u64).to_le_bytes())?;
    macro_rules! numbers {
        ($v:expr) => {{
            for x in $v {
                w.write_all(&x.to_le_bytes())?;
            }
            Ok(())
        }};
    }
    match array {
        Array::U8(v) => w.write_all(v),
        Array::I8(v) => numbers!(v),
        Array::U16(v) => numbers!(v),
        Array::I16(v) => numbers!(v),
        Array::U32(v) => numbers!(v),
        Array::I32(v) => numbers!(v),
        Array::F32(v) => numbers!(v),
        Array::U64(v) => numbers!(v),
        Array::I64(v) => numbers!(v),
        Array::F64(v) => numbers!(v),
        Array::Bool(v) => {
            for &b in v {
                w.write_all(&[u8::from(b)])?;
            }
            Ok(())
        }
        Array::String(v) => {
            for s in v {
                write_string(w, s)?;
            }
            Ok(())
        }
        Array::Array(v) => {
            for a in v {
                write_array(w, a)?;
            }
            Ok(())
        }
    }
}
