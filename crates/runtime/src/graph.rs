//! What every graph's `forward` shares: checking that a [`CheckedBatch`] and an output buffer
//! fit the graph, growing scratch buffers and pooling each sequence's rows.

use std::ops::Range;

use ggufembed_kernels::Kernels;

use crate::batch::{BatchLimits, CheckedBatch};
use crate::error::{Result, RuntimeError};
use crate::pooling::Pooling;

/// Checks what a graph's `forward` cannot know from the [`CheckedBatch`] alone, in O(1): that
/// the batch was checked against limits `graph` covers ([`CheckedBatch::fits`]), that `pooling`
/// is one the graph runs, and that `out` holds `batch.rows(pooling)` rows of `width.0` floats
/// (pooled) or `width.1` (per token, [`Pooling::None`]). No id or range is read again.
pub(crate) fn check_run(
    batch: &CheckedBatch<'_>,
    graph: &BatchLimits,
    pooling: Pooling,
    out: &[f32],
    width: (usize, usize),
) -> Result<()> {
    batch.fits(graph)?;
    if pooling == Pooling::Rank {
        return Err(RuntimeError::InvalidArgument {
            name: "pooling",
            reason: "rank pooling needs a reranker's classification head, which this graph \
                     does not run"
                .to_owned(),
        });
    }
    let width = if pooling == Pooling::None {
        width.1
    } else {
        width.0
    };
    let rows = batch.rows(pooling);
    if out.len() != rows * width {
        return Err(RuntimeError::InvalidArgument {
            name: "batch",
            reason: format!(
                "output holds {} floats, expected {rows} rows × {width}",
                out.len()
            ),
        });
    }
    Ok(())
}

/// `buf[..len]`, growing `buf` first if needed (scratch grows to the largest batch, then stays).
pub(crate) fn grow(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// One row of `out` per sequence: the mean, first or last of its rows of `x` (`d` wide).
/// [`Pooling::None`] writes nothing (the caller returns every token's row instead).
pub(crate) fn pool_rows(
    kernels: &Kernels,
    x: &[f32],
    d: usize,
    seqs: &[Range<usize>],
    pooling: Pooling,
    out: &mut [f32],
) {
    for (r, o) in seqs.iter().zip(out.chunks_exact_mut(d)) {
        match pooling {
            Pooling::Mean => kernels.mean_pool(x, d, r.start, r.end, o),
            Pooling::Cls => o.copy_from_slice(&x[r.start * d..(r.start + 1) * d]),
            Pooling::Last => o.copy_from_slice(&x[(r.end - 1) * d..r.end * d]),
            // Refused by `check_run`; the head writes a reranker's rows.
            Pooling::None | Pooling::Rank => {}
        }
    }
}
