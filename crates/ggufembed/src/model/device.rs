//! Where a model runs: [`Device`] resolution at `open`.

use ggufembed_runtime::{Encoder, Scheduler};

use crate::error::{Error, Result};
use crate::options::Device;

fn refuse(reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        name: "device",
        reason: reason.into(),
    }
}

/// Resolves `device` for `encoder`, handing `scheduler` the GPU if the model runs there.
///
/// `Gpu` fails with a clear error when the GPU path cannot run; `Auto` falls back to the CPU
/// and logs why at info level.
pub(crate) fn select(
    device: Device,
    encoder: &dyn Encoder,
    scheduler: Scheduler,
) -> Result<Scheduler> {
    match device {
        Device::Cpu => Ok(scheduler),
        #[cfg(not(feature = "gpu"))]
        Device::Gpu => {
            let _ = encoder;
            Err(refuse(
                "this build has no GPU backend; rebuild with `--features gpu` \
                 (cargo build --release --features gpu)",
            ))
        }
        #[cfg(not(feature = "gpu"))]
        Device::Auto => {
            log::debug!("ggufembed: device auto: CPU (built without the gpu feature)");
            Ok(scheduler)
        }
        #[cfg(feature = "gpu")]
        Device::Gpu | Device::Auto => {
            use ggufembed_runtime::kernels::gpu::{AdapterPolicy, GpuContext};
            let explicit = device == Device::Gpu;
            let reranker = encoder.default_pooling() == ggufembed_runtime::Pooling::Rank;
            if !encoder.gpu_support() || reranker {
                let why = if reranker {
                    "the GPU backend runs embedding models; rerankers (rank pooling) run on \
                     the CPU (device auto or cpu)"
                        .to_owned()
                } else {
                    format!(
                        "the GPU backend runs BERT models; '{}' runs on the CPU (device auto \
                         or cpu)",
                        encoder.architecture()
                    )
                };
                if explicit {
                    return Err(refuse(why));
                }
                log::info!("ggufembed: device auto: CPU ({why})");
                return Ok(scheduler);
            }
            let policy = if explicit {
                AdapterPolicy::AllowSoftware
            } else {
                AdapterPolicy::HardwareOnly
            };
            let ready = GpuContext::shared(policy)
                .map_err(ggufembed_runtime::RuntimeError::from)
                .and_then(|ctx| {
                    encoder.to_gpu(ctx).unwrap_or_else(|| {
                        Err(ggufembed_runtime::RuntimeError::InvalidArgument {
                            name: "device",
                            reason: format!("'{}' has no GPU graph", encoder.architecture()),
                        })
                    })
                });
            match ready {
                Ok(gpu) => {
                    log::info!(
                        "ggufembed: running on GPU {} ({} MB of weights)",
                        gpu.context().adapter(),
                        gpu.weight_bytes() >> 20
                    );
                    Ok(scheduler.with_gpu(gpu))
                }
                Err(e) if explicit => Err(e.into()),
                Err(e) => {
                    log::info!("ggufembed: device auto: CPU ({e})");
                    Ok(scheduler)
                }
            }
        }
    }
}
