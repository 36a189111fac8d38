//! Rotary position embeddings (RoPE) in the NeoX / Hugging Face `rotate_half` layout.
//!
//! A head of `head_dim` values is rotated as `head_dim / 2` pairs `(x[i], x[i + head_dim/2])`
//! — the two halves of the head, not adjacent values (that is the GPT-J layout) — by the angle
//! `pos · base^(-2i / head_dim)`:
//!
//! ```text
//! out[i]          = x[i] · cos − x[i + h] · sin
//! out[i + h]      = x[i + h] · cos + x[i] · sin        (h = head_dim / 2)
//! ```
//!
//! This is what Hugging Face's `apply_rotary_pos_emb` computes for Llama/Gemma-family models and
//! llama.cpp's `LLAMA_ROPE_TYPE_NEOX`. The angles are tabulated once ([`rope_cache`]) and reused
//! for every layer, head and sequence. Plain scalar Rust: RoPE touches each Q/K value once, a
//! negligible cost beside the projections that produce them.

/// Fills `cos` and `sin` (`n_pos × head_dim/2`, position-major) with the rotation of every pair
/// `i` at positions `0..n_pos` for frequency base `base`.
///
/// The angle is computed as Hugging Face's default rotary embedding does in float32 —
/// `inv_freq[i] = 1 / base^(2i / head_dim)`, `angle = pos · inv_freq[i]`, both rounded to f32 —
/// and its cosine and sine are taken in f64, then rounded to f32.
///
/// # Panics
/// If `head_dim` is odd or zero, or `cos`/`sin` do not hold `n_pos · head_dim / 2` values.
pub fn rope_cache(base: f32, head_dim: usize, n_pos: usize, cos: &mut [f32], sin: &mut [f32]) {
    assert!(
        head_dim > 0 && head_dim.is_multiple_of(2),
        "rope_cache: head_dim must be even and > 0"
    );
    let half = head_dim / 2;
    assert_eq!(
        cos.len(),
        n_pos * half,
        "rope_cache: cos.len() != n_pos * head_dim / 2"
    );
    assert_eq!(
        sin.len(),
        n_pos * half,
        "rope_cache: sin.len() != n_pos * head_dim / 2"
    );
    for (pos, (c_row, s_row)) in cos
        .chunks_exact_mut(half)
        .zip(sin.chunks_exact_mut(half))
        .enumerate()
    {
        for (i, (c, s)) in c_row.iter_mut().zip(s_row.iter_mut()).enumerate() {
            let inv_freq = 1.0 / base.powf((2 * i) as f32 / head_dim as f32);
            let angle = f64::from(pos as f32 * inv_freq);
            *c = angle.cos() as f32;
            *s = angle.sin() as f32;
        }
    }
}

/// Rotates, in place, every head of every token of one sequence: `x` is `seq × n_heads ×
/// head_dim` (token-major, as a Q or K projection lays it out); token `t` is at position `t` and
/// uses row `t` of the tables made by [`rope_cache`] (`cos`/`sin` hold at least `seq` rows).
///
/// # Panics
/// If `head_dim` is odd or zero, `x.len()` is not a multiple of `n_heads · head_dim`, or the
/// tables hold fewer than `seq` rows.
pub fn rope_neox(x: &mut [f32], n_heads: usize, head_dim: usize, cos: &[f32], sin: &[f32]) {
    assert!(
        head_dim > 0 && head_dim.is_multiple_of(2),
        "rope_neox: head_dim must be even and > 0"
    );
    let width = n_heads * head_dim;
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "rope_neox: x.len() is not a multiple of n_heads * head_dim"
    );
    let half = head_dim / 2;
    let seq = x.len() / width;
    assert!(
        cos.len() >= seq * half && sin.len() >= seq * half,
        "rope_neox: tables hold fewer than {seq} positions"
    );
    for (t, token) in x.chunks_exact_mut(width).enumerate() {
        let c = &cos[t * half..(t + 1) * half];
        let s = &sin[t * half..(t + 1) * half];
        for head in token.chunks_exact_mut(head_dim) {
            let (lo, hi) = head.split_at_mut(half);
            for (((a, b), &c), &s) in lo.iter_mut().zip(hi.iter_mut()).zip(c).zip(s) {
                let (x0, x1) = (*a, *b);
                *a = x0 * c - x1 * s;
                *b = x1 * c + x0 * s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RoPE computed entirely in f64 from the textbook formula.
    fn reference(x: &[f32], n_heads: usize, head_dim: usize, base: f64) -> Vec<f64> {
        let half = head_dim / 2;
        let mut out: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for (pos, token) in out.chunks_exact_mut(n_heads * head_dim).enumerate() {
            for head in token.chunks_exact_mut(head_dim) {
                for i in 0..half {
                    let theta = pos as f64 * base.powf(-2.0 * i as f64 / head_dim as f64);
                    let (x0, x1) = (head[i], head[i + half]);
                    head[i] = x0 * theta.cos() - x1 * theta.sin();
                    head[i + half] = x1 * theta.cos() + x0 * theta.sin();
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_f64_reference() {
        for (seq, n_heads, head_dim, base) in [
            (1, 1, 2, 10_000.0),
            (7, 2, 32, 10_000.0),
            (40, 3, 256, 1_000_000.0),
            (300, 1, 64, 10_000.0),
        ] {
            let half = head_dim / 2;
            let mut cos = vec![0.0; seq * half];
            let mut sin = vec![0.0; seq * half];
            rope_cache(base as f32, head_dim, seq, &mut cos, &mut sin);
            let mut x = values(seq * n_heads * head_dim, seq as u32);
            let want = reference(&x, n_heads, head_dim, base);
            rope_neox(&mut x, n_heads, head_dim, &cos, &sin);
            for (i, (&got, &want)) in x.iter().zip(&want).enumerate() {
                // f32 angles at position p are off by up to p·2^-24 radians (relative).
                let pos = i / (n_heads * head_dim);
                let tol = 4e-7 * (1.0 + pos as f64);
                assert!(
                    (f64::from(got) - want).abs() <= tol,
                    "seq {seq} heads {n_heads} dim {head_dim}: value {i} is {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn position_zero_is_identity_and_norms_are_kept() {
        let (n_heads, head_dim, seq) = (2, 16, 5);
        let mut cos = vec![0.0; seq * head_dim / 2];
        let mut sin = vec![0.0; seq * head_dim / 2];
        rope_cache(10_000.0, head_dim, seq, &mut cos, &mut sin);
        let x0 = values(seq * n_heads * head_dim, 3);
        let mut x = x0.clone();
        rope_neox(&mut x, n_heads, head_dim, &cos, &sin);
        assert_eq!(&x[..n_heads * head_dim], &x0[..n_heads * head_dim]);
        let norm = |v: &[f32]| v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>();
        for (a, b) in x.chunks_exact(head_dim).zip(x0.chunks_exact(head_dim)) {
            assert!((norm(a) - norm(b)).abs() < 1e-5 * norm(b).max(1.0));
        }
    }

    #[test]
    #[should_panic(expected = "fewer than")]
    fn short_tables_are_refused() {
        let mut x = vec![0.0; 3 * 8];
        rope_neox(&mut x, 1, 8, &[0.0; 8], &[0.0; 8]);
    }
}
