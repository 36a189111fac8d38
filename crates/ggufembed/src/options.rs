//! [`Options`] for [`open_with`](crate::open_with).

use std::time::Duration;

pub use ggufembed_runtime::{Parallelism, Pooling};

/// Where a model runs (see [`Options::device`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Device {
    /// The GPU when this build has the `gpu` feature and a hardware adapter is found and the
    /// model's architecture runs there (BERT); otherwise the CPU, with the reason logged at
    /// info level. Software adapters (Mesa's lavapipe, WARP) are passed over: they run the
    /// shaders on the CPU, slower than the CPU kernels.
    #[default]
    Auto,
    /// The CPU kernels.
    Cpu,
    /// The GPU (any adapter, software ones included); an error if there is none, the build
    /// lacks the `gpu` feature, or the architecture does not run there.
    Gpu,
}

impl std::str::FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "gpu" => Ok(Device::Gpu),
            other => Err(format!(
                "unknown device '{other}' (expected auto, cpu or gpu)"
            )),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
        })
    }
}

/// How a model is opened and run. `Options::default()` is what [`open`](crate::open) uses.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// Worker threads; `None`: the machine's available cores.
    pub threads: Option<usize>,
    /// Longest input in tokens, special tokens included; longer texts are truncated (and
    /// flagged). `None`: the model's context length.
    pub max_len: Option<usize>,
    /// Pooling; `None`: what the model file asks for.
    pub pooling: Option<Pooling>,
    /// L2-normalize each embedding (default true).
    pub normalize: bool,
    /// How batches are spread over the threads (default [`Parallelism::Auto`]).
    pub parallelism: Parallelism,
    /// Tokens per micro-batch (one matmul runs over all of them); `None`: derived from
    /// `memory_budget`. Texts longer than the budget still run, alone.
    pub token_budget: Option<usize>,
    /// Scratch memory per worker in bytes, from which the token budget is derived
    /// (`budget / bytes of activations per token`, clamped to `64..=8192` tokens); `None`:
    /// 16 MiB.
    pub memory_budget: Option<usize>,
    /// For [`Model::embed_iter`](crate::Model::embed_iter): how long one streamed batch should
    /// take; the batch size follows the measured throughput. Default 100 ms.
    pub latency_target: Duration,
    /// Text prepended to every input before tokenization (its tokens count toward `max_len`),
    /// e.g. EmbeddingGemma's `"task: search result | query: "`.
    pub prompt: Option<String>,
    /// A documented prompt preset of the model's architecture (see [`prompt_presets`]); not
    /// together with `prompt`.
    pub prompt_name: Option<String>,
    /// Where the model runs (default [`Device::Auto`]). On the GPU, `threads`, `parallelism`
    /// and the token/memory budgets do not apply: batches are sized for the device.
    pub device: Device,
}

/// The prompt presets of an architecture: `(name, prompt)` pairs, empty if it has none.
///
/// `gemma-embedding` (EmbeddingGemma): the prompts of its sentence-transformers configuration
/// (`query`, `document`, and one per MTEB task type). Each architecture states its own in the
/// runtime's registry.
pub fn prompt_presets(architecture: &str) -> &'static [(&'static str, &'static str)] {
    ggufembed_runtime::registry::prompt_presets(architecture)
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: None,
            max_len: None,
            pooling: None,
            normalize: true,
            parallelism: Parallelism::Auto,
            token_budget: None,
            memory_budget: None,
            latency_target: Duration::from_millis(100),
            prompt: None,
            prompt_name: None,
            device: Device::Auto,
        }
    }
}

impl Options {
    /// Sets the number of worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Sets the longest input in tokens.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = Some(max_len);
        self
    }

    /// Overrides the pooling.
    pub fn pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = Some(pooling);
        self
    }

    /// Turns L2 normalization on or off.
    pub fn normalize(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }

    /// Sets how batches are spread over the threads.
    pub fn parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// Sets the tokens per micro-batch.
    pub fn token_budget(mut self, tokens: usize) -> Self {
        self.token_budget = Some(tokens);
        self
    }

    /// Sets the scratch memory per worker (bytes) the token budget is derived from.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = Some(bytes);
        self
    }

    /// Sets the latency target of one streamed batch (see [`Model::embed_iter`](crate::Model::embed_iter)).
    pub fn latency_target(mut self, target: Duration) -> Self {
        self.latency_target = target;
        self
    }

    /// Sets a prompt prepended to every text.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Sets where the model runs.
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Selects one of the architecture's prompt presets by name (see [`prompt_presets`]).
    pub fn prompt_name(mut self, name: impl Into<String>) -> Self {
        self.prompt_name = Some(name.into());
        self
    }
}
