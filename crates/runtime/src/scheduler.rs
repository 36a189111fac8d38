//! The [`Scheduler`]: runs a [`Batch`] of any size on an [`Encoder`], on the CPU's worker pool
//! or on a GPU, and writes each sequence's rows at its place, L2-normalized if asked.
//!
//! One planner for both backends (see docs/ARCHITECTURE.md, "Parallel runtime"): the batch is
//! checked once, its sequences put in run order — longest first on the CPU (ties by index, so
//! the schedule is a function of the input), input order on the GPU — packed once in that
//! order and cut greedily into micro-batches under a token budget (a longer sequence runs
//! alone). On the CPU each pool worker takes micro-batches in turn and runs the whole graph on
//! one with serial kernels; with fewer sequences than workers, the single micro-batch instead
//! has each matmul's columns split across the workers. Every kernel computes a row (and a
//! column) independently of the others, so a sequence's rows are bit-identical whatever the
//! batch, order, thread count, budget or mode.

use std::cmp::Reverse;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use ggufembed_kernels::{Kernels, kernels};

use crate::encoder::{Batch, Encoder, Scratch};
use crate::error::{Result, RuntimeError};
use crate::exec::{ColumnSplit, Exec};
use crate::pool::WorkerPool;
use crate::pooling::Pooling;

/// How a batch is spread over the worker threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parallelism {
    /// Across texts when the batch gives every worker a micro-batch, otherwise (fewer texts
    /// than workers, e.g. one query) within each matmul.
    #[default]
    Auto,
    /// Each worker runs whole forward passes over its own micro-batches of texts with serial
    /// kernels; no synchronization inside a pass. Idle workers when there are too few texts.
    AcrossTexts,
    /// One micro-batch at a time, every matmul's output columns split across the workers (a
    /// synchronization per matmul). Lowest latency for a single text.
    WithinMatmul,
}

impl std::str::FromStr for Parallelism {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Parallelism::Auto),
            "texts" | "across-texts" => Ok(Parallelism::AcrossTexts),
            "matmul" | "within-matmul" => Ok(Parallelism::WithinMatmul),
            other => Err(format!(
                "unknown parallelism '{other}' (expected auto, texts or matmul)"
            )),
        }
    }
}

/// How a [`Scheduler`] cuts and spreads batches.
#[derive(Clone, Copy, Debug)]
pub struct SchedulerConfig {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Tokens per CPU micro-batch (at least 1).
    pub token_budget: usize,
    /// Longest sequence accepted, in tokens (at most the encoder's context length).
    pub max_len: usize,
    /// How CPU micro-batches are spread over the workers.
    pub parallelism: Parallelism,
}

/// One worker's reusable buffers: its micro-batch's output rows and the graph's scratch.
#[derive(Debug, Default)]
struct Slot {
    out: Vec<f32>,
    scratch: Scratch,
}

/// One micro-batch of a [`Plan`]: its sequences (positions in the run order) and its tokens
/// (range of the packed ids).
#[derive(Clone, Debug)]
struct MicroBatch {
    texts: Range<usize>,
    tokens: Range<usize>,
}

/// A call's schedule, kept between calls so a steady state allocates none of it.
#[derive(Debug, Default)]
struct Plan {
    /// Sequence indices in run order.
    order: Vec<usize>,
    /// The ids (and token types, if any) packed in run order.
    ids: Vec<u32>,
    types: Vec<u32>,
    /// Each sequence's range, relative to its micro-batch's first token, in run order.
    seqs: Vec<Range<usize>>,
    batches: Vec<MicroBatch>,
}

