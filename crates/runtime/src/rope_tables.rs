//! RoPE cos/sin tables kept in a graph's scratch: one pair of tables per frequency base, grown
//! to the longest sequence seen and recomputed only when they grow or the model changes.

use ggufembed_kernels::rope_cache;

/// Tables for one head width and `N` frequency bases (e.g. a global and a sliding-window base).
#[derive(Debug)]
pub(crate) struct RopeTables<const N: usize> {
    key: Option<(usize, [u32; N])>,
    n_pos: usize,
    /// Per base, `(cos, sin)`, each `n_pos × head_dim/2`.
    tables: [(Vec<f32>, Vec<f32>); N],
}

impl<const N: usize> Default for RopeTables<N> {
    fn default() -> Self {
        RopeTables {
            key: None,
            n_pos: 0,
            tables: std::array::from_fn(|_| (Vec::new(), Vec::new())),
        }
    }
}

impl<const N: usize> RopeTables<N> {
    /// Makes the tables cover `n_pos` positions for `head_dim` (even, > 0) and `bases`.
    pub fn ensure(&mut self, head_dim: usize, bases: [f32; N], n_pos: usize) {
        let key = Some((head_dim, bases.map(f32::to_bits)));
        if self.key == key && self.n_pos >= n_pos {
            return;
        }
        let n_pos = if self.key == key {
            n_pos.max(self.n_pos)
        } else {
            n_pos
        };
        let len = n_pos * head_dim / 2;
        for ((cos, sin), base) in self.tables.iter_mut().zip(bases) {
            cos.resize(len, 0.0);
            sin.resize(len, 0.0);
            rope_cache(base, head_dim, n_pos, cos, sin);
        }
        self.key = key;
        self.n_pos = n_pos;
    }

    /// `(cos, sin)` of base `i` (as passed to [`RopeTables::ensure`]).
    pub fn get(&self, i: usize) -> (&[f32], &[f32]) {
        let (cos, sin) = &self.tables[i];
        (cos, sin)
    }
}
