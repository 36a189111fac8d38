//! The argument structs of the public kernels that take more than a handful of operands: the
//! weight side of a matmul ([`WeightRows`]), a LayerNorm's parameters ([`NormParams`]) and
//! attention's inputs ([`AttentionInputs`]). Each is a `Copy` bundle of slices and dimensions, so
//! a call names what it passes (`WeightRows::new(w, n, bias)`) instead of lining up seven to nine
//! positional arguments of the same types. The per-ISA bodies keep their plain `fn` signatures;
//! the public layer unpacks these structs after checking them.

/// The weight side of one matmul `y = x · wᵀ (+ bias)`: `n` rows of weights `w` (each as wide
/// as the activations, `k`), an optional bias of `n` values, and the output columns `n0..n1` to
/// compute.
///
/// Columns of `y` outside `n0..n1` are left untouched, so a caller that splits one matmul across
/// threads gives each thread its own range over the same full `m × n` output. `W` is the
/// storage: `&[f32]`, `&[f16]`, [`FloatWeights`](crate::FloatWeights),
/// `&[`[`BlockQ8_0`](crate::BlockQ8_0)`]`, or `(`[`QuantType`](crate::QuantType)`, &[u8])` for
/// the other ggml block formats (the file's bytes, whole blocks).
#[derive(Clone, Copy, Debug)]
pub struct WeightRows<'a, W> {
    /// The weights, `n` rows of `k` values, row-major (GGUF's layout).
    pub w: W,
    /// Rows of `w`: the width of the output.
    pub n: usize,
    /// Added to every output row (`n` values), if any.
    pub bias: Option<&'a [f32]>,
    /// First output column computed.
    pub n0: usize,
    /// One past the last output column computed (`n0 <= n1 <= n`).
    pub n1: usize,
}

impl<'a, W> WeightRows<'a, W> {
    /// All `n` output columns of `x · wᵀ (+ bias)`.
    pub fn new(w: W, n: usize, bias: Option<&'a [f32]>) -> Self {
        WeightRows {
            w,
            n,
            bias,
            n0: 0,
            n1: n,
        }
    }

    /// The same product restricted to output columns `n0..n1` (checked by the kernel that runs
    /// it).
    pub fn cols(self, n0: usize, n1: usize) -> Self {
        WeightRows { n0, n1, ..self }
    }

    /// The same rows, columns and bias over another view of the weights (e.g. `&[f16]` as
    /// [`FloatWeights::F16`](crate::FloatWeights::F16)).
    pub fn map<V>(self, f: impl FnOnce(W) -> V) -> WeightRows<'a, V> {
        WeightRows {
            w: f(self.w),
            n: self.n,
            bias: self.bias,
            n0: self.n0,
            n1: self.n1,
        }
    }
}

/// A LayerNorm's parameters over rows of `gamma.len()` values:
/// `y = (x − mean) / sqrt(var + eps) · gamma (+ beta)`.
#[derive(Clone, Copy, Debug)]
pub struct NormParams<'a> {
    /// Per-column scale.
    pub gamma: &'a [f32],
    /// Per-column shift, if the model has one.
    pub beta: Option<&'a [f32]>,
    /// Added to the variance before the square root.
    pub eps: f32,
}

/// The inputs of attention over one sequence (layouts in the [`attention`](crate::attention)
/// module): queries, keys, values and an optional additive per-key mask.
#[derive(Clone, Copy, Debug)]
pub struct AttentionInputs<'a> {
    /// Queries, `seq × n_heads × head_dim`.
    pub q: &'a [f32],
    /// Keys, `seq × n_kv_heads × head_dim`.
    pub k: &'a [f32],
    /// Values, `seq × n_kv_heads × head_dim`.
    pub v: &'a [f32],
    /// `0` or `-inf` per key (`seq` values), added to every query's scores; `None` is all zeros.
    pub mask: Option<&'a [f32]>,
}
