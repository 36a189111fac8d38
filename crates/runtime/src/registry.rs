//! The architecture registry: `general.architecture` name → the module that runs it, and the
//! value that owns a memory-mapped file together with the weights bound to it.
//!
//! An architecture module implements [`Architecture`] (for a module of the usual shape — `XModel::load`,
//! `bind`, `XWeights::forward` — the [`architecture!`](crate::architecture) macro writes it) and
//! adds one line to [`ARCHITECTURES`]. Nothing else names architectures: the scheduler and the
//! `ggufembed` facade see only `dyn Encoder`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use gguf_loader::GgufFile;

use crate::batch::{BatchLimits, CheckedBatch};
use crate::bert::BertModel;
use crate::encoder::{Encoder, PromptPresets, Scratch};
use crate::error::{Result, RuntimeError};
use crate::exec::Exec;
use crate::gemma::GemmaModel;
use crate::modern_bert::ModernBertModel;
use crate::nomic_bert::NomicBertModel;
use crate::pooling::Pooling;
use crate::qwen3::Qwen3Model;

/// Every architecture this build runs, by `general.architecture` value.
pub static ARCHITECTURES: &[Registration] = &[
    Registration::of::<BertModel>("bert"),
    Registration::of::<GemmaModel>("gemma-embedding"),
    Registration::of::<NomicBertModel>("nomic-bert"),
    Registration::of::<ModernBertModel>("modern-bert"),
    Registration::of::<Qwen3Model>("qwen3"),
];

