//! The [`Encoder`] trait: what the scheduler and the `ggufembed` facade need of a model graph,
//! whatever its architecture. Graphs run on the packed batch of [`crate::batch`], checked once
//! ([`CheckedBatch`]).
//!
//! An architecture module (`bert`, `gemma`, …) implements [`Architecture`](crate::registry::Architecture)
//! (usually through the [`architecture!`](crate::architecture) macro); the registry binds its
//! weights to the mapped file and hands it out as a `dyn Encoder`.

pub use crate::batch::{Batch, BatchLimits, CheckedBatch};
use crate::error::Result;
use crate::exec::Exec;
use crate::pooling::Pooling;
use std::any::Any;
use std::fmt;

/// `(name, prompt)` pairs an architecture documents (e.g. EmbeddingGemma's `query`).
pub type PromptPresets = &'static [(&'static str, &'static str)];

/// One worker's reusable buffers for whichever graph it runs: created empty, filled by the
/// graph's own scratch type on first use, then reused (so a steady state allocates nothing).
#[derive(Default)]
pub struct Scratch(Option<Box<dyn Any + Send>>);

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scratch").field(&self.0.is_some()).finish()
    }
}

impl Scratch {
    /// The scratch as a `T`, replacing whatever else it held by `T::default()`.
    pub fn get<T: Default + Send + 'static>(&mut self) -> &mut T {
        if !self.0.as_ref().is_some_and(|b| b.is::<T>()) {
            self.0 = Some(Box::<T>::default());
        }
        match self.0.as_mut().and_then(|b| b.downcast_mut::<T>()) {
            Some(t) => t,
            None => unreachable!("the scratch was just made a T"),
        }
    }
}

/// A model graph with its weights bound: runs packed batches and states the facts the
/// scheduler and the facade size things by. Object-safe (`dyn Encoder`).
pub trait Encoder: Send + Sync + fmt::Debug {
    /// The `general.architecture` value it was registered under.
    fn architecture(&self) -> &'static str;
    /// Context length: the longest sequence [`forward`](Encoder::forward) accepts.
    fn n_ctx(&self) -> usize;
    /// Ids must be below this (rows of the token embedding).
    fn n_vocab(&self) -> usize;
    /// Token types must be below this for a graph that reads them; `None`: it reads none.
    fn n_types(&self) -> Option<usize>;
    /// The limits a batch for this encoder is checked against ([`Batch::check`]), with
    /// sequences of at most `max_len` tokens (capped at the context length).
    fn batch_limits(&self, max_len: usize) -> BatchLimits {
        BatchLimits {
            max_len: max_len.min(self.n_ctx()),
            n_vocab: self.n_vocab(),
            n_types: self.n_types(),
        }
    }
    /// The pooling the file asks for.
    fn default_pooling(&self) -> Pooling;
    /// Floats per output row for `pooling` (a pooled vector, or one token's hidden state).
    fn out_dim(&self, pooling: Pooling) -> usize;
    /// Bytes of one worker's scratch per token of a micro-batch (sizes the token budget).
    fn bytes_per_token(&self) -> usize;
    /// The architecture's documented prompt presets (empty if none).
    fn prompt_presets(&self) -> PromptPresets;
    /// Runs `batch` and writes its rows to `out` (`batch.rows(pooling) × out_dim(pooling)`),
    /// not normalized. `scratch` is reused from call to call. The batch was checked against
    /// [`batch_limits`](Encoder::batch_limits) (or tighter ones): nothing of it is checked again.
    fn forward(
        &self,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()>;
    /// Whether the architecture has a GPU graph.
    fn gpu_support(&self) -> bool;
    /// Uploads the weights to `ctx` (`None` when the architecture has no GPU graph).
    #[cfg(feature = "gpu")]
    fn to_gpu(
        &self,
        ctx: std::sync::Arc<ggufembed_kernels::gpu::GpuContext>,
    ) -> Option<Result<Box<dyn GpuEncoder>>>;
}

/// A graph whose weights live on a GPU (feature `gpu`): runs whole batches on the device.
#[cfg(feature = "gpu")]
pub trait GpuEncoder: Send + Sync + fmt::Debug {
    /// Most tokens one [`forward`](GpuEncoder::forward) takes.
    fn max_tokens(&self) -> usize;
    /// The device.
    fn context(&self) -> &ggufembed_kernels::gpu::GpuContext;
    /// Bytes of weights uploaded.
    fn weight_bytes(&self) -> u64;
    /// Runs `batch` (at most [`max_tokens`](GpuEncoder::max_tokens)) into `out`, L2-normalizing
    /// the rows on the device when `normalize` is set.
    fn forward(
        &self,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        normalize: bool,
        out: &mut [f32],
    ) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_keeps_its_type_and_replaces_another() {
        let mut s = Scratch::default();
        s.get::<Vec<u8>>().push(7);
        assert_eq!(s.get::<Vec<u8>>(), &[7]);
        assert_eq!(*s.get::<u32>(), 0);
        assert!(s.get::<Vec<u8>>().is_empty());
    }
}
