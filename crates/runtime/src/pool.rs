//! The coarse-grained worker pool: threads created once per model, each running whole forward
//! passes over micro-batches of texts with serial kernels.
//!
//! Built on a private `rayon` thread pool (no global pool is touched, so an application's own
//! rayon work is not slowed or blocked by ours). Calls from several threads at once queue their
//! jobs in the same pool: at most `threads` forward passes run at a time, which bounds memory.

use crate::error::{Result, RuntimeError};
use crate::exec::ColumnSplit;

/// A fixed set of worker threads.
#[derive(Debug)]
pub struct WorkerPool {
    pool: rayon::ThreadPool,
}

impl WorkerPool {
    /// Starts `threads` workers (named `ggufembed-N`).
    pub fn new(threads: usize) -> Result<WorkerPool> {
        if threads == 0 {
            return Err(RuntimeError::InvalidArgument {
                name: "threads",
                reason: "must be at least 1".into(),
            });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ggufembed-{i}"))
            .build()
            .map_err(|e| RuntimeError::InvalidArgument {
                name: "threads",
                reason: format!("cannot start {threads} worker threads: {e}"),
            })?;
        Ok(WorkerPool { pool })
    }

    /// Number of workers.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Index (`0..threads`) of the pool worker running the caller, if it is one.
    pub fn current_index(&self) -> Option<usize> {
        self.pool.current_thread_index()
    }

    /// Runs `f` on `workers` pool threads at once (at least one) and waits for all of them.
    /// `f` typically loops taking jobs from a shared queue.
    pub fn run_workers(&self, workers: usize, f: &(dyn Fn() + Sync)) {
        self.pool.scope(|s| {
            for _ in 1..workers.clamp(1, self.threads()) {
                s.spawn(|_| f());
            }
            f();
        });
    }

    /// A [`ColumnSplit`] cutting each matmul into `parts` pieces run on this pool.
    pub fn splitter(&self, parts: usize) -> Splitter<'_> {
        Splitter {
            pool: self,
            parts: parts.clamp(1, self.threads()),
        }
    }
}

/// Splits matmuls across a [`WorkerPool`] (see [`WorkerPool::splitter`]).
#[derive(Debug)]
pub struct Splitter<'p> {
    pool: &'p WorkerPool,
    parts: usize,
}

impl ColumnSplit for Splitter<'_> {
    fn parts(&self) -> usize {
        self.parts
    }

    fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        // Recursive `rayon::join` rather than a scope: its jobs live on the stack, so a split
        // matmul allocates nothing (a scope boxes every spawned job).
        if self.pool.current_index().is_some() {
            join_parts(0, self.parts, f);
        } else {
            self.pool.pool.install(|| join_parts(0, self.parts, f));
        }
    }
}

/// Runs `f(p)` for `p` in `lo..hi`, halves in parallel.
fn join_parts(lo: usize, hi: usize, f: &(dyn Fn(usize) + Sync)) {
    match hi - lo {
        0 => {}
        1 => f(lo),
        n => {
            let mid = lo + n / 2;
            rayon::join(|| join_parts(lo, mid, f), || join_parts(mid, hi, f));
        }
    }
}
