//! [`GpuContext`]: adapter choice, the device, its compiled pipelines, and error capture.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};

use super::shaders::{self, WeightKind};

/// Everything that can go wrong on the GPU path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No adapter fits the request (none at all, or only software ones when hardware was
    /// required). `reason` lists what was found.
    #[error("no usable GPU adapter: {reason}")]
    NoAdapter {
        /// What was found and why it was passed over.
        reason: String,
    },
    /// The adapter refused to create a device.
    #[error("GPU adapter '{adapter}' could not open a device: {reason}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// The driver's message.
        reason: String,
    },
    /// A buffer would be larger than the device allows in one binding.
    #[error(
        "{what} needs {bytes} bytes of GPU memory in one buffer, above the device's limit of {limit}"
    )]
    TooLarge {
        /// What the buffer is for.
        what: String,
        /// Bytes needed.
        bytes: u64,
        /// The device's limit.
        limit: u64,
    },
    /// Data handed to an upload does not match the shape given.
    #[error("{what}: {reason}")]
    Shape {
        /// What was uploaded.
        what: String,
        /// The mismatch.
        reason: String,
    },
    /// The device reported an error (validation, out of memory, lost device) or a readback
    /// failed.
    #[error("GPU device error: {0}")]
    Device(String),
}

/// Which adapters [`GpuContext::new`] may pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterPolicy {
    /// Hardware adapters only: a software rasterizer (Mesa's llvmpipe/lavapipe, WARP) runs the
    /// shaders on the CPU, slower than the CPU kernels, so an automatic choice skips it.
    HardwareOnly,
    /// Any adapter, hardware preferred (an explicit request for the GPU path; also how the
    /// tests run on lavapipe).
    AllowSoftware,
}

/// What adapter a context runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. "NVIDIA H100" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// The API wgpu drives it with: Vulkan, Metal or Dx12.
    pub backend: String,
    /// Discrete, integrated, virtual, CPU (software) or other.
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// Whether it is a software rasterizer running on the CPU.
    pub software: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, {})",
            self.name, self.backend, self.device_type, self.driver
        )
    }
}

/// A compute pipeline and its bind group layout.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

/// The shaders a pass can dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shader {
    Matmul(WeightKind),
    Gather(WeightKind),
    LayerNorm,
    Attention,
    Pool,
    L2Normalize,
}

impl Shader {
    const COUNT: usize = 2 * WeightKind::ALL.len() + 4;

    fn index(self) -> usize {
        let n = WeightKind::ALL.len();
        match self {
            Shader::Matmul(k) => k.index(),
            Shader::Gather(k) => n + k.index(),
            Shader::LayerNorm => 2 * n,
            Shader::Attention => 2 * n + 1,
            Shader::Pool => 2 * n + 2,
            Shader::L2Normalize => 2 * n + 3,
        }
    }
}

/// Pipelines compiled on first use: a model needs the matmul and gather of its own weight
/// types only, and a shader compile is slow on software drivers (lavapipe compiles with LLVM).
#[derive(Debug)]
pub(crate) struct Pipelines {
    compiled: [OnceLock<Pipeline>; Shader::COUNT],
}

/// A GPU device with every pipeline compiled. Create one per model (or share it); it is
/// `Send + Sync`.
#[derive(Debug)]
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) pipelines: Pipelines,
    /// Bound where a shader declares a buffer an operation does not use (no bias, no residual).
    pub(crate) dummy: wgpu::Buffer,
    adapter: AdapterSummary,
    max_binding: u64,
    uniform_align: u64,
    /// The first error the device reported outside an operation's own checks.
    errors: Arc<Mutex<Option<String>>>,
}

fn describe(info: &wgpu::AdapterInfo) -> AdapterSummary {
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        software: info.device_type == wgpu::DeviceType::Cpu,
    }
}

