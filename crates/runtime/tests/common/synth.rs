//! Synthetic models for graph tests that need no shared file: a committed vocabulary-only GGUF's
//! tokenizer, hyper-parameters set here and seeded random weights (F32 or Q8_0); and the plain
//! f64 helpers the tests' naive reference forwards are written with.
#![allow(dead_code)]

use ggufembed_runtime::gguf_loader::{GgmlType, GgufFile, GgufWriter, Value};
use ggufembed_runtime::kernels::{BlockQ8_0, QK8_0, quantize_row_q8_0};

/// xorshift64*: deterministic uniform values in `[offset − scale, offset + scale)`.
pub struct Rng(pub u64);

impl Rng {
    pub fn fill(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
                offset + (r as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }
}

fn q8_0_bytes(values: &[f32]) -> Vec<u8> {
    let mut blocks = vec![BlockQ8_0::default(); values.len() / QK8_0];
    quantize_row_q8_0(values, &mut blocks);
    let mut out = Vec::with_capacity(blocks.len() * 34);
    for b in &blocks {
        out.extend_from_slice(&b.d.to_le_bytes());
        out.extend(b.qs.iter().map(|&q| q as u8));
    }
    out
}

/// A model file: the `tokenizer.*` metadata of the committed `vocab` GGUF, `general.architecture
/// = arch`, `{arch}.{key}` for every `keys` entry, and `tensors` (name, ggml shape) filled from
/// `seed`: norm weights near 1, everything else small. With `q8_0`, 2-D tensors are stored as
/// Q8_0, 1-D ones as F32.
pub fn model(
    vocab: &str,
    arch: &str,
    keys: &[(&str, Value)],
    tensors: &[(String, Vec<u64>)],
    q8_0: bool,
    seed: u64,
) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", Value::String(arch.into()))
        .unwrap();
    for (k, v) in keys {
        w.add_metadata(format!("{arch}.{k}"), v.clone()).unwrap();
    }
    for (k, v) in super::metadata_of(&super::data(vocab)) {
        if k.starts_with("tokenizer.") {
            w.add_metadata(k, v).unwrap();
        }
    }
    let mut rng = Rng(seed);
    for (name, shape) in tensors {
        let n: u64 = shape.iter().product();
        let values = if name.ends_with("norm.weight") {
            rng.fill(n as usize, 0.1, 1.0)
        } else if name.ends_with(".bias") {
            rng.fill(n as usize, 0.05, 0.0)
        } else {
            rng.fill(n as usize, 0.15, 0.0)
        };
        let (ty, bytes) = if q8_0 && shape.len() == 2 {
            (GgmlType::Q8_0, q8_0_bytes(&values))
        } else {
            let b = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (GgmlType::F32, b)
        };
        w.add_tensor(name.clone(), ty, shape, bytes).unwrap();
    }
    w.to_bytes()
}

/// `file` rewritten: metadata edited by `meta`, tensors dropped or reshaped by `tensor` (`None`
/// drops; the data is kept, so a reshape must keep the byte count).
pub fn rewrite(
    file: &GgufFile,
    meta: impl Fn(&mut Vec<(String, Value)>),
    tensor: impl Fn(&str, Vec<u64>) -> Option<Vec<u64>>,
) -> GgufFile {
    let mut md: Vec<(String, Value)> = file
        .metadata()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    meta(&mut md);
    let mut w = GgufWriter::new();
    for (key, value) in md {
        w.add_metadata(key, value).unwrap();
    }
    for info in file.tensors() {
        if let Some(shape) = tensor(info.name(), info.shape().to_vec()) {
            let data = file.tensor_bytes(info).to_vec();
            w.add_tensor(info.name(), info.ggml_type(), &shape, data)
                .unwrap();
        }
    }
    GgufFile::from_bytes(&w.to_bytes()).unwrap()
}

// ---- naive f64 reference helpers ----