/// What the registry needs of an architecture module: how to read and validate a model, bind
/// its weights to the file, and run them.
///
/// The model (`Self`) holds the validated hyper-parameters; [`Architecture::Weights`] borrows
/// the mapped file.
pub trait Architecture: Sized + Send + Sync + fmt::Debug + 'static {
    /// The weights bound to the mapped file.
    type Weights<'a>: Send + Sync + fmt::Debug;
    /// One worker's reusable buffers for [`Architecture::forward`].
    type Scratch: Default + Send + 'static;
    /// The prompt presets the architecture documents.
    const PROMPT_PRESETS: PromptPresets = &[];

    /// Reads and validates the model and binds its weights, checking every tensor once.
    fn load<'a>(file: &'a GgufFile, arch: &str) -> Result<(Self, Self::Weights<'a>)>;
    /// Context length.
    fn n_ctx(&self) -> usize;
    /// Rows of the token embedding.
    fn n_vocab(&self) -> usize;
    /// The pooling the file asks for.
    fn default_pooling(&self) -> Pooling;
    /// Bytes of activations per token of a micro-batch.
    fn bytes_per_token(&self) -> usize;
    /// Floats per output row for `pooling`.
    fn out_dim(weights: &Self::Weights<'_>, pooling: Pooling) -> usize;
    /// What a batch must be checked against to run on the graph: its context length,
    /// vocabulary and the token types it reads.
    fn limits(weights: &Self::Weights<'_>) -> BatchLimits;
    /// Runs a checked packed batch (see [`Encoder::forward`]).
    fn forward(
        weights: &Self::Weights<'_>,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        out: &mut [f32],
        scratch: &mut Self::Scratch,
    ) -> Result<()>;
    /// Uploads the weights to a GPU; `None` (the default): no GPU graph.
    #[cfg(feature = "gpu")]
    fn to_gpu(
        _weights: &Self::Weights<'_>,
        _ctx: std::sync::Arc<ggufembed_kernels::gpu::GpuContext>,
    ) -> Option<Result<Box<dyn crate::encoder::GpuEncoder>>> {
        None
    }
    /// Whether [`Architecture::to_gpu`] uploads anything.
    const GPU: bool = false;
}

/// Reads and validates a model of architecture `A` — hyper-parameters, and every tensor's
/// presence, shape and type, by binding the weights once — and returns the model alone (what
/// each module's `XModel::load` was: its `read`, then its `bind`). `arch` is the value of
/// `general.architecture`.
pub fn load_model<A: Architecture>(file: &GgufFile, arch: &str) -> Result<A> {
    A::load(file, arch).map(|(model, _weights)| model)
}

/// Implements [`Architecture`] for a module of the usual shape:
///
/// - `XModel::load(file: &GgufFile, arch: &str) -> Result<XModel>` (or, to bind only once, a
///   `read` with the same signature that leaves the tensor checks to `bind`), with
///   `n_vocab`, `n_ctx()` and `pooling()`;
/// - `XModel::bind<'a>(&self, file: &'a GgufFile) -> Result<XWeights<'a>>`;
/// - `XWeights::out_dim(pooling)`, `XWeights::limits()` (a [`BatchLimits`]: what a batch is
///   checked against) and `XWeights::forward(exec, &CheckedBatch, pooling, out, &mut XScratch)`.
///
/// ```ignore
/// crate::architecture!(Qwen3Model {
///     weights: Qwen3Weights,
///     scratch: Qwen3Scratch,
///     bytes_per_token: Qwen3Model::bytes_per_token, // fn(&Qwen3Model) -> usize
/// });
/// ```
///
/// Optional keys, in this order after `bytes_per_token`: `read: XModel::read` (default
/// `XModel::load`), `prompt_presets: &[("query", "…")]`, and `gpu: path` to a
/// `fn(&XWeights<'_>, Arc<GpuContext>) -> Result<Box<dyn GpuEncoder>>` (compiled with the
/// `gpu` feature only).
#[macro_export]
macro_rules! architecture {
    ($model:ident {
        weights: $weights:ident,
        scratch: $scratch:ty,
        bytes_per_token: $bpt:path
        $(, read: $read:path)?
        $(, prompt_presets: $presets:expr)?
        $(, gpu: $gpu:path)?
        $(,)?
    }) => {
        impl $crate::registry::Architecture for $model {
            type Weights<'a> = $weights<'a>;
            type Scratch = $scratch;
            $(const PROMPT_PRESETS: $crate::encoder::PromptPresets = $presets;)?
            $(const GPU: bool = { let _ = stringify!($gpu); true };)?

            fn load<'a>(
                file: &'a $crate::gguf_loader::GgufFile,
                arch: &str,
            ) -> $crate::error::Result<(Self, $weights<'a>)> {
                let read = $crate::architecture!(@read $model $(, $read)?);
                let model: $model = read(file, arch)?;
                let weights = model.bind(file)?;
                Ok((model, weights))
            }
            fn n_ctx(&self) -> usize {
                $model::n_ctx(self)
            }
            fn n_vocab(&self) -> usize {
                self.n_vocab
            }
            fn default_pooling(&self) -> $crate::Pooling {
                $model::pooling(self)
            }
            fn bytes_per_token(&self) -> usize {
                $bpt(self)
            }
            fn out_dim(weights: &$weights<'_>, pooling: $crate::Pooling) -> usize {
                weights.out_dim(pooling)
            }
            fn limits(weights: &$weights<'_>) -> $crate::batch::BatchLimits {
                weights.limits()
            }
            fn forward(
                weights: &$weights<'_>,
                exec: &$crate::exec::Exec<'_>,
                batch: &$crate::batch::CheckedBatch<'_>,
                pooling: $crate::Pooling,
                out: &mut [f32],
                scratch: &mut $scratch,
            ) -> $crate::error::Result<()> {
                weights.forward(exec, batch, pooling, out, scratch)
            }
            $(
            #[cfg(feature = "gpu")]
            fn to_gpu(
                weights: &$weights<'_>,
                ctx: std::sync::Arc<$crate::kernels::gpu::GpuContext>,
            ) -> Option<$crate::error::Result<Box<dyn $crate::encoder::GpuEncoder>>> {
                Some($gpu(weights, ctx))
            }
            )?
        }
    };
    (@read $model:ident) => { $model::load };
    (@read $model:ident, $read:path) => { $read };
}

/// One line of [`ARCHITECTURES`]: a `general.architecture` value and how to open it.
pub struct Registration {
    /// The `general.architecture` value.
    pub name: &'static str,
    /// The architecture's prompt presets.
    pub prompt_presets: PromptPresets,
    load: for<'a> fn(&'a GgufFile, &'static str) -> Result<Box<dyn Encoder + 'a>>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .finish()
    }
}

impl Registration {
    /// The registration of architecture `A` under `name`.
    pub const fn of<A: Architecture>(name: &'static str) -> Registration {
        Registration {
            name,
            prompt_presets: A::PROMPT_PRESETS,
            load: load_bound::<A>,
        }
    }
}

fn load_bound<'a, A: Architecture>(
    file: &'a GgufFile,
    name: &'static str,
) -> Result<Box<dyn Encoder + 'a>> {
    let (model, weights) = A::load(file, name)?;
    Ok(Box::new(Bound::<A> {
        name,
        model,
        weights,
        _arch: PhantomData,
    }))
}

/// An architecture's model with its weights bound: the [`Encoder`] the registry hands out.
struct Bound<'a, A: Architecture> {
    name: &'static str,
    model: A,
    weights: A::Weights<'a>,
    _arch: PhantomData<A>,
}

