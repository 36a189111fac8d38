//! What every graph's `forward` shares: checking a packed batch, growing scratch buffers and
//! pooling each sequence's rows.

use std::ops::Range;

use ggufembed_kernels::Kernels;

use crate::error::{Result, RuntimeError};
use crate::pooling::Pooling;

/// The shape a graph expects of a packed batch.
pub(crate) struct BatchShape {
    /// Longest sequence (context length).
    pub n_ctx: usize,
    /// Ids must be below this.
    pub n_vocab: usize,
    /// Floats per output row: (pooled rows, per-token rows for [`Pooling::None`]).
    pub width: (usize, usize),
    /// Sequences must come in order without overlapping (graphs that rewrite rows in place).
    pub ordered: bool,
}

/// Checks `out`'s size and every sequence range and id of a packed batch.
pub(crate) fn check_batch(
    shape: &BatchShape,
    ids: &[u32],
    seqs: &[Range<usize>],
    pooling: Pooling,
    out: &[f32],
) -> Result<()> {
    let bad = |reason: String| RuntimeError::InvalidArgument {
        name: "batch",
        reason,
    };
    if pooling == Pooling::Rank {
        return Err(RuntimeError::InvalidArgument {
            name: "pooling",
            reason: "rank pooling needs a reranker's classification head, which this graph \
                     does not run"
                .to_owned(),
        });
    }
    let (rows, width) = if pooling == Pooling::None {
        (ids.len(), shape.width.1)
    } else {
        (seqs.len(), shape.width.0)
    };
    if out.len() != rows * width {
        return Err(bad(format!(
            "output holds {} floats, expected {rows} rows × {width}",
            out.len()
        )));
    }
    let mut prev_end = 0;
    for (i, r) in seqs.iter().enumerate() {
        if r.is_empty() || r.end > ids.len() {
            return Err(bad(format!(
                "sequence {i} range {r:?} is empty or outside the {} ids",
                ids.len()
            )));
        }
        if shape.ordered && r.start < prev_end {
            return Err(bad(format!(
                "sequence {i} range {r:?} overlaps or precedes the previous sequence"
            )));
        }
        prev_end = r.end;
        if r.len() > shape.n_ctx {
            return Err(bad(format!(
                "sequence {i} has {} tokens, more than the context length {}",
                r.len(),
                shape.n_ctx
            )));
        }
    }
    if let Some(&id) = ids.iter().find(|&&id| id as usize >= shape.n_vocab) {
        return Err(bad(format!(
            "token id {id} is outside the vocabulary of {}",
            shape.n_vocab
        )));
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
            // Refused by `check_batch`; the head writes a reranker's rows.
            Pooling::None | Pooling::Rank => {}
        }
    }
}
