//! Matryoshka dimensions ([`Options::dimensions`](crate::Options::dimensions)): an embedding cut
//! to its first `n` values and, when the model normalizes, scaled back to unit length (a cut
//! unit vector is shorter than 1). Models trained with Matryoshka representation learning
//! (Qwen3-Embedding, nomic-embed-text v1.5, EmbeddingGemma) keep most of their quality at a
//! fraction of the width; for any other model it is the user's call.
//!
//! The same rule serves the library option, the server's `dimensions` request field and the
//! bindings: [`truncate_embedding`] on one row, [`Embeddings::truncate_dimensions`] on a result.
//! The norm is summed in f64 in index order, so a cut row is a function of the full row alone
//! (bit-identical whatever the batch, thread count or neighbours, like the full row).

use crate::embeddings::Embeddings;
use crate::error::{Error, Result};

/// Checks a Matryoshka width against the model's embedding width `full`: it must be in
/// `1..=full`.
///
/// # Errors
/// [`Error::InvalidOption`] naming `dimensions`.
pub fn check_dimensions(dimensions: usize, full: usize) -> Result<()> {
    if dimensions == 0 || dimensions > full {
        return Err(Error::InvalidOption {
            name: "dimensions",
            reason: format!("{dimensions} is outside 1..={full} (the model's embedding width)"),
        });
    }
    Ok(())
}

/// Cuts `row` to its first `dimensions` values and, if `normalize`, rescales them to unit
/// length (a zero row stays zero). A row no longer than `dimensions` is left as it is, bit for
/// bit, so the full width is the identity.
pub fn truncate_embedding(row: &mut Vec<f32>, dimensions: usize, normalize: bool) {
    if dimensions >= row.len() {
        return;
    }
    row.truncate(dimensions);
    if normalize {
        renormalize(row);
    }
}

/// `x /= ‖x‖₂`, the norm summed in f64 in index order; a zero vector is left as it is.
fn renormalize(x: &mut [f32]) {
    let norm = x
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for v in x {
            *v = (f64::from(*v) / norm) as f32;
        }
    }
}

impl Embeddings {
    /// Cuts every vector (every token's vector, without pooling) to its first `dimensions`
    /// values, each re-normalized to unit length if `normalize` (as [`truncate_embedding`]);
    /// [`dim`](Embeddings::dim) becomes `dimensions`. The full width leaves the result as it is.
    ///
    /// # Errors
    /// `dimensions` is 0 or above [`dim`](Embeddings::dim) (see [`check_dimensions`]).
    pub fn truncate_dimensions(&mut self, dimensions: usize, normalize: bool) -> Result<()> {
        let full = self.dim;
        check_dimensions(dimensions, full)?;
        if dimensions == full {
            return Ok(());
        }
        let rows = self.rows();
        for r in 0..rows {
            // Forward compaction: row r's destination starts at or before its source.
            self.data
                .copy_within(r * full..r * full + dimensions, r * dimensions);
            if normalize {
                renormalize(&mut self.data[r * dimensions..(r + 1) * dimensions]);
            }
        }
        self.data.truncate(rows * dimensions);
        self.dim = dimensions;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embeddings(data: Vec<f32>, dim: usize, tokens: Vec<usize>, rows: &[usize]) -> Embeddings {
        Embeddings {
            data,
            dim,
            truncated: vec![false; tokens.len()],
            tokens,
            offsets: rows.to_vec(),
        }
    }

    #[test]
    fn rows_are_cut_and_renormalized() {
        let mut row = vec![0.6, 0.0, 0.8];
        truncate_embedding(&mut row, 2, true);
        assert_eq!(row, [1.0, 0.0]);
        let mut row = vec![3.0, 4.0, 1.0];
        truncate_embedding(&mut row, 2, true);
        assert_eq!(row, [0.6, 0.8]);
        let mut raw = vec![3.0, 4.0, 1.0];
        truncate_embedding(&mut raw, 2, false);
        assert_eq!(raw, [3.0, 4.0]);
        let mut zero = vec![0.0; 4];
        truncate_embedding(&mut zero, 1, true);
        assert_eq!(zero, [0.0]);
    }

    #[test]
    fn the_full_width_is_the_identity() {
        let full = vec![0.1f32, 0.2, 0.3];
        let mut row = full.clone();
        truncate_embedding(&mut row, 3, true);
        assert_eq!(row, full);
        let mut e = embeddings(full.clone(), 3, vec![2], &[0, 1]);
        e.truncate_dimensions(3, true).unwrap();
        assert_eq!(e.as_slice(), full);
    }

    #[test]
    fn every_row_of_a_result_is_cut_like_a_single_row() {
        // Two texts without pooling: 2 and 1 token vectors of width 3.
        let data = vec![3.0, 4.0, 9.0, 0.0, 2.0, 7.0, 1.0, 0.0, 5.0];
        let mut e = embeddings(data.clone(), 3, vec![2, 1], &[0, 2, 3]);
        e.truncate_dimensions(2, true).unwrap();
        assert_eq!(e.dim(), 2);
        assert_eq!(e.rows(), 3);
        let mut want = Vec::new();
        for row in data.chunks(3) {
            let mut row = row.to_vec();
            truncate_embedding(&mut row, 2, true);
            want.extend(row);
        }
        assert_eq!(e.as_slice(), want);
        assert_eq!(e.row(0), &want[..4]);
        assert_eq!(e.row(1), &want[4..]);
    }

    #[test]
    fn zero_and_too_wide_are_refused() {
        let mut e = embeddings(vec![1.0; 6], 3, vec![1, 1], &[0, 1, 2]);
        for d in [0, 4] {
            let err = e.truncate_dimensions(d, true).unwrap_err().to_string();
            assert!(
                err.contains("dimensions") && err.contains(&format!("{d} is outside 1..=3")),
                "{err}"
            );
        }
        assert_eq!(e.dim(), 3, "a refused width leaves the result unchanged");
    }
}