impl<A: Architecture> fmt::Debug for Bound<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bound")
            .field("name", &self.name)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl<A: Architecture> Encoder for Bound<'_, A> {
    fn architecture(&self) -> &'static str {
        self.name
    }
    fn n_ctx(&self) -> usize {
        self.model.n_ctx()
    }
    fn n_vocab(&self) -> usize {
        self.model.n_vocab()
    }
    fn n_types(&self) -> Option<usize> {
        A::limits(&self.weights).n_types
    }
    fn default_pooling(&self) -> Pooling {
        self.model.default_pooling()
    }
    fn out_dim(&self, pooling: Pooling) -> usize {
        A::out_dim(&self.weights, pooling)
    }
    fn bytes_per_token(&self) -> usize {
        self.model.bytes_per_token()
    }
    fn prompt_presets(&self) -> PromptPresets {
        A::PROMPT_PRESETS
    }
    fn forward(
        &self,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        A::forward(
            &self.weights,
            exec,
            batch,
            pooling,
            out,
            scratch.get::<A::Scratch>(),
        )
    }
    fn gpu_support(&self) -> bool {
        A::GPU
    }
    #[cfg(feature = "gpu")]
    fn to_gpu(
        &self,
        ctx: std::sync::Arc<ggufembed_kernels::gpu::GpuContext>,
    ) -> Option<Result<Box<dyn crate::encoder::GpuEncoder>>> {
        A::to_gpu(&self.weights, ctx)
    }
}

/// The bound encoder, borrowing the file it is stored beside.
type BoundEncoder<'a> = Box<dyn Encoder + 'a>;

self_cell::self_cell!(
    /// A memory-mapped GGUF file and the encoder whose weights are slices of it, in one value:
    /// the weights can never outlive the map, and nothing is made `'static`.
    pub struct MappedEncoder {
        owner: GgufFile,
        #[covariant]
        dependent: BoundEncoder,
    }
    impl {Debug}
);

impl MappedEncoder {
    /// Opens `file` with the architecture its `general.architecture` names, validating the
    /// model and binding its weights once.
    pub fn load(file: GgufFile) -> Result<MappedEncoder> {
        MappedEncoder::try_new(file, |file| {
            let arch = file.get_str("general.architecture")?;
            match ARCHITECTURES.iter().find(|r| r.name == arch) {
                Some(r) => (r.load)(file, r.name),
                None => Err(RuntimeError::UnsupportedArchitecture {
                    arch: arch.to_string(),
                    supported: supported(),
                }),
            }
        })
    }

    /// The mapped file.
    pub fn file(&self) -> &GgufFile {
        self.borrow_owner()
    }

    /// The encoder.
    pub fn encoder(&self) -> &dyn Encoder {
        &**self.borrow_dependent()
    }
}

/// The registered architectures' names, comma-separated (for error messages).
pub fn supported() -> &'static str {
    static NAMES: OnceLock<String> = OnceLock::new();
    NAMES.get_or_init(|| {
        let names: Vec<&str> = ARCHITECTURES.iter().map(|r| r.name).collect();
        names.join(", ")
    })
}