/// An F32 tensor of `file` as f64.
pub fn tensor(file: &GgufFile, name: &str) -> Vec<f64> {
    let info = file.require_tensor(name).unwrap();
    file.view_f32(info)
        .unwrap()
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

/// `y = W·x` for `W` stored as `n` rows of `k` (ggml `[k, n]`).
pub fn matvec(w: &[f64], k: usize, x: &[f64]) -> Vec<f64> {
    assert_eq!(x.len(), k);
    w.chunks_exact(k)
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

/// LayerNorm of one row (biased variance).
pub fn layer_norm(x: &[f64], w: &[f64], b: Option<&[f64]>, eps: f64) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    x.iter()
        .enumerate()
        .map(|(i, v)| (v - mean) * inv * w[i] + b.map_or(0.0, |b| b[i]))
        .collect()
}

/// Rotates one head in place (NeoX layout: pairs `(i, i + hd/2)`) for position `pos`.
pub fn rope(x: &mut [f64], pos: usize, base: f64) {
    let hd = x.len();
    let h = hd / 2;
    for i in 0..h {
        let theta = pos as f64 * base.powf(-((2 * i) as f64) / hd as f64);
        let (c, s) = (theta.cos(), theta.sin());
        let (a, b) = (x[i], x[i + h]);
        x[i] = a * c - b * s;
        x[i + h] = b * c + a * s;
    }
}

/// Multi-head attention over one sequence: `q`, `k`, `v` are per token `n_head · hd` (MHA),
/// key `j` visible from query `i` when `visible(i, j)`.
pub fn attention(
    q: &[Vec<f64>],
    k: &[Vec<f64>],
    v: &[Vec<f64>],
    n_head: usize,
    visible: impl Fn(usize, usize) -> bool,
) -> Vec<Vec<f64>> {
    let n = q.len();
    let hd = q[0].len() / n_head;
    let scale = 1.0 / (hd as f64).sqrt();
    let mut out = vec![vec![0.0; n_head * hd]; n];
    for (i, o) in out.iter_mut().enumerate() {
        for h in 0..n_head {
            let hs = h * hd..(h + 1) * hd;
            let scores: Vec<Option<f64>> = (0..n)
                .map(|j| {
                    visible(i, j).then(|| {
                        q[i][hs.clone()]
                            .iter()
                            .zip(&k[j][hs.clone()])
                            .map(|(a, b)| a * b)
                            .sum::<f64>()
                            * scale
                    })
                })
                .collect();
            let max = scores.iter().flatten().fold(f64::MIN, |m, &s| m.max(s));
            let e: Vec<f64> = scores
                .iter()
                .map(|s| s.map_or(0.0, |s| (s - max).exp()))
                .collect();
            let z: f64 = e.iter().sum();
            for (j, ej) in e.iter().enumerate() {
                for (d, od) in o[hs.clone()].iter_mut().enumerate() {
                    *od += ej / z * v[j][h * hd + d];
                }
            }
        }
    }
    out
}

/// `erf` to ~1e-15 (Abramowitz–Stegun 7.1.26 is too coarse for a reference): the Maclaurin
/// series below 3, the asymptotic complement above.
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 3.0 {
        let (mut term, mut sum, x2) = (a, a, a * a);
        for n in 1..200 {
            term *= -x2 / n as f64;
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc(a) ≈ e^{−a²}/(a√π) · Σ (−1)^n (2n−1)!! / (2a²)^n
        let (mut term, mut sum) = (1.0, 1.0);
        for n in 1..8 {
            term *= -((2 * n - 1) as f64) / (2.0 * a * a);
            sum += term;
        }
        1.0 - (-a * a).exp() / (a * std::f64::consts::PI.sqrt()) * sum
    };
    r.copysign(x)
}

/// Exact GELU.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

/// SiLU.
pub fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

/// Mean of rows.
pub fn mean(rows: &[Vec<f64>]) -> Vec<f64> {
    let mut m = vec![0.0; rows[0].len()];
    for r in rows {
        for (a, b) in m.iter_mut().zip(r) {
            *a += b;
        }
    }
    m.iter().map(|v| v / rows.len() as f64).collect()
}

/// Cosine of an f32 row against an f64 one.
pub fn cosine64(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x.powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
