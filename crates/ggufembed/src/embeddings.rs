//! [`Embeddings`]: the result of [`Model::embed`](crate::Model::embed).

/// One embedding per input text, in input order, as one contiguous row-major matrix, with the
/// number of tokens each text was run with and whether it was truncated.
///
/// With [`Pooling::None`](crate::Pooling::None) each text has one vector per token: text `i`'s
/// block ([`row`](Embeddings::row)) is `tokens(i) × dim` values, and the matrix has
/// [`rows`](Embeddings::rows) = the total token count rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    pub(crate) data: Vec<f32>,
    pub(crate) dim: usize,
    pub(crate) tokens: Vec<usize>,
    pub(crate) truncated: Vec<bool>,
    /// First matrix row of each text, plus the total row count at the end.
    pub(crate) offsets: Vec<usize>,
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

    /// Embedding `i` (`dim` values; without pooling, `tokens(i) × dim`). Panics if
    /// `i >= len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[self.offsets[i] * self.dim..self.offsets[i + 1] * self.dim]
    }

    /// Rows of the matrix: `len()`, or the total token count without pooling.
    pub fn rows(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// Embedding `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        (i < self.len()).then(|| self.row(i))
    }

    /// The embeddings in input order (one block per text, as [`row`](Embeddings::row)).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[f32]> {
        (0..self.len()).map(|i| self.row(i))
    }

    /// The whole `rows() × dim()` matrix, row-major.
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
    type IntoIter = Box<dyn ExactSizeIterator<Item = &'a [f32]> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}
