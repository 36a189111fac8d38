//! The cache-blocking loop shared by the matmul drivers.
//!
//! The float matmuls and the NEON Q8_0 kernel use the "dot-product" formulation
//! `y[r][c] = x[r] · w[c]`: both operands are read along K straight from their row-major storage
//! (W as mmapped, no repacking). A register tile covers `MR` rows of X and `NR` rows of W.
//! Around it (the x86 Q8_0 drivers no longer use this loop: they walk 16/32-column strips and
//! pack each strip's k-chunk into L1 right before its row tiles, see `q8_0::avx512`):
//!
//! * columns are taken in blocks of `NC` W rows whose bytes fit in about half of L2, so that a
//!   block of weights is read from memory once and then served from L2 to every row tile;
//! * inside a column block, one row tile of X (`MR × K`, a few KiB to tens of KiB) stays in L1
//!   while it sweeps all the block's `NR`-column tiles.
//!
//! K is never split: each tile runs its whole reduction, so an output's reduction order cannot
//! depend on the blocking. The loop is an iterator (not a closure-taking helper) so that the
//! tile code stays inside the caller's `#[target_feature]` function.

/// Bytes of weights per column block: half of the 512 KiB L2 of Zen 3 (1 MiB on Zen 4).
pub(crate) const L2_WEIGHT_BUDGET: usize = 256 * 1024;

/// One register tile: rows `r0..r0 + rows` of X, columns `c0..c0 + cols` of W.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tile {
    pub r0: usize,
    pub rows: usize,
    pub c0: usize,
    pub cols: usize,
}

/// Iterates the register tiles of the `m × (n0..n1)` output, column blocks outermost.
pub(crate) struct Tiles {
    m: usize,
    n1: usize,
    mr: usize,
    nr: usize,
    nc: usize,
    jend: usize,
    r0: usize,
    c0: usize,
    jc: usize,
}

impl Tiles {
    /// Tiles of at most `mr × nr`; `bytes_per_w_row` sizes the L2 column blocks.
    pub(crate) fn new(
        m: usize,
        n0: usize,
        n1: usize,
        mr: usize,
        nr: usize,
        bytes_per_w_row: usize,
    ) -> Self {
        let nc = (L2_WEIGHT_BUDGET / bytes_per_w_row.max(1)).max(nr) / nr * nr;
        Tiles {
            m,
            n1,
            mr,
            nr,
            nc,
            jend: (n0 + nc).min(n1),
            r0: 0,
            c0: n0,
            jc: n0,
        }
    }
}

impl Iterator for Tiles {
    type Item = Tile;

    #[inline]
    fn next(&mut self) -> Option<Tile> {
        if self.m == 0 {
            return None;
        }
        if self.c0 >= self.jend {
            // Next row tile of this column block, or the next column block.
            self.r0 += self.mr;
            self.c0 = self.jc;
            if self.r0 >= self.m {
                self.r0 = 0;
                self.jc = self.jend;
                self.c0 = self.jc;
                self.jend = (self.jc + self.nc).min(self.n1);
            }
        }
        if self.jc >= self.n1 {
            return None;
        }
        let t = Tile {
            r0: self.r0,
            rows: self.mr.min(self.m - self.r0),
            c0: self.c0,
            cols: self.nr.min(self.jend - self.c0),
        };
        self.c0 += t.cols;
        Some(t)
    }
}

/// Column indices of a tile, padded to `NR` by repeating the last one.
///
/// Padding lanes recompute a real column (and are then dropped) so that every lane does the
/// same work on valid memory; a lane's result never depends on its neighbours.
#[inline(always)]
pub(crate) fn tile_cols<const NR: usize>(c0: usize, cols: usize) -> [usize; NR] {
    debug_assert!(cols >= 1 && cols <= NR);
    std::array::from_fn(|j| c0 + j.min(cols - 1))
}

/// Writes a finished tile into `y` (row stride `n`), adding the bias if any.
#[inline(always)]
pub(crate) fn store_tile<const NR: usize>(
    out: &[[f32; NR]],
    t: Tile,
    n: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    for (i, row) in out.iter().take(t.rows).enumerate() {
        let yr = &mut y[(t.r0 + i) * n + t.c0..(t.r0 + i) * n + t.c0 + t.cols];
        match bias {
            Some(b) => {
                for ((d, &s), &bb) in yr.iter_mut().zip(row).zip(&b[t.c0..t.c0 + t.cols]) {
                    *d = s + bb;
                }
            }
            None => yr.copy_from_slice(&row[..t.cols]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_each_output_once() {
        for &(m, n0, n1, mr, nr, bpr) in &[
            (7, 3, 29, 4, 8, 1 << 16),
            (1, 0, 1, 4, 8, 10),
            (9, 0, 40, 3, 4, 1 << 20),
            (0, 0, 5, 2, 2, 1),
        ] {
            let mut seen = vec![0u32; m * n1];
            for t in Tiles::new(m, n0, n1, mr, nr, bpr) {
                assert!(t.rows >= 1 && t.rows <= mr && t.cols >= 1 && t.cols <= nr);
                for r in t.r0..t.r0 + t.rows {
                    for c in t.c0..t.c0 + t.cols {
                        seen[r * n1 + c] += 1;
                    }
                }
            }
            for r in 0..m {
                for c in 0..n1 {
                    assert_eq!(seen[r * n1 + c], u32::from(c >= n0), "m={m} r={r} c={c}");
                }
            }
        }
    }
}
