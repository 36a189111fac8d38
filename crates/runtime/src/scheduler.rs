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
use std::collections::BinaryHeap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use ggufembed_kernels::{Kernels, kernels};

use crate::encoder::{Batch, Encoder, Scratch};
use crate::error::{Result, RuntimeError};
use crate::exec::{ColumnSplit, Exec};
use crate::pool::WorkerPool;
use crate::pooling::Pooling;

/// The sequence length at which attention costs about as much per token as the matmuls, for
/// balancing the workers' loads: MiniLM's profile at 256-token passages gives attention about
/// as much thread time as its matmuls (docs/PERFORMANCE.md). Only the balance depends on it,
/// never a result.
const ATTENTION_TOKENS: u64 = 256;

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
    /// Scratch of [`Plan::fill_balanced`], kept so that a steady-state call allocates nothing
    /// (tests/alloc.rs).
    balance: Balance,
}

/// The working space of [`Plan::fill_balanced`].
#[derive(Debug, Default)]
struct Balance {
    /// Sequence indices, longest first: the dealing order.
    dealt: Vec<usize>,
    /// The micro-batch each dealt sequence went to, by position in `dealt`.
    bin_of: Vec<usize>,
    /// Per micro-batch: its load, its tokens and its rank in run order.
    load: Vec<u64>,
    tokens: Vec<usize>,
    rank: Vec<usize>,
    /// Micro-batch indices, most expensive first.
    run: Vec<usize>,
    /// A min-heap of (load, micro-batch).
    heap: BinaryHeap<Reverse<(u64, usize)>>,
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
            for k in first..last {
                let r = batch.seqs[self.order[k]].clone();
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

    /// Longest first, then spread over `workers` so that they finish together: the sequences
    /// are dealt, longest first, to the least-loaded of `workers · ⌈tokens / (workers ·
    /// budget)⌉` micro-batches (LPT scheduling; a new one is opened when the least-loaded one
    /// has no room under `budget`, so a longer sequence runs alone), and the micro-batches run
    /// most expensive first. Cutting the sorted run greedily instead left one worker idle
    /// through the last micro-batch of every call (see docs/PERFORMANCE.md, "No idle tail").
    ///
    /// The load of a sequence of `len` tokens is `len · (len + ATTENTION_TOKENS)`: per-token
    /// matmuls plus attention, which grows with the length.
    fn fill_balanced(&mut self, batch: &Batch<'_>, budget: usize, workers: usize) {
        let n = batch.len();
        let total = batch.tokens();
        // Rounds of one micro-batch per worker, filled to 7/8 of the budget on average so that
        // the least-loaded one has room for the next text (else a small extra one is opened).
        let per_round = (workers.saturating_mul(budget) / 8)
            .saturating_mul(7)
            .max(1);
        let bins = workers
            .saturating_mul(total.div_ceil(per_round))
            .clamp(1, n.max(1));
        let w = &mut self.balance;
        w.dealt.clear();
        w.dealt.extend(0..n);
        w.dealt
            .sort_unstable_by_key(|&i| (Reverse(batch.seqs[i].len()), i));
        w.load.clear();
        w.load.resize(bins, 0);
        w.tokens.clear();
        w.tokens.resize(bins, 0);
        w.bin_of.clear();
        w.heap.clear();
        w.heap.extend((0..bins).map(|b| Reverse((0, b))));
        for &i in &w.dealt {
            let len = batch.seqs[i].len();
            let cost = len as u64 * (len as u64 + ATTENTION_TOKENS);
            let b = match w.heap.peek() {
                Some(&Reverse((_, b))) if w.tokens[b] == 0 || w.tokens[b] + len <= budget => {
                    w.heap.pop();
                    b
                }
                _ => {
                    w.load.push(0);
                    w.tokens.push(0);
                    w.load.len() - 1
                }
            };
            w.load[b] += cost;
            w.tokens[b] += len;
            w.bin_of.push(b);
            w.heap.push(Reverse((w.load[b], b)));
        }
        w.run.clear();
        w.run.extend((0..w.load.len()).filter(|&b| w.tokens[b] > 0));
        let load = &w.load;
        w.run.sort_unstable_by_key(|&b| (Reverse(load[b]), b));
        w.rank.clear();
        w.rank.resize(w.load.len(), usize::MAX);
        for (r, &b) in w.run.iter().enumerate() {
            w.rank[b] = r;
        }
        // Dealt positions grouped by their micro-batch's rank, in dealing order within one
        // (the keys are unique, so the unstable sort is deterministic and allocates nothing).
        let (rank, bin_of) = (&w.rank, &w.bin_of);
        w.run.clear();
        w.run.extend(0..w.dealt.len());
        w.run.sort_unstable_by_key(|&k| (rank[bin_of[k]], k));
        self.order.clear();
        self.ids.clear();
        self.types.clear();
        self.seqs.clear();
        self.batches.clear();
        let w = std::mem::take(&mut self.balance);
        let mut k = 0;
        while k < w.run.len() {
            let bin = w.bin_of[w.run[k]];
            let (first, start) = (self.order.len(), self.ids.len());
            while k < w.run.len() && w.bin_of[w.run[k]] == bin {
                self.push(batch, w.dealt[w.run[k]], start);
                k += 1;
            }
            self.batches.push(MicroBatch {
                texts: first..self.order.len(),
                tokens: start..self.ids.len(),
            });
        }
        self.balance = w;
    }

    /// Appends sequence `i` to the run order and the packed ids of the micro-batch whose first
    /// token is `start`.
    fn push(&mut self, batch: &Batch<'_>, i: usize, start: usize) {
        let r = batch.seqs[i].clone();
        let at = self.ids.len() - start;
        self.order.push(i);
        self.seqs.push(at..at + r.len());
        self.ids.extend_from_slice(&batch.ids[r.clone()]);
        if let Some(types) = batch.types {
            self.types.extend_from_slice(&types[r]);
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
        // Across texts, the micro-batches are balanced over the workers; within matmuls, one
        // runs at a time.
        if within || threads == 1 {
            plan.fill(batch, true, self.config.token_budget);
        } else {
            plan.fill_balanced(batch, self.config.token_budget, threads);
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
    fn balanced_plans_give_the_workers_equal_loads_under_the_budget() {
        // Four passages on two workers: greedy cuts gave [300], [280], [250, 200] (one worker
        // idle through the third); dealt to the least loaded, [280, 250] and [300, 200].
        let passages = [250usize, 300, 200, 280];
        let mut seqs = Vec::new();
        let mut at = 0;
        for l in passages {
            seqs.push(at..at + l);
            at += l;
        }
        let ids: Vec<u32> = (0..at as u32).collect();
        let batch = Batch::new(&ids, &seqs);
        let mut plan = Plan::default();
        plan.fill_balanced(&batch, 824, 2);
        assert_eq!(lens(&plan), [vec![280, 250], vec![300, 200]]);
        assert_eq!(plan.order, [3, 0, 1, 2]);
        let first = plan.batch(&plan.batches[0], false);
        assert_eq!(first.ids[..3], [750, 751, 752]);
        assert_eq!(first.seqs, [0..280, 280..530]);
        // Many short texts: a multiple of the workers, each under the budget, every text once.
        let short: Vec<usize> = (0..300).map(|i| 5 + (i * 37) % 60).collect();
        let mut seqs = Vec::new();
        let mut at = 0;
        for &l in &short {
            seqs.push(at..at + l);
            at += l;
        }
        let ids: Vec<u32> = (0..at as u32).collect();
        let batch = Batch::new(&ids, &seqs);
        let cost = |l: usize| (l * (l + ATTENTION_TOKENS as usize)) as u64;
        for (budget, workers) in [(824, 2), (600, 3), (2000, 2), (100_000, 4)] {
            plan.fill_balanced(&batch, budget, workers);
            let mut seen = plan.order.clone();
            seen.sort_unstable();
            assert_eq!(seen, (0..short.len()).collect::<Vec<_>>());
            let tokens: Vec<usize> = plan.batches.iter().map(|b| b.tokens.len()).collect();
            assert!(tokens.iter().all(|&t| t <= budget), "{tokens:?}");
            assert_eq!(
                plan.batches.len() % workers,
                0,
                "{budget} {workers}: {tokens:?}"
            );
            // LPT: no two loads differ by more than the largest text's.
            let loads: Vec<u64> = (0..plan.batches.len())
                .map(|b| {
                    plan.seqs[plan.batches[b].texts.clone()]
                        .iter()
                        .map(|r| cost(r.len()))
                        .sum()
                })
                .collect();
            let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            assert!(hi - lo <= cost(64), "{budget} {workers}: {loads:?}");
        }
        // A sequence over the budget runs alone.
        plan.fill_balanced(&batch, 40, 2);
        assert!(
            plan.batches
                .iter()
                .all(|b| b.tokens.len() <= 40 || b.texts.len() == 1)
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
