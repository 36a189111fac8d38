//! The [`Scheduler`]: runs a [`Batch`] of any size on an [`Encoder`], on the CPU's worker pool
//! or on a GPU, and writes each sequence's rows at its place, L2-normalized if asked.
//!
//! One planner for both backends (see docs/ARCHITECTURE.md, "Parallel runtime"): the batch is
//! checked once ([`Batch::check`], the only maker of the [`CheckedBatch`] graphs take), its
//! sequences put in run order — longest first on the CPU (ties by index, so the schedule is a
//! function of the input), input order on the GPU — and cut into micro-batches under a token
//! budget (a longer sequence runs alone), each a selection of the checked batch's sequences:
//! no id is copied or checked again. On the CPU each pool worker takes micro-batches in turn
//! and runs the whole graph on one with serial kernels; with fewer sequences than workers, the
//! single micro-batch instead has each matmul's columns split across the workers. Every kernel
//! computes a row (and a column) independently of the others, so a sequence's rows are
//! bit-identical whatever the batch, order, thread count, budget or mode.

mod plan;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use ggufembed_kernels::{Kernels, kernels};

use crate::batch::{Batch, CheckedBatch};
use crate::encoder::{Encoder, Scratch};
use crate::error::{Result, RuntimeError};
use crate::exec::{ColumnSplit, Exec};
use crate::pool::WorkerPool;
use crate::pooling::Pooling;
use plan::Plan;

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
    /// length), ranges that are not back to back, an id outside the vocabulary, token types
    /// not one per id or outside the model's (all as `InvalidArgument { name: "tokens" }`,
    /// from the one check, [`Batch::check`]), a wrongly sized `out`, or a failing graph.
    pub fn run(
        &self,
        encoder: &dyn Encoder,
        batch: &Batch<'_>,
        pooling: Pooling,
        normalize: bool,
        out: &mut [f32],
    ) -> Result<()> {
        let batch = batch.check(&encoder.batch_limits(self.config.max_len))?;
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
        let result = self.run_planned(encoder, &batch, pooling, normalize, &mut plan, out);
        lock(&self.plans).push(plan);
        result
    }

    /// [`run`](Scheduler::run) after the checks, with a plan to fill.
    fn run_planned(
        &self,
        encoder: &dyn Encoder,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        normalize: bool,
        plan: &mut Plan,
        out: &mut [f32],
    ) -> Result<()> {
        let dim = encoder.out_dim(pooling);
        // First output row of sequence `i` (ranges are back to back from 0: checked).
        let seqs = batch.seqs();
        let row0 = |i: usize| match pooling {
            Pooling::None => seqs[i].start,
            _ => i,
        };
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            // Input order: each device batch's rows are one contiguous block of `out`.
            plan.fill(seqs, false, gpu.max_tokens());
            for b in &plan.batches {
                let mb = plan.batch(batch, b);
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
        // Across texts, the micro-batches are balanced over the workers; within matmuls, one
        // runs at a time.
        if within || threads == 1 {
            plan.fill(seqs, true, self.config.token_budget);
        } else {
            plan.fill_balanced(seqs, self.config.token_budget, threads);
        }
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
                let mb = plan.batch(batch, b);
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
                    let n = pooling.rows(seqs[i].len()) * dim;
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
