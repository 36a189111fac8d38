//! Where a model runs: [`Device`] resolution at `open`, and the GPU path of a batch.

#[cfg(feature = "gpu")]
use std::ops::Range;

use crate::error::{Error, Result};
use crate::options::Device;

use super::{Model, Source, Weights};

/// The GPU backend of a model (feature `gpu`).
#[cfg(feature = "gpu")]
pub(crate) type Gpu = ggufembed_runtime::bert::BertGpu;

/// Without the `gpu` feature no model has a GPU backend: this type has no value.
#[cfg(not(feature = "gpu"))]
#[derive(Debug)]
pub(crate) enum Gpu {}

fn refuse(reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        name: "device",
        reason: reason.into(),
    }
}

/// Resolves `device` for a model with `weights`: `Some` to run on the GPU.
///
/// `Gpu` fails with a clear error when the GPU path cannot run; `Auto` falls back to the CPU
/// and logs why at info level.
pub(crate) fn select(device: Device, arch: &str, weights: &Weights) -> Result<Option<Gpu>> {
    match device {
        Device::Cpu => Ok(None),
        #[cfg(not(feature = "gpu"))]
        Device::Gpu => {
            let _ = (arch, weights);
            Err(refuse(
                "this build has no GPU backend; rebuild with `--features gpu` \
                 (cargo build --release --features gpu)",
            ))
        }
        #[cfg(not(feature = "gpu"))]
        Device::Auto => {
            log::debug!("ggufembed: device auto: CPU (built without the gpu feature)");
            Ok(None)
        }
        #[cfg(feature = "gpu")]
        Device::Gpu | Device::Auto => {
            use ggufembed_runtime::kernels::gpu::{AdapterPolicy, GpuContext};
            let explicit = device == Device::Gpu;
            let Weights::Bert(w) = weights else {
                let why = format!(
                    "the GPU backend runs BERT models; '{arch}' runs on the CPU (device auto or cpu)"
                );
                if explicit {
                    return Err(refuse(why));
                }
                log::info!("ggufembed: device auto: CPU ({why})");
                return Ok(None);
            };
            let policy = if explicit {
                AdapterPolicy::AllowSoftware
            } else {
                AdapterPolicy::HardwareOnly
            };
            let ready = GpuContext::shared(policy)
                .map_err(ggufembed_runtime::RuntimeError::from)
                .and_then(|ctx| w.to_gpu(ctx));
            match ready {
                Ok(gpu) => {
                    log::info!(
                        "ggufembed: running on GPU {} ({} MB of weights)",
                        gpu.context().adapter(),
                        gpu.weight_bytes() >> 20
                    );
                    Ok(Some(gpu))
                }
                Err(e) if explicit => Err(e.into()),
                Err(e) => {
                    log::info!("ggufembed: device auto: CPU ({e})");
                    Ok(None)
                }
            }
        }
    }
}

impl Model {
    /// Fewest tokens a streamed batch should hold: a micro-batch on the CPU, a full device
    /// batch on the GPU.
    pub(crate) fn stream_floor(&self) -> usize {
        match &self.gpu {
            #[cfg(feature = "gpu")]
            Some(g) => g.max_tokens(),
            #[cfg(not(feature = "gpu"))]
            Some(g) => match *g {},
            None => self.token_budget,
        }
    }

    /// Tokens of the first streamed batch: a micro-batch per worker on the CPU, a full device
    /// batch on the GPU.
    pub(crate) fn stream_start(&self) -> usize {
        match &self.gpu {
            Some(_) => self.stream_floor(),
            None => self.token_budget * self.threads(),
        }
    }

    /// Runs the sequences on the GPU in input order, in batches of up to the device's token
    /// limit, writing each one's rows (pooled and normalized on the device) at its offset.
    #[cfg(feature = "gpu")]
    pub(crate) fn run_gpu(
        &self,
        gpu: &Gpu,
        get: &Source<'_>,
        tokens: &[usize],
        offsets: &[usize],
        out: &mut [f32],
    ) -> Result<()> {
        let (mut ids, mut seqs): (Vec<u32>, Vec<Range<usize>>) = (Vec::new(), Vec::new());
        let mut first = 0;
        while first < tokens.len() {
            let mut last = first;
            let mut t = 0;
            while last < tokens.len() && (last == first || t + tokens[last] <= gpu.max_tokens()) {
                t += tokens[last];
                last += 1;
            }
            ids.clear();
            seqs.clear();
            for i in first..last {
                let start = ids.len();
                ids.extend_from_slice(get(i));
                seqs.push(start..ids.len());
            }
            let rows = offsets[first] * self.dim..offsets[last] * self.dim;
            gpu.forward(&ids, &seqs, self.pooling, self.normalize, &mut out[rows])?;
            first = last;
        }
        Ok(())
    }

    /// Without the `gpu` feature there is no GPU backend to run on.
    #[cfg(not(feature = "gpu"))]
    pub(crate) fn run_gpu(
        &self,
        gpu: &Gpu,
        _: &Source<'_>,
        _: &[usize],
        _: &[usize],
        _: &mut [f32],
    ) -> Result<()> {
        match *gpu {}
    }
}
