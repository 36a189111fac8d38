//! Buffers on the device: weight matrices in their storage type ([`GpuMatrix`]) and f32/u32
//! activations ([`GpuBuffer`]).

use wgpu::util::DeviceExt;

use super::context::{GpuContext, GpuError};
use super::shaders::WeightKind;
use crate::block::QK8_0;

/// A weight matrix as the model file stores it, to upload with [`GpuContext::upload_matrix`]:
/// the crate's one weights view. F32/F16/BF16 stay in their type on the device, Q8_0 as int8
/// quants and f16 scales; the other block formats have no shader and are refused.
pub type GpuWeightData<'a> = crate::weights::WeightsView<'a>;

/// A weight matrix on the device: `n` rows of `k` values in the file's storage type.
#[derive(Debug)]
pub struct GpuMatrix {
    pub(crate) kind: WeightKind,
    pub(crate) k: usize,
    pub(crate) n: usize,
    /// F32/F16/BF16 values, or Q8_0 quants.
    pub(crate) values: wgpu::Buffer,
    /// Q8_0 scales.
    pub(crate) scales: Option<wgpu::Buffer>,
}

impl GpuMatrix {
    /// Values per row.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Rows.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Appends the bindings the weights_*.wgsl snippets declare: the values (or Q8_0 quants)
    /// at 2, the Q8_0 scales at 3.
    pub(crate) fn bind(&self, bindings: &mut Vec<(u32, wgpu::Buffer)>) {
        bindings.push((2, self.values.clone()));
        if let Some(s) = &self.scales {
            bindings.push((3, s.clone()));
        }
    }

    /// Bytes on the device.
    pub fn bytes(&self) -> u64 {
        self.values.size() + self.scales.as_ref().map_or(0, |b| b.size())
    }
}

/// A device buffer of 32-bit values (f32 activations, u32 ids and offsets).
#[derive(Clone, Debug)]
pub struct GpuBuffer {
    pub(crate) buf: wgpu::Buffer,
    pub(crate) len: usize,
}

impl GpuBuffer {
    /// Capacity in 32-bit values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Little-endian words of 16-bit values, two per word, the lower first (an odd count padded
/// with a zero).
fn pack_halves(bits: impl ExactSizeIterator<Item = u16>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bits.len().div_ceil(2) * 4);
    for b in bits {
        out.extend_from_slice(&b.to_le_bytes());
    }
    if !out.len().is_multiple_of(4) {
        out.extend_from_slice(&[0, 0]);
    }
    out
}

impl GpuContext {
    fn storage(&self, what: &str, bytes: &[u8]) -> Result<wgpu::Buffer, GpuError> {
        self.check_size(|| what.to_string(), bytes.len() as u64)?;
        // wgpu refuses empty bindings; a zero-length upload still gets one word.
        let padded;
        let contents = if bytes.is_empty() {
            padded = [0u8; 4];
            &padded[..]
        } else {
            bytes
        };
        let buf = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(what),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
            });
        self.check()?;
        Ok(buf)
    }

    /// Uploads a weight matrix of `n` rows by `k` values, in its storage type. `what` names it
    /// in errors (e.g. the tensor's name).
    ///
    /// # Errors
    /// [`GpuError::Shape`] when the data does not hold `n × k` values (Q8_0: `k` not a multiple
    /// of 32), [`GpuError::TooLarge`] above the device's buffer limit.
    pub fn upload_matrix(
        &self,
        what: &str,
        data: GpuWeightData<'_>,
        k: usize,
        n: usize,
    ) -> Result<GpuMatrix, GpuError> {
        let values = k.checked_mul(n).filter(|&v| v < u32::MAX as usize);
        let shape = |reason: String| GpuError::Shape {
            what: what.to_string(),
            reason,
        };
        let Some(values) = values else {
            return Err(shape(format!("{n} × {k} values do not fit a 32-bit index")));
        };
        let len = match data {
            GpuWeightData::F32(v) => v.len(),
            GpuWeightData::F16(v) => v.len(),
            GpuWeightData::Bf16(v) => v.len(),
            GpuWeightData::Q8_0(b) => {
                if !k.is_multiple_of(QK8_0) {
                    return Err(shape(format!(
                        "Q8_0 rows of {k} values (not a multiple of 32)"
                    )));
                }
                b.len() * QK8_0
            }
            GpuWeightData::Quant(ty, _) => {
                return Err(shape(format!("{ty} weights have no GPU kernel")));
            }
        };
        if len != values {
            return Err(shape(format!("{len} values given for {n} × {k}")));
        }
        let (kind, values, scales) = match data {
            GpuWeightData::F32(v) => (
                WeightKind::F32,
                self.storage(what, bytemuck::cast_slice(v))?,
                None,
            ),
            GpuWeightData::F16(v) => (
                WeightKind::F16,
                self.storage(what, &pack_halves(v.iter().map(|x| x.to_bits())))?,
                None,
            ),
            GpuWeightData::Bf16(v) => (
                WeightKind::Bf16,
                self.storage(what, &pack_halves(v.iter().map(|x| x.to_bits())))?,
                None,
            ),
            GpuWeightData::Q8_0(blocks) => {
                let qs: Vec<u8> = blocks
                    .iter()
                    .flat_map(|b| b.qs.iter().map(|&q| q as u8))
                    .collect();
                let d = pack_halves(blocks.iter().map(|b| b.d.to_bits()));
                (
                    WeightKind::Q8_0,
                    self.storage(what, &qs)?,
                    Some(self.storage(&format!("{what} (scales)"), &d)?),
                )
            }
            GpuWeightData::Quant(..) => unreachable!("refused above"),
        };
        Ok(GpuMatrix {
            kind,
            k,
            n,
            values,
            scales,
        })
    }

    /// Uploads f32 values (biases, norm weights).
    pub fn upload_f32(&self, what: &str, v: &[f32]) -> Result<GpuBuffer, GpuError> {
        Ok(GpuBuffer {
            buf: self.storage(what, bytemuck::cast_slice(v))?,
            len: v.len(),
        })
    }

    /// A zeroed device buffer of `len` 32-bit values, for activations or per-call inputs.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`] above the device's buffer limit.
    pub fn buffer(&self, what: &str, len: usize) -> Result<GpuBuffer, GpuError> {
        let bytes = (len.max(1) as u64).saturating_mul(4);
        self.check_size(|| what.to_string(), bytes)?;
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        self.check()?;
        Ok(GpuBuffer { buf, len })
    }

    /// Writes `data` at the start of `buf` (takes effect before the next submitted pass).
    ///
    /// # Panics
    /// If `data` is longer than the buffer.
    pub fn write<T: bytemuck::Pod>(&self, buf: &GpuBuffer, data: &[T]) {
        assert_eq!(size_of::<T>(), 4, "GpuContext::write: 32-bit values only");
        assert!(
            data.len() <= buf.len,
            "GpuContext::write: {} values into a buffer of {}",
            data.len(),
            buf.len
        );
        if !data.is_empty() {
            self.queue
                .write_buffer(&buf.buf, 0, bytemuck::cast_slice(data));
        }
    }
}