impl Plan {
    /// Puts `batch` in run order (longest first if `sorted`), packs it and cuts it into
    /// micro-batches of at most `budget` tokens (a longer sequence alone).
    fn fill(&mut self, batch: &Batch<'_>, sorted: bool, budget: usize) {
        let n = batch.len();
        self.order.clear();
        self.order.extend(0..n);
        if sorted {
            // Longest first: workers finish together, and similar lengths share a micro-batch.
            self.order
                .sort_unstable_by_key(|&i| (Reverse(batch.seqs[i].len()), i));
        }
        self.ids.clear();
        self.types.clear();
        self.seqs.clear();
        self.batches.clear();
        let mut first = 0;
        while first < n {
            let start = self.ids.len();
            let (mut last, mut t) = (first, 0);
            while last < n {
                let len = batch.seqs[self.order[last]].len();
                if last > first && t + len > budget {
                    break;
                }
                t += len;
                last += 1;
            }
            for &i in &self.order[first..last] {
                let r = batch.seqs[i].clone();
                let at = self.ids.len() - start;
                self.seqs.push(at..at + r.len());
                self.ids.extend_from_slice(&batch.ids[r.clone()]);
                if let Some(types) = batch.types {
                    self.types.extend_from_slice(&types[r]);
                }
            }
            self.batches.push(MicroBatch {
                texts: first..last,
                tokens: start..self.ids.len(),
            });
            first = last;
        }
    }

    /// Micro-batch `b` as a packed batch of its own.
    fn batch(&self, b: &MicroBatch, typed: bool) -> Batch<'_> {
        Batch {
            ids: &self.ids[b.tokens.clone()],
            seqs: &self.seqs[b.texts.clone()],
            types: typed.then(|| &self.types[b.tokens.clone()]),
        }
    }
}

/// Runs batches on an encoder: the CPU worker pool (and each worker's scratch) or a GPU.
///
/// `Send + Sync`: concurrent [`run`](Scheduler::run) calls share the workers, so at most
/// `threads` forward passes (and scratches) exist at once.
#[derive(Debug)]
pub struct Scheduler {
    pool: WorkerPool,
    kernels: &'static Kernels,
    config: SchedulerConfig,
    /// One slot per pool worker, indexed by the worker's index.
    slots: Vec<Mutex<Slot>>,
    /// Schedules of finished calls, for the next ones.
    plans: Mutex<Vec<Plan>>,
    #[cfg(feature = "gpu")]
    gpu: Option<Box<dyn crate::encoder::GpuEncoder>>,
}

impl Scheduler {
    /// Starts the worker pool.
    pub fn new(config: SchedulerConfig) -> Result<Scheduler> {
        if config.token_budget == 0 || config.max_len == 0 {
            return Err(RuntimeError::InvalidArgument {
                name: "scheduler",
                reason: "the token budget and the longest sequence must be at least 1".into(),
            });
        }
        let pool = WorkerPool::new(config.threads)?;
        Ok(Scheduler {
            slots: (0..pool.threads()).map(|_| Mutex::default()).collect(),
            pool,
            kernels: kernels(),
            config,
            plans: Mutex::default(),
            #[cfg(feature = "gpu")]
            gpu: None,
        })
    }

    /// Runs every batch on `gpu` instead of the worker pool (feature `gpu`).
    #[cfg(feature = "gpu")]
    pub fn with_gpu(mut self, gpu: Box<dyn crate::encoder::GpuEncoder>) -> Scheduler {
        self.gpu = Some(gpu);
        self
    }

    /// The GPU the batches run on, if any.
    #[cfg(feature = "gpu")]
    pub fn gpu(&self) -> Option<&dyn crate::encoder::GpuEncoder> {
        self.gpu.as_deref()
    }

