//! [`Embeddings`]: the result of [`Model::embed`](crate::Model::embed).

/// One embedding per input text, in input order, as one contiguous row-major matrix, with the
/// number of tokens each text was run with and whether it was truncated.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    pub(crate) data: Vec<f32>,
    pub(crate) dim: usize,
    pub(crate) tokens: Vec<usize>,
    pub(crate) truncated: Vec<bool>,
}

impl Embeddings {
    /// Number of embeddings (= number of input texts).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no embeddings.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Dimension of each embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embedding `i`. Panics if `i >= len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Embedding `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        (i < self.len()).then(|| self.row(i))
    }

    /// The embeddings in input order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[f32]> {
        // `max(1)`: chunks_exact panics on 0; a 0-dim model has no rows to yield anyway.
        self.data.chunks_exact(self.dim.max(1)).take(self.len())
    }

    /// The whole `len() × dim()` matrix, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The matrix, consumed.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Tokens text `i` was embedded with (special tokens included, after truncation).
    pub fn tokens(&self, i: usize) -> usize {
        self.tokens[i]
    }

    /// Token counts of every text.
    pub fn token_counts(&self) -> &[usize] {
        &self.tokens
    }

    /// Whether text `i` was longer than `max_len` tokens and cut.
    pub fn truncated(&self, i: usize) -> bool {
        self.truncated[i]
    }

    /// Truncation flags of every text.
    pub fn truncated_flags(&self) -> &[bool] {
        &self.truncated
    }
}

impl<'a> IntoIterator for &'a Embeddings {
    type Item = &'a [f32];
    type IntoIter = std::iter::Take<std::slice::ChunksExact<'a, f32>>;

    fn into_iter(self) -> Self::IntoIter {
        self.data.chunks_exact(self.dim.max(1)).take(self.len())
    }
}
