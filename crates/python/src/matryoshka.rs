//! `dimensions=`: Matryoshka truncation, done in the binding because the library has no such
//! option yet. Each row keeps its first `d` values and, when the model normalizes, is scaled
//! back to unit length (a truncated unit vector is shorter than 1).

/// Refuses a width of 0 or above the model's.
pub fn check(d: usize, full: usize) -> Result<(), String> {
    if d == 0 || d > full {
        return Err(format!(
            "invalid option dimensions: {d} is outside 1..={full} (the model's embedding width)"
        ));
    }
    Ok(())
}

/// Cuts every `full`-wide row of `data` to its first `d` values, re-normalised if `normalize`.
///
/// The norm is summed in f64 in index order, so the result is a function of the row alone
/// (deterministic whatever the batch).
pub fn truncate(data: Vec<f32>, full: usize, d: usize, normalize: bool) -> Vec<f32> {
    if d == full {
        return data;
    }
    let mut out = Vec::with_capacity(data.len() / full * d);
    for row in data.chunks_exact(full) {
        let head = &row[..d];
        let start = out.len();
        out.extend_from_slice(head);
        if normalize {
            let norm = head
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                for x in &mut out[start..] {
                    *x = (f64::from(*x) / norm) as f32;
                }
            }
        }
    }
    out
}