/// The prompt presets documented for `architecture` (empty for an unknown name or one with
/// none), without opening a model.
pub fn prompt_presets(architecture: &str) -> PromptPresets {
    ARCHITECTURES
        .iter()
        .find(|r| r.name == architecture)
        .map_or(&[], |r| r.prompt_presets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_and_presets() {
        // Every registered name, once, in table order (new architectures append theirs).
        let names: Vec<&str> = ARCHITECTURES.iter().map(|r| r.name).collect();
        assert_eq!(supported(), names.join(", "));
        assert!(supported().starts_with("bert, gemma-embedding"));
        assert!(prompt_presets("bert").is_empty());
        assert!(
            prompt_presets("gemma-embedding")
                .iter()
                .any(|(n, _)| *n == "query")
        );
        assert!(prompt_presets("nope").is_empty());
    }

    #[test]
    fn an_unknown_architecture_is_refused_naming_the_supported_ones() {
        let mut w = gguf_loader::GgufWriter::new();
        w.add_metadata(
            "general.architecture",
            gguf_loader::Value::String("llama".into()),
        )
        .unwrap();
        let file = GgufFile::from_bytes(&w.to_bytes()).unwrap();
        let err = MappedEncoder::load(file).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "unsupported architecture 'llama' (supported: {})",
                supported()
            )
        );
        assert!(err.contains("bert, gemma-embedding"), "{err}");
    }

    /// A graph of the usual shape that reads token types: row `i` = Σ (id + 10·type) of
    /// sequence `i`, so a test sees whether types travel with their ids through the scheduler.
    #[derive(Debug)]
    struct Toy {
        n_vocab: usize,
    }

    #[derive(Debug)]
    struct ToyWeights<'a> {
        _file: &'a GgufFile,
    }

    impl Toy {
        fn load(_: &GgufFile, _: &str) -> Result<Toy> {
            Ok(Toy { n_vocab: 100 })
        }
        fn n_ctx(&self) -> usize {
            8
        }
        fn pooling(&self) -> Pooling {
            Pooling::Mean
        }
        fn bytes_per_token(&self) -> usize {
            4
        }
        fn bind<'a>(&self, file: &'a GgufFile) -> Result<ToyWeights<'a>> {
            Ok(ToyWeights { _file: file })
        }
    }

    impl ToyWeights<'_> {
        fn out_dim(&self, _: Pooling) -> usize {
            1
        }
        fn limits(&self) -> BatchLimits {
            BatchLimits {
                max_len: 8,
                n_vocab: 100,
                n_types: Some(2),
            }
        }
        fn forward(
            &self,
            _: &Exec<'_>,
            batch: &CheckedBatch<'_>,
            _: Pooling,
            out: &mut [f32],
            calls: &mut usize,
        ) -> Result<()> {
            *calls += 1;
            for (k, o) in out.iter_mut().enumerate().take(batch.len()) {
                let types = batch.seq_types(k).unwrap_or(&[]);
                *o = batch
                    .seq_ids(k)
                    .iter()
                    .enumerate()
                    .map(|(t, &id)| id as f32 + 10.0 * types.get(t).copied().unwrap_or(0) as f32)
                    .sum();
            }
            Ok(())
        }
    }

    crate::architecture!(Toy {
        weights: ToyWeights,
        scratch: usize,
        bytes_per_token: Toy::bytes_per_token,
    });

    #[test]
    fn the_macro_registers_a_module_and_types_reach_its_forward() {
        use crate::scheduler::{Parallelism, Scheduler, SchedulerConfig};
        let file = GgufFile::from_bytes(&gguf_loader::GgufWriter::new().to_bytes()).unwrap();
        let enc = (Registration::of::<Toy>("toy").load)(&file, "toy").unwrap();
        assert_eq!(enc.architecture(), "toy");
        assert_eq!(
            (enc.n_ctx(), enc.n_vocab(), enc.out_dim(Pooling::Mean)),
            (8, 100, 1)
        );
        assert_eq!(enc.default_pooling(), Pooling::Mean);
        // Lengths 1, 3, 2: run longest first in micro-batches of at most 3 tokens.
        let ids = [1u32, 2, 3, 4, 5, 6];
        let types = [0u32, 1, 1, 0, 1, 0];
        let seqs = [0..1, 1..4, 4..6];
        let batch = crate::Batch {
            types: Some(&types),
            ..crate::Batch::new(&ids, &seqs)
        };
        for threads in [1, 2] {
            let scheduler = Scheduler::new(SchedulerConfig {
                threads,
                token_budget: 3,
                max_len: 8,
                parallelism: Parallelism::AcrossTexts,
            })
            .unwrap();
            let mut out = [0.0f32; 3];
            scheduler
                .run(&*enc, &batch, Pooling::Mean, false, &mut out)
                .unwrap();
            assert_eq!(out, [1.0, 29.0, 21.0], "threads {threads}");
        }
        let mut out = [0.0f32; 3];
        let scheduler = Scheduler::new(SchedulerConfig {
            threads: 1,
            token_budget: 3,
            max_len: 2,
            parallelism: Parallelism::Auto,
        })
        .unwrap();
        let err = scheduler
            .run(&*enc, &batch, Pooling::Mean, false, &mut out)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("sequence 1 has 3 tokens, expected 1..=2"),
            "{err}"
        );
        // The scheduler's one check covers the token types the graph reads.
        assert_eq!(enc.n_types(), Some(2));
        let bad_types = [0u32, 1, 2, 0, 1, 0];
        let batch = crate::Batch {
            types: Some(&bad_types),
            ..batch
        };
        let scheduler = Scheduler::new(SchedulerConfig {
            max_len: 8,
            ..*scheduler.config()
        })
        .unwrap();
        let err = scheduler
            .run(&*enc, &batch, Pooling::Mean, false, &mut out)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("sequence 1: token type 2 is outside the model's 2 types"),
            "{err}"
        );
    }
}
