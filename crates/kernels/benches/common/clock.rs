//! The benches' clock: thread CPU time, and the best-of-5 rate of a peak probe. Included by
//! each bench with `#[path = "common/clock.rs"] mod clock;`.

#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// CPU time consumed by the calling thread (Linux `/proc/thread-self/schedstat`), falling back
/// to wall time elsewhere. The development machine is a shared 2-core VM where other builds
/// time-slice the benchmark thread; thread CPU time excludes the slices it did not run.
pub struct Clock(Option<u64>, Instant);

impl Clock {
    /// Starts a measurement.
    pub fn now() -> Self {
        let ns = std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        Clock(ns, Instant::now())
    }

    /// Thread CPU time since [`Clock::now`] (wall time where it cannot be read).
    pub fn elapsed(&self) -> Duration {
        match (self.0, Clock::now().0) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => self.1.elapsed(),
        }
    }
}

/// Best of 5 runs of `f(iters)`, in G(ops) per second given `ops_per_iter`.
pub fn rate<T>(ops_per_iter: f64, f: impl Fn(usize) -> T) -> f64 {
    let iters = 20_000_000;
    (0..5)
        .map(|_| {
            let t = Clock::now();
            black_box(f(iters));
            ops_per_iter * iters as f64 / t.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}