/// Preference order of adapter types (lower is better).
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl GpuContext {
    /// Finds an adapter under `policy` (Vulkan, Metal or DX12; `WGPU_BACKEND` narrows the
    /// choice, e.g. `WGPU_BACKEND=vulkan`), opens a device with the adapter's own limits and
    /// compiles every pipeline.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] when nothing fits (with what was found), or the device's errors.
    pub fn new(policy: AdapterPolicy) -> Result<GpuContext, GpuError> {
        let backends = wgpu::Backends::from_env()
            .unwrap_or(wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12);
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let found: Vec<String> = adapters
            .iter()
            .map(|a| describe(&a.get_info()).to_string())
            .collect();
        adapters.retain(|a| {
            policy == AdapterPolicy::AllowSoftware
                || a.get_info().device_type != wgpu::DeviceType::Cpu
        });
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        let Some(adapter) = adapters.into_iter().next() else {
            let reason = if found.is_empty() {
                format!(
                    "no adapter on the {backends:?} backends (on Linux: is a Vulkan driver \
                     installed? Mesa's lavapipe is the package mesa-vulkan-drivers)"
                )
            } else {
                format!(
                    "only software adapters were found ({}), which run slower than the CPU path; \
                     ask for the GPU explicitly to use one",
                    found.join("; ")
                )
            };
            return Err(GpuError::NoAdapter { reason });
        };
        let summary = describe(&adapter.get_info());
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ggufembed"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::RequestDevice {
            adapter: summary.name.clone(),
            reason: e.to_string(),
        })?;
        // wgpu's default handler panics on an uncaptured error: record it instead, and let
        // the operation that notices it return an error.
        let errors: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, message| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| format!("device lost ({reason:?}): {message}"));
        });
        let pipelines = Pipelines {
            compiled: std::array::from_fn(|_| OnceLock::new()),
        };
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused binding"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        log::debug!("ggufembed gpu: adapter {summary}");
        let ctx = GpuContext {
            device,
            queue,
            pipelines,
            dummy,
            adapter: summary,
            max_binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
            uniform_align: u64::from(limits.min_uniform_buffer_offset_alignment).max(256),
            errors,
        };
        ctx.check()?;
        Ok(ctx)
    }

    /// A context shared by the whole process, created on first use for each policy: every
    /// model opened on the GPU shares one device and its compiled pipelines. An error is not
    /// cached (a later call looks for adapters again).
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub fn shared(policy: AdapterPolicy) -> Result<Arc<GpuContext>, GpuError> {
        static SHARED: Mutex<[Option<Arc<GpuContext>>; 2]> = Mutex::new([None, None]);
        let mut slots = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut slots[usize::from(policy == AdapterPolicy::AllowSoftware)];
        if let Some(ctx) = slot {
            return Ok(ctx.clone());
        }
        let ctx = Arc::new(GpuContext::new(policy)?);
        *slot = Some(ctx.clone());
        Ok(ctx)
    }

    /// The pipeline of `shader`, compiled on first use.
    pub(crate) fn pipeline(&self, shader: Shader) -> &Pipeline {
        self.pipelines.compiled[shader.index()].get_or_init(|| compile(&self.device, shader))
    }

    /// The adapter this context runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// Largest buffer one binding may hold, in bytes.
    pub fn max_buffer_bytes(&self) -> u64 {
        self.max_binding
    }

    pub(crate) fn uniform_align(&self) -> u64 {
        self.uniform_align
    }

    /// Returns (and clears) the first error the device reported since the last check.
    pub(crate) fn check(&self) -> Result<(), GpuError> {
        let mut slot = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some(e) => Err(GpuError::Device(e)),
            None => Ok(()),
        }
    }

    /// Refuses a buffer of `bytes` above the device's binding limit.
    pub(crate) fn check_size(
        &self,
        what: impl FnOnce() -> String,
        bytes: u64,
    ) -> Result<(), GpuError> {
        if bytes > self.max_binding {
            return Err(GpuError::TooLarge {
                what: what(),
                bytes,
                limit: self.max_binding,
            });
        }
        Ok(())
    }
}

fn pipeline(device: &wgpu::Device, label: &str, source: &str) -> Pipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(source)),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let layout = pipeline.get_bind_group_layout(0);
    Pipeline { pipeline, layout }
}

fn compile(device: &wgpu::Device, shader: Shader) -> Pipeline {
    match shader {
        Shader::Matmul(k) => pipeline(
            device,
            &format!("matmul_{}", k.name()),
            &shaders::with_weights(k, shaders::MATMUL),
        ),
        Shader::Gather(k) => pipeline(
            device,
            &format!("gather_{}", k.name()),
            &shaders::with_weights(k, shaders::GATHER),
        ),
        Shader::LayerNorm => pipeline(
            device,
            "layer_norm",
            &shaders::with_workgroup_sum(shaders::LAYER_NORM),
        ),
        Shader::Attention => pipeline(device, "attention", shaders::ATTENTION),
        Shader::Pool => pipeline(device, "pool", shaders::POOL),
        Shader::L2Normalize => pipeline(
            device,
            "l2_normalize",
            &shaders::with_workgroup_sum(shaders::L2_NORMALIZE),
        ),
    }
}