    /// Whether batches run on a GPU.
    pub fn on_gpu(&self) -> bool {
        #[cfg(feature = "gpu")]
        {
            self.gpu.is_some()
        }
        #[cfg(not(feature = "gpu"))]
        {
            false
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Tokens of one micro-batch: the CPU token budget, or the GPU's tokens per submission.
    pub fn micro_batch_tokens(&self) -> usize {
        #[cfg(feature = "gpu")]
        if let Some(g) = &self.gpu {
            return g.max_tokens();
        }
        self.config.token_budget
    }

    /// Tokens that keep the whole backend busy: a micro-batch per worker, or one GPU
    /// submission.
    pub fn busy_tokens(&self) -> usize {
        if self.on_gpu() {
            self.micro_batch_tokens()
        } else {
            self.config.token_budget * self.threads()
        }
    }

    /// Runs `batch` on `encoder` and writes its rows to `out` (`batch.rows(pooling) ×
    /// encoder.out_dim(pooling)`, in input order), L2-normalized if `normalize`.
    ///
    /// # Errors
    /// A sequence that is empty or longer than the configured `max_len` (or the context
    /// length), ranges that are not back to back, an id outside the vocabulary (all as
    /// `InvalidArgument { name: "tokens" }`), a wrongly sized `out`, or a failing graph.
    pub fn run(
        &self,
        encoder: &dyn Encoder,
        batch: &Batch<'_>,
        pooling: Pooling,
        normalize: bool,
        out: &mut [f32],
    ) -> Result<()> {
        let max_len = self.config.max_len.min(encoder.n_ctx());
        batch.check(max_len, encoder.n_vocab())?;
        let dim = encoder.out_dim(pooling);
        if out.len() != batch.rows(pooling) * dim {
            return Err(RuntimeError::InvalidArgument {
                name: "out",
                reason: format!(
                    "holds {} floats, expected {} rows × {dim}",
                    out.len(),
                    batch.rows(pooling)
                ),
            });
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut plan = lock(&self.plans).pop().unwrap_or_default();
        let result = self.run_planned(encoder, batch, pooling, normalize, &mut plan, out);
        lock(&self.plans).push(plan);
        result
    }

    /// [`run`](Scheduler::run) after the checks, with a plan to fill.
    fn run_planned(
        &self,
        encoder: &dyn Encoder,
        batch: &Batch<'_>,
        pooling: Pooling,
        normalize: bool,
        plan: &mut Plan,
        out: &mut [f32],
    ) -> Result<()> {
        let dim = encoder.out_dim(pooling);
        // First output row of sequence `i` (ranges are back to back from 0: checked).
        let row0 = |i: usize| match pooling {
            Pooling::None => batch.seqs[i].start,
            _ => i,
        };
        let typed = batch.types.is_some();
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            // Input order: each device batch's rows are one contiguous block of `out`.
            plan.fill(batch, false, gpu.max_tokens());
            for b in &plan.batches {
                let mb = plan.batch(b, typed);
                let first = row0(b.texts.start) * dim;
                let rows = &mut out[first..first + mb.rows(pooling) * dim];
                gpu.forward(&mb, pooling, normalize, rows)?;
            }
            return Ok(());
        }
        let n = batch.len();
        let threads = self.pool.threads();
        let within = match self.config.parallelism {
            Parallelism::WithinMatmul => threads > 1,
            Parallelism::AcrossTexts => false,
            Parallelism::Auto => threads > 1 && n < threads,
        };
        // Across texts, a small batch is cut so that every worker gets a share.
        let budget = if within {
            self.config.token_budget
        } else {
            self.config
                .token_budget
                .min(batch.tokens().div_ceil(threads))
                .max(1)
        };
        plan.fill(batch, true, budget);
        let plan = &*plan;
        let workers = if within {
            1
        } else {
            threads.min(plan.batches.len())
        };
        let splitter = self.pool.splitter(threads);
        let exec = Exec {
            kernels: self.kernels,
            split: within.then_some(&splitter as &dyn ColumnSplit),
        };
        // Sized once for the largest possible micro-batch (at most the budget's tokens, or one
        // longer sequence), so the steady state never reallocates a worker's output.
        let cap = self.config.token_budget.max(self.config.max_len) * dim;
        let next = AtomicUsize::new(0);
        let out = Mutex::new(out);
        let first_error: Mutex<Option<RuntimeError>> = Mutex::new(None);
        let work = || {
            // A worker's own slot; a fresh one only if the slot is busy (a worker that,
            // waiting inside a split matmul, picked up a job of another call). In the
            // within-matmul mode the single driver always uses slot 0, whichever worker runs
            // it, so its buffers stay warm from call to call.
            let index = if within {
                Some(0)
            } else {
                self.pool.current_index()
            };
            let mut own = index
                .and_then(|i| self.slots.get(i))
                .and_then(|m| m.try_lock().ok());
            let mut spare = None;
            let slot = match own.as_deref_mut() {
                Some(slot) => slot,
                None => spare.insert(Slot::default()),
            };
            while let Some(b) = plan.batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                if lock(&first_error).is_some() {
                    break;
                }
                let mb = plan.batch(b, typed);
                let len = mb.rows(pooling) * dim;
                if slot.out.len() < len {
                    slot.out.resize(len.max(cap), 0.0);
                }
                let rows = &mut slot.out[..len];
                let run = encoder.forward(&exec, &mb, pooling, rows, &mut slot.scratch);
                if let Err(e) = run {
                    lock(&first_error).get_or_insert(e);
                    break;
                }
                if normalize {
                    normalize_rows(self.kernels, rows, dim);
                }
                let mut out = lock(&out);
                let mut src = 0;
                for &i in &plan.order[b.texts.clone()] {
                    let n = pooling.rows(batch.seqs[i].len()) * dim;
                    let dst = row0(i) * dim;
                    out[dst..dst + n].copy_from_slice(&rows[src..src + n]);
                    src += n;
                }
            }
        };
        self.pool.run_workers(workers, &work);
        match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Scales each `dim`-wide row of `rows` to unit length: the one place CPU rows are normalized
/// (a GPU normalizes on the device, in the same submission).
pub fn normalize_rows(kernels: &Kernels, rows: &mut [f32], dim: usize) {
    for row in rows.chunks_exact_mut(dim) {
        kernels.l2_normalize(row);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(plan: &Plan) -> Vec<Vec<usize>> {
        plan.batches
            .iter()
            .map(|b| plan.seqs[b.texts.clone()].iter().map(|r| r.len()).collect())
            .collect()
    }

    #[test]
    fn plans_pack_longest_first_under_the_budget() {
        // Lengths 2, 5, 1, 3, 9 (index order).
        let ids: Vec<u32> = (0..20).collect();
        let seqs = [0..2, 2..7, 7..8, 8..11, 11..20];
        let batch = Batch::new(&ids, &seqs);
        let mut plan = Plan::default();
        plan.fill(&batch, true, 6);
        assert_eq!(plan.order, [4, 1, 3, 0, 2]);
        assert_eq!(lens(&plan), [vec![9], vec![5], vec![3, 2, 1]]);
        // Each micro-batch's ids are its sequences', packed, with ranges relative to it.
        let last = plan.batch(&plan.batches[2], false);
        assert_eq!(last.ids, [8, 9, 10, 0, 1, 7]);
        assert_eq!(last.seqs, [0..3, 3..5, 5..6]);
        // Input order (the GPU's): contiguous runs.
        plan.fill(&batch, false, 7);
        assert_eq!(lens(&plan), [vec![2, 5], vec![1, 3], vec![9]]);
        assert_eq!(
            plan.batch(&plan.batches[0], false).ids,
            [0, 1, 2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn plans_carry_token_types() {
        let ids = [5u32, 6, 7];
        let types = [0u32, 1, 1];
        let seqs = [0..1, 1..3];
        let batch = Batch {
            types: Some(&types),
            ..Batch::new(&ids, &seqs)
        };
        let mut plan = Plan::default();
        plan.fill(&batch, true, 8);
        let mb = plan.batch(&plan.batches[0], true);
        assert_eq!(mb.ids, [6, 7, 5]);
        assert_eq!(mb.types, Some(&[1u32, 1, 0][..]));
    }
}
