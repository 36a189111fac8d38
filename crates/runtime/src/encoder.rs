//! The [`Encoder`] trait: what the scheduler and the `ggufembed` facade need of a model graph,
//! whatever its architecture, and the one packed-batch type ([`Batch`]) every graph runs on.
//!
//! An architecture module (`bert`, `gemma`, …) implements [`Architecture`](crate::registry::Architecture)
//! (usually through the [`architecture!`](crate::architecture) macro); the registry binds its
//! weights to the mapped file and hands it out as a `dyn Encoder`.

use std::any::Any;
use std::fmt;
use std::ops::Range;

use crate::error::{Result, RuntimeError};
use crate::exec::Exec;
use crate::pooling::Pooling;

/// `(name, prompt)` pairs an architecture documents (e.g. EmbeddingGemma's `query`).
pub type PromptPresets = &'static [(&'static str, &'static str)];

/// Packed sequences: every sequence's token ids back to back, one range per sequence, and
/// optionally one token-type (segment) id per token, for cross-encoder pairs.
///
/// No padding anywhere: a graph runs one matmul over all `ids.len()` tokens and attention per
/// sequence. Ranges are non-empty, in order and do not overlap ([`Batch::check`]).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// All sequences' token ids, back to back.
    pub ids: &'a [u32],
    /// Sequence `i`'s range in `ids`.
    pub seqs: &'a [Range<usize>],
    /// Token-type ids, one per token of `ids` (`None`: type 0 everywhere). Graphs without
    /// segment embeddings ignore them.
    pub types: Option<&'a [u32]>,
}

impl<'a> Batch<'a> {
    /// A batch of `seqs` over `ids`, without token types.
    pub fn new(ids: &'a [u32], seqs: &'a [Range<usize>]) -> Batch<'a> {
        Batch {
            ids,
            seqs,
            types: None,
        }
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether the batch holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Total tokens.
    pub fn tokens(&self) -> usize {
        self.ids.len()
    }

    /// Sequence `i`'s ids.
    pub fn seq(&self, i: usize) -> &'a [u32] {
        &self.ids[self.seqs[i].clone()]
    }

    /// Output rows for `pooling`: one per sequence, or one per token for [`Pooling::None`].
    pub fn rows(&self, pooling: Pooling) -> usize {
        match pooling {
            Pooling::None => self.ids.len(),
            _ => self.seqs.len(),
        }
    }

    /// Checks the batch once, before it is cut into micro-batches: every range non-empty, in
    /// order, without gaps or overlaps, at most `max_len` long; every id below `n_vocab`; the
    /// token types (if any) one per id.
    pub fn check(&self, max_len: usize, n_vocab: usize) -> Result<()> {
        let bad = |reason: String| RuntimeError::InvalidArgument {
            name: "tokens",
            reason,
        };
        let mut next = 0;
        for (i, r) in self.seqs.iter().enumerate() {
            if r.start != next || r.end > self.ids.len() || r.is_empty() || r.len() > max_len {
                return Err(bad(format!(
                    "sequence {i} has {} tokens, expected 1..={max_len}",
                    r.end.saturating_sub(r.start)
                )));
            }
            next = r.end;
            if let Some(&id) = self.ids[r.clone()]
                .iter()
                .find(|&&id| id as usize >= n_vocab)
            {
                return Err(bad(format!(
                    "sequence {i}: id {id} is outside the vocabulary of {n_vocab}"
                )));
            }
        }
        if next != self.ids.len() {
            return Err(bad(format!(
                "{} ids, but the sequences cover {next}",
                self.ids.len()
            )));
        }
        if let Some(t) = self.types
            && t.len() != self.ids.len()
        {
            return Err(bad(format!(
                "{} token types for {} ids",
                t.len(),
                self.ids.len()
            )));
        }
        Ok(())
    }
}

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
    /// The pooling the file asks for.
    fn default_pooling(&self) -> Pooling;
    /// Floats per output row for `pooling` (a pooled vector, or one token's hidden state).
    fn out_dim(&self, pooling: Pooling) -> usize;
    /// Bytes of one worker's scratch per token of a micro-batch (sizes the token budget).
    fn bytes_per_token(&self) -> usize;
    /// The architecture's documented prompt presets (empty if none).
    fn prompt_presets(&self) -> PromptPresets;
    /// Runs `batch` and writes its rows to `out` (`batch.rows(pooling) × out_dim(pooling)`),
    /// not normalized. `scratch` is reused from call to call.
    fn forward(
        &self,
        exec: &Exec<'_>,
        batch: &Batch<'_>,
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
        batch: &Batch<'_>,
        pooling: Pooling,
        normalize: bool,
        out: &mut [f32],
    ) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_refuses_gaps_overlaps_long_sequences_and_bad_ids() {
        let ids = [1u32, 2, 3, 4, 5];
        let ok = [0..2, 2..5];
        Batch::new(&ids, &ok).check(3, 6).unwrap();
        let short: Vec<Range<usize>> = std::iter::once(0..2).collect();
        let cases: [(&[Range<usize>], usize, usize, &str); 5] = [
            (&[0..2, 3..5], 3, 6, "sequence 1"),
            (&[0..3, 2..5], 3, 6, "sequence 1"),
            (&[0..1, 1..5], 3, 6, "sequence 1 has 4 tokens"),
            (&[0..2, 2..5], 3, 5, "id 5"),
            (&short, 3, 6, "cover 2"),
        ];
        for (seqs, max_len, n_vocab, want) in cases {
            let err = Batch::new(&ids, seqs).check(max_len, n_vocab).unwrap_err();
            assert!(err.to_string().contains(want), "{seqs:?}: {err}");
        }
        let types = [0u32; 4];
        let b = Batch {
            types: Some(&types),
            ..Batch::new(&ids, &ok)
        };
        assert!(b.check(3, 6).is_err());
    }

    #[test]
    fn scratch_keeps_its_type_and_replaces_another() {
        let mut s = Scratch::default();
        s.get::<Vec<u8>>().push(7);
        assert_eq!(s.get::<Vec<u8>>(), &[7]);
        assert_eq!(*s.get::<u32>(), 0);
        assert!(s.get::<Vec<u8>>().is_empty());
    }
}
