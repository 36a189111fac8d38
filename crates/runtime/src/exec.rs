//! How a forward pass executes: the kernels, and optionally a way to split each matmul's output
//! columns across workers (the "within matmul" mode for batches smaller than the pool).

use std::ops::Range;

use ggufembed_kernels::Kernels;

/// Runs `parts()` pieces of work, possibly in parallel, and returns when all are done.
///
/// Implemented by the worker pool ([`crate::pool::WorkerPool::splitter`]); a forward pass uses
/// it to compute column ranges of one matmul on several workers.
pub trait ColumnSplit: Sync {
    /// How many pieces a matmul is cut into.
    fn parts(&self) -> usize;
    /// Calls `f(part)` for every `part < parts()`, possibly on other threads, and waits.
    fn run(&self, f: &(dyn Fn(usize) + Sync));
}

/// The execution context of a forward pass.
#[derive(Clone, Copy)]
pub struct Exec<'a> {
    /// The kernels (ISA tier) to compute with.
    pub kernels: &'a Kernels,
    /// Splits matmuls across workers; `None` runs everything on the calling thread.
    pub split: Option<&'a dyn ColumnSplit>,
}

impl std::fmt::Debug for Exec<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exec")
            .field("kernels", &self.kernels)
            .field("split_parts", &self.split.map(|s| s.parts()))
            .finish()
    }
}

impl<'a> Exec<'a> {
    /// Everything on the calling thread.
    pub fn serial(kernels: &'a Kernels) -> Self {
        Exec {
            kernels,
            split: None,
        }
    }
}

/// Piece `p` of `n` columns cut into at most `parts` pieces, each a multiple of `align` columns
/// (but the last), or `None` if that piece is empty or `p` is past the last one.
pub fn column_range(n: usize, parts: usize, align: usize, p: usize) -> Option<Range<usize>> {
    let units = n.div_ceil(align.max(1));
    let parts = parts.clamp(1, units.max(1));
    if p >= parts {
        return None;
    }
    let (u0, u1) = (units * p / parts, units * (p + 1) / parts);
    let (c0, c1) = ((u0 * align).min(n), (u1 * align).min(n));
    (c0 < c1).then_some(c0..c1)
}

#[cfg(test)]
mod tests {
    use super::column_range;

    #[test]
    fn column_ranges_cover_every_column_once() {
        for n in [0usize, 1, 15, 16, 17, 384, 1536, 1000] {
            for parts in 1..=9 {
                let r: Vec<_> = (0..parts)
                    .filter_map(|p| column_range(n, parts, 16, p))
                    .collect();
                assert!(r.len() <= parts);
                let mut next = 0;
                for x in &r {
                    assert_eq!(x.start, next, "n={n} parts={parts} {r:?}");
                    assert!(x.end > x.start);
                    next = x.end;
                }
                assert_eq!(next, n, "n={n} parts={parts} {r:?}");
            }
        }
    }
}
