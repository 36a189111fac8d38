//! The coarse-grained worker pool: threads created once per model, each running whole forward
//! passes over micro-batches of texts with serial kernels.
//!
//! Built on a private `rayon` thread pool (no global pool is touched, so an application's own
//! rayon work is not slowed or blocked by ours). Calls from several threads at once queue their
//! jobs in the same pool: at most `threads` forward passes run at a time, which bounds memory.
//!
//! One thread starts no pool: the caller runs the work itself, one call at a time (a lock
//! keeps the one-pass bound). A pool of one only added a hand-off to a second thread and back
//! per call, and a thread per model: under CPU contention each hand-off waits for the
//! scheduler (a fuzz execution of a tiny model took 0.02 s of CPU and 0.2-1 s of wall time on
//! the loaded 2-core machine, docs/SECURITY.md).

use std::sync::Mutex;

use crate::error::{Result, RuntimeError};
use crate::exec::ColumnSplit;

/// A fixed set of worker threads (none for one: the caller works).
#[derive(Debug)]
pub struct WorkerPool {
    workers: Workers,
}

/// The pool's threads: a rayon pool, or the calling thread alone.
#[derive(Debug)]
enum Workers {
    Pool(rayon::ThreadPool),
    /// One worker, the caller; the lock lets one call run at a time.
    Inline(Mutex<()>),
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
        if threads == 1 {
            return Ok(WorkerPool {
                workers: Workers::Inline(Mutex::new(())),
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
        Ok(WorkerPool {
            workers: Workers::Pool(pool),
        })
    }

    /// Number of workers.
    pub fn threads(&self) -> usize {
        match &self.workers {
            Workers::Pool(pool) => pool.current_num_threads(),
            Workers::Inline(_) => 1,
        }
    }

    /// Index (`0..threads`) of the pool worker running the caller, if it is one. With one
    /// thread, 0 for any caller: the work runs on the caller, under the pool's lock.
    pub fn current_index(&self) -> Option<usize> {
        match &self.workers {
            Workers::Pool(pool) => pool.current_thread_index(),
            Workers::Inline(_) => Some(0),
        }
    }

    /// Runs `f` on `workers` pool threads at once (at least one) and waits for all of them.
    /// `f` typically loops taking jobs from a shared queue. With one thread, `f` runs on the
    /// caller, after any other caller's `f` has returned.
    pub fn run_workers(&self, workers: usize, f: &(dyn Fn() + Sync)) {
        match &self.workers {
            Workers::Pool(pool) => pool.scope(|s| {
                for _ in 1..workers.clamp(1, self.threads()) {
                    s.spawn(|_| f());
                }
                f();
            }),
            Workers::Inline(lock) => {
                // A panic in an earlier call poisons nothing worth keeping: the lock guards
                // no data, only the one-call-at-a-time bound.
                let _one = lock.lock().unwrap_or_else(|e| e.into_inner());
                f();
            }
        }
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
        match &self.pool.workers {
            Workers::Pool(pool) if pool.current_thread_index().is_none() => {
                pool.install(|| join_parts(0, self.parts, f));
            }
            // On a worker already, or one part (one thread): no hand-off.
            _ => join_parts(0, self.parts, f),
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn one_thread_runs_on_the_caller_one_call_at_a_time() {
        let pool = WorkerPool::new(1).unwrap();
        assert_eq!(pool.threads(), 1);
        let caller = std::thread::current().id();
        let ran = AtomicUsize::new(0);
        pool.run_workers(4, &|| {
            assert_eq!(std::thread::current().id(), caller);
            assert_eq!(pool.current_index(), Some(0));
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.into_inner(), 1, "one worker, whatever was asked");
        let sum = AtomicUsize::new(0);
        pool.splitter(3).run(&|p| {
            assert_eq!(std::thread::current().id(), caller);
            sum.fetch_add(p + 1, Ordering::Relaxed);
        });
        assert_eq!(sum.into_inner(), 1, "one part: p = 0 alone");

        // Callers on several threads: never two inside at once.
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        pool.run_workers(1, &|| {
                            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(n, Ordering::SeqCst);
                            std::thread::yield_now();
                            inside.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                });
            }
        });
        assert_eq!(most.into_inner(), 1);
    }

    #[test]
    fn two_threads_run_on_the_pool() {
        let pool = WorkerPool::new(2).unwrap();
        assert_eq!(pool.threads(), 2);
        assert_eq!(
            pool.current_index(),
            None,
            "the test thread is not a worker"
        );
        let ran = AtomicUsize::new(0);
        pool.run_workers(2, &|| {
            assert!(pool.current_index().is_some());
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.into_inner(), 2);
        assert!(WorkerPool::new(0).is_err());
    }
}
