//! Typed, shape-checked views of a model's weights in the mapped GGUF file.
//!
//! A [`Matrix`] is a GGUF 2-D weight `[k, n]` in ggml order — `n` rows of `k` values, PyTorch's
//! `[out, in]` — in whichever format the file stores it (F32, F16, BF16, Q8_0 or any
//! [`QuantType`]: Q4_0 … Q6_K, IQ4_NL, IQ4_XS). Binding checks the shape and the type once;
//! computing with it never fails. Each tensor keeps its own type, so mixed files (a "Q4_K_M" is
//! F32 + Q8_0 + Q5_0 + Q4_K + Q6_K) need nothing special.

use std::sync::Mutex;

use gguf_loader::{GgmlType, GgufFile};
use ggufembed_kernels::{
    BlockQ8_0, FloatWeights, Kernels, QuantType, QuantizedActivations, WeightRows, WeightsView,
};
use half::bf16;

use crate::error::{Result, RuntimeError};
use crate::exec::{ColumnSplit, Exec, column_range};
use crate::profile;

/// Column ranges of a split matmul are multiples of this (the kernels' widest register tile).
const SPLIT_ALIGN: usize = 16;
/// Below this many multiply-adds a matmul is not worth waking other workers for.
const MIN_SPLIT_MACS: usize = 1 << 18;

/// A weight matrix of `n` output rows by `k` inputs, as stored in the file.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    /// Inputs per row (ggml `ne[0]`).
    pub k: usize,
    /// Rows, i.e. outputs (ggml `ne[1]`).
    pub n: usize,
    /// The weights as the file stores them (the kernels' one weight vocabulary, also what the
    /// GPU upload takes).
    pub data: WeightsView<'a>,
}

/// One product of [`Matrix::matmul_shared_input`]: the weights, an optional bias, the output.
pub type MatmulOutput<'w, 'o> = (&'o Matrix<'w>, Option<&'o [f32]>, &'o mut [f32]);

/// Per-thread scratch a matmul may need: quantized activations for Q8_0 weights, and one output
/// buffer per part when a matmul is split across workers.
#[derive(Debug, Default)]
pub struct MatmulScratch {
    qa: QuantizedActivations,
    parts: Vec<Mutex<Vec<f32>>>,
}

/// The weights of one product, for the split driver.
#[derive(Clone, Copy)]
enum Operand<'a, 'x> {
    Q8(&'a [BlockQ8_0], &'x QuantizedActivations),
    Quant(QuantType, &'a [u8], &'x QuantizedActivations),
    Float(FloatWeights<'a>, &'x [f32], usize),
}

/// One product `y = x · Wᵀ (+ bias)` of `m` rows and `n` columns, for the split driver.
#[derive(Clone, Copy)]
struct Product<'a, 'x> {
    op: Operand<'a, 'x>,
    m: usize,
    n: usize,
    bias: Option<&'x [f32]>,
}

impl Product<'_, '_> {
    /// Columns `c` of the product into `y` (the full `m × n` layout).
    fn cols(&self, kernels: &Kernels, c: std::ops::Range<usize>, y: &mut [f32]) {
        let (m, n, bias) = (self.m, self.n, self.bias);
        // The product's rows, bias and column range, over whichever storage the operand has.
        let rows = WeightRows::new((), n, bias).cols(c.start, c.end);
        match self.op {
            Operand::Q8(w, qa) => kernels.gemm_q8_0_cols(qa, rows.map(|()| w), y),
            Operand::Quant(ty, w, qa) => kernels.gemm_quant_cols(qa, rows.map(|()| (ty, w)), y),
            Operand::Float(w, x, k) => kernels.gemm_float_cols(x, m, k, rows.map(|()| w), y),
        }
    }
}

/// `y = x · Wᵀ (+ bias)` with the columns cut across `split`'s workers: each part computes its
/// columns into its own `m × n` buffer (the kernels write full rows' layout), then the parts'
/// columns are copied into `y`. Each column is computed by the same kernel code as in a serial
/// call, so the result is bit-identical to it.
fn split_cols(
    kernels: &Kernels,
    split: &dyn ColumnSplit,
    prod: Product<'_, '_>,
    y: &mut [f32],
    parts: &mut Vec<Mutex<Vec<f32>>>,
) {
    let (m, n) = (prod.m, prod.n);
    let n_parts = split.parts();
    while parts.len() < n_parts {
        parts.push(Mutex::new(Vec::new()));
    }
    // The profiler charges helper threads' parts to the operation this thread is timing.
    let timed = profile::current();
    split.run(&|p| {
        let _t = timed.map(profile::assist);
        let Some(c) = column_range(n, n_parts, SPLIT_ALIGN, p) else {
            return;
        };
        let mut buf = parts[p].lock().unwrap_or_else(|e| e.into_inner());
        if buf.len() < m * n {
            buf.resize(m * n, 0.0);
        }
        prod.cols(kernels, c, &mut buf[..m * n]);
    });
    for (p, buf) in parts.iter_mut().enumerate().take(n_parts) {
        let Some(c) = column_range(n, n_parts, SPLIT_ALIGN, p) else {
            continue;
        };
        let buf = buf.get_mut().unwrap_or_else(|e| e.into_inner());
        for (yr, br) in y.chunks_exact_mut(n).zip(buf.chunks_exact(n)) {
            yr[c.clone()].copy_from_slice(&br[c.clone()]);
        }
    }
}

/// Whether a product of `m × k × n` should be split on `exec`.
fn splitter<'e>(exec: &Exec<'e>, m: usize, k: usize, n: usize) -> Option<&'e dyn ColumnSplit> {
    exec.split
        .filter(|s| s.parts() > 1 && n >= 2 * SPLIT_ALIGN && m * k * n >= MIN_SPLIT_MACS)
}

impl MatmulScratch {
    /// The quantized activations the next matmul reads, for a fused kernel that produces them
    /// directly (see [`Matrix::reads_act16`] and [`Matrix::matmul_quantized`]).
    pub fn activations_mut(&mut self) -> &mut QuantizedActivations {
        &mut self.qa
    }
}

impl<'a> Matrix<'a> {
    /// Whether this matrix's matmul reads [`QuantizedActivations`] in the 16-value layout of
    /// [`QuantizedActivations::quantize_with`] (Q8_0, and the quantized types llama.cpp does not
    /// dot in its own 32-value blocks): then a fused kernel may produce them
    /// (`Kernels::{bias_gelu,add_layer_norm,layer_norm,rms_norm}_quantize`) and
    /// [`Matrix::matmul_quantized`] use them, bit-identical to [`Matrix::matmul`].
    pub fn reads_act16(&self) -> bool {
        match self.data {
            WeightsView::Q8_0(_) => true,
            WeightsView::Quant(ty, _) => !ty.block_activations(),
            WeightsView::F32(_) | WeightsView::F16(_) | WeightsView::Bf16(_) => false,
        }
    }

    /// [`Matrix::matmul_shared_input`] on activations already quantized into `scratch`
    /// ([`MatmulScratch::activations_mut`]), for matrices that [`Matrix::reads_act16`].
    ///
    /// # Panics
    /// If a matrix does not read that layout, or the activations are not `m × k`.
    pub fn matmul_shared_quantized<const N: usize>(
        exec: &Exec<'_>,
        m: usize,
        mats: [MatmulOutput<'_, '_>; N],
        scratch: &mut MatmulScratch,
    ) {
        for (w, _, _) in &mats {
            assert!(
                w.reads_act16() && scratch.qa.m() == m && scratch.qa.k() == w.k,
                "matmul_shared_quantized: activations are {} × {}, the {} matrix needs {m} × {}",
                scratch.qa.m(),
                scratch.qa.k(),
                w.type_name(),
                w.k
            );
        }
        Matrix::products(exec, &[], m, mats, scratch);
    }

    /// [`Matrix::matmul`] on activations already quantized into `scratch` (see
    /// [`Matrix::matmul_shared_quantized`]).
    pub fn matmul_quantized(
        &self,
        exec: &Exec<'_>,
        m: usize,
        bias: Option<&[f32]>,
        y: &mut [f32],
        scratch: &mut MatmulScratch,
    ) {
        Matrix::matmul_shared_quantized(exec, m, [(self, bias, y)], scratch);
    }

    /// Binds tensor `name`, checking that its shape is `[k, n]` (ggml order) and its type one
    /// the kernels compute with.
    pub fn bind(file: &'a GgufFile, name: &str, k: usize, n: usize) -> Result<Matrix<'a>> {
        let info = file.require_tensor(name)?;
        if info.shape() != [k as u64, n as u64] {
            return Err(RuntimeError::tensor(
                name,
                format!("shape is {:?}, expected [{k}, {n}]", info.shape()),
            ));
        }
        let data = match info.ggml_type() {
            GgmlType::Q8_0 => WeightsView::Q8_0(file.view::<BlockQ8_0>(info)?),
            GgmlType::F32 => WeightsView::F32(file.view_f32(info)?),
            GgmlType::F16 => WeightsView::F16(file.view_f16(info)?),
            GgmlType::BF16 => WeightsView::Bf16(file.view_as::<bf16>(info, GgmlType::BF16)?),
            other => match QuantType::from_ggml_id(other.id()) {
                Some(ty) => {
                    let bytes = file.tensor_bytes(info);
                    if ty.row_bytes(k).and_then(|rb| rb.checked_mul(n)) != Some(bytes.len()) {
                        return Err(RuntimeError::tensor(
                            name,
                            format!(
                                "{ty} rows of {k} weights need whole {}-weight blocks ({} bytes stored)",
                                ty.block_size(),
                                bytes.len()
                            ),
                        ));
                    }
                    WeightsView::Quant(ty, bytes)
                }
                None => {
                    return Err(RuntimeError::tensor(
                        name,
                        format!(
                            "type {other} is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, \
                             Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL or IQ4_XS)"
                        ),
                    ));
                }
            },
        };
        Ok(Matrix { k, n, data })
    }

    /// Rows (outputs) `r` of this matrix, viewing the same storage: how a fused projection
    /// (`attn_qkv`, a gate-and-up `ffn_up`) is cut into its parts, so that each part's product
    /// lands in its own buffer. Rows are stored whole, so this is a sub-slice for every type.
    ///
    /// # Panics
    /// If `r` is not within `0..self.n`.
    pub fn rows(&self, r: std::ops::Range<usize>) -> Matrix<'a> {
        assert!(
            r.start <= r.end && r.end <= self.n,
            "Matrix::rows: {r:?} outside 0..{}",
            self.n
        );
        let k = self.k;
        let data = match self.data {
            WeightsView::Q8_0(w) => {
                let nb = k / ggufembed_kernels::QK8_0;
                WeightsView::Q8_0(&w[r.start * nb..r.end * nb])
            }
            WeightsView::Quant(ty, w) => {
                let rb = ty.row_bytes(k).unwrap_or(0);
                WeightsView::Quant(ty, &w[r.start * rb..r.end * rb])
            }
            WeightsView::F32(w) => WeightsView::F32(&w[r.start * k..r.end * k]),
            WeightsView::F16(w) => WeightsView::F16(&w[r.start * k..r.end * k]),
            WeightsView::Bf16(w) => WeightsView::Bf16(&w[r.start * k..r.end * k]),
        };
        Matrix {
            k,
            n: r.len(),
            data,
        }
    }

    /// `y (m × n) = x (m × k) · selfᵀ (+ bias)`.
    pub fn matmul(
        &self,
        exec: &Exec<'_>,
        x: &[f32],
        m: usize,
        bias: Option<&[f32]>,
        y: &mut [f32],
        scratch: &mut MatmulScratch,
    ) {
        Matrix::matmul_shared_input(exec, x, m, [(self, bias, y)], scratch);
    }

    /// Several matmuls over the same input, `ys[i] (m × n_i) = x · mats[i]ᵀ (+ biases[i])`:
    /// for Q8_0 weights `x` is quantized once for all of them (the Q, K and V projections).
    ///
    /// # Panics
    /// If the matrices do not all have the same `k`.
    pub fn matmul_shared_input<const N: usize>(
        exec: &Exec<'_>,
        x: &[f32],
        m: usize,
        mats: [MatmulOutput<'_, '_>; N],
        scratch: &mut MatmulScratch,
    ) {
        let kernels = exec.kernels;
        let Some(k) = mats.first().map(|(w, _, _)| w.k) else {
            return;
        };
        assert!(
            mats.iter().all(|(w, _, _)| w.k == k),
            "matmul_shared_input: k differs"
        );
        if mats
            .iter()
            .any(|(w, _, _)| matches!(w.data, WeightsView::Q8_0(_) | WeightsView::Quant(..)))
        {
            let _t = profile::scope(profile::Op::Quantize);
            // llama.cpp's 32-value activation blocks where any matrix's type is dotted so by
            // llama.cpp (see `QuantType::block_activations`); every matmul reads either layout.
            match mats.iter().find_map(|(w, _, _)| match w.data {
                WeightsView::Quant(ty, _) if ty.block_activations() => Some(ty),
                _ => None,
            }) {
                Some(ty) => scratch.qa.quantize_for(kernels, ty, x, m, k),
                None => scratch.qa.quantize_with(kernels, x, m, k),
            }
        }
        Matrix::products(exec, x, m, mats, scratch);
    }

    /// The products of [`Matrix::matmul_shared_input`] once `scratch` holds the quantized
    /// activations (`x` is read only by float matrices).
    fn products<const N: usize>(
        exec: &Exec<'_>,
        x: &[f32],
        m: usize,
        mats: [MatmulOutput<'_, '_>; N],
        scratch: &mut MatmulScratch,
    ) {
        let kernels = exec.kernels;
        for (w, bias, y) in mats {
            let k = w.k;
            let op = match w.data {
                WeightsView::Q8_0(q) => Operand::Q8(q, &scratch.qa),
                WeightsView::Quant(ty, q) => Operand::Quant(ty, q, &scratch.qa),
                WeightsView::F32(f) => Operand::Float(FloatWeights::F32(f), x, k),
                WeightsView::F16(f) => Operand::Float(FloatWeights::F16(f), x, k),
                WeightsView::Bf16(f) => Operand::Float(FloatWeights::Bf16(f), x, k),
            };
            let p = Product {
                op,
                m,
                n: w.n,
                bias,
            };
            match splitter(exec, m, k, w.n) {
                Some(split) => split_cols(kernels, split, p, y, &mut scratch.parts),
                None => p.cols(kernels, 0..w.n, y),
            }
        }
    }

    /// Copies row `r` (of `k` values) into `out` as f32 — the embedding lookup.
    pub fn row_into(&self, kernels: &Kernels, r: usize, out: &mut [f32]) {
        let k = self.k;
        match self.data {
            WeightsView::Q8_0(w) => {
                let nb = k / ggufembed_kernels::QK8_0;
                kernels.dequantize_row_q8_0(&w[r * nb..(r + 1) * nb], out);
            }
            WeightsView::Quant(ty, w) => {
                let rb = ty.row_bytes(k).unwrap_or(0);
                ty.dequantize_row(&w[r * rb..(r + 1) * rb], out);
            }
            WeightsView::F32(w) => out.copy_from_slice(&w[r * k..(r + 1) * k]),
            WeightsView::F16(w) => kernels.dequantize_row_f16(&w[r * k..(r + 1) * k], out),
            WeightsView::Bf16(w) => kernels.dequantize_row_bf16(&w[r * k..(r + 1) * k], out),
        }
    }

    /// The storage type, for reports.
    pub fn type_name(&self) -> &'static str {
        self.data.type_name()
    }
}

/// Rows of the embedding table `name` (`token_embd.weight`, `token_types.weight`), checked
/// before any buffer is sized from it: a `[width, rows]` tensor with `1 ≤ rows ≤ u32::MAX` (ids
/// are `u32`). `rows` names the count in the error (`n_vocab`, `n_types`). The table's type is
/// checked when it is bound ([`Matrix::bind`]).
pub(crate) fn table_rows(file: &GgufFile, name: &str, width: usize, rows: &str) -> Result<usize> {
    match file.require_tensor(name)?.shape() {
        [k, n] if *k == width as u64 && *n > 0 && *n <= u64::from(u32::MAX) => Ok(*n as usize),
        s => Err(RuntimeError::tensor(
            name,
            format!("shape is {s:?}, expected [{width}, {rows}]"),
        )),
    }
}

/// Binds a 1-D F32 tensor of length `n` (norm weights, biases).
pub fn bind_vector<'a>(file: &'a GgufFile, name: &str, n: usize) -> Result<&'a [f32]> {
    let info = file.require_tensor(name)?;
    if info.shape() != [n as u64] {
        return Err(RuntimeError::tensor(
            name,
            format!("shape is {:?}, expected [{n}]", info.shape()),
        ));
    }
    if info.ggml_type() != GgmlType::F32 {
        return Err(RuntimeError::tensor(
            name,
            format!("type is {}, expected F32", info.ggml_type()),
        ));
    }
    Ok(file.view_f32(info)?)
}

/// Binds a 1-D F32 tensor of length `n` if the file has it (the optional biases some
/// architectures allow); a present tensor of the wrong shape or type is refused.
pub fn bind_opt_vector<'a>(file: &'a GgufFile, name: &str, n: usize) -> Result<Option<&'a [f32]>> {
    if file.tensor(name).is_none() {
        return Ok(None);
    }
    bind_vector(file, name, n).map(Some)
}

/// Q, K and V of block `i`: the fused `attn_qkv` cut by rows when the file has it, else the three
/// separate projections; with their optional biases.
#[allow(clippy::type_complexity)]
pub(crate) fn bind_qkv<'a>(
    file: &'a GgufFile,
    i: usize,
    d: usize,
    qw: usize,
    kvw: usize,
) -> Result<([Matrix<'a>; 3], [Option<&'a [f32]>; 3])> {
    let fused = format!("blk.{i}.attn_qkv.weight");
    if file.tensor(&fused).is_some() {
        let w = Matrix::bind(file, &fused, d, qw + 2 * kvw)?;
        let b = bind_opt_vector(file, &format!("blk.{i}.attn_qkv.bias"), qw + 2 * kvw)?;
        let (q, k, v) = (0..qw, qw..qw + kvw, qw + kvw..qw + 2 * kvw);
        let cut = |r: std::ops::Range<usize>| b.map(|b| &b[r]);
        return Ok((
            [w.rows(q.clone()), w.rows(k.clone()), w.rows(v.clone())],
            [cut(q), cut(k), cut(v)],
        ));
    }
    let m = |name: &str, n: usize| Matrix::bind(file, &format!("blk.{i}.{name}.weight"), d, n);
    let b = |name: &str, n: usize| bind_opt_vector(file, &format!("blk.{i}.{name}.bias"), n);
    Ok((
        [m("attn_q", qw)?, m("attn_k", kvw)?, m("attn_v", kvw)?],
        [b("attn_q", qw)?, b("attn_k", kvw)?, b("attn_v", kvw)?],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gguf_loader::GgufWriter;

    fn file(tensors: &[(&str, GgmlType, [u64; 2])]) -> GgufFile {
        let mut w = GgufWriter::new();
        for &(name, ty, shape) in tensors {
            let bytes = ty.row_bytes(shape[0]).unwrap() * shape[1];
            let data: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8 & 0x3f).collect();
            w.add_tensor(name, ty, &shape, data).unwrap();
        }
        GgufFile::from_bytes(&w.to_bytes()).unwrap()
    }

    #[test]
    fn every_listed_type_binds_and_looks_up_rows_as_its_dequantization() {
        for ty in QuantType::ALL {
            let g = GgmlType::from_id(ty.ggml_id()).unwrap();
            let f = file(&[("m.weight", g, [512, 3])]);
            let m = Matrix::bind(&f, "m.weight", 512, 3).unwrap();
            assert_eq!(m.type_name(), g.to_string());
            let kernels = ggufembed_kernels::kernels();
            let bytes = f.tensor_bytes(f.require_tensor("m.weight").unwrap());
            let rb = ty.row_bytes(512).unwrap();
            let (mut got, mut want) = (vec![0.0f32; 512], vec![0.0f32; 512]);
            m.row_into(kernels, 2, &mut got);
            ty.dequantize_row(&bytes[2 * rb..3 * rb], &mut want);
            assert_eq!(got, want, "{ty}");
        }
    }

    /// A row range of a fused matrix computes exactly the columns the whole matrix gives there.
    #[test]
    fn row_ranges_compute_the_same_columns_as_the_whole_matrix() {
        let kernels = ggufembed_kernels::kernels();
        let exec = Exec::serial(kernels);
        let mut types = vec![GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0];
        types.extend(
            QuantType::ALL
                .iter()
                .map(|ty| GgmlType::from_id(ty.ggml_id()).unwrap()),
        );
        let (k, n, m) = (256usize, 7usize, 3usize);
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        for g in types {
            let f = file(&[("m.weight", g, [k as u64, n as u64])]);
            let w = Matrix::bind(&f, "m.weight", k, n).unwrap();
            let mut full = vec![0.0; m * n];
            w.matmul(&exec, &x, m, None, &mut full, &mut MatmulScratch::default());
            for r in [0..3, 2..5, 5..7] {
                let part = w.rows(r.clone());
                assert_eq!((part.k, part.n), (k, r.len()));
                let mut y = vec![0.0; m * r.len()];
                part.matmul(&exec, &x, m, None, &mut y, &mut MatmulScratch::default());
                for (i, row) in y.chunks_exact(r.len()).enumerate() {
                    assert_eq!(row, &full[i * n + r.start..i * n + r.end], "{g} {r:?}");
                }
                let mut emb = vec![0.0; k];
                let mut want = vec![0.0; k];
                part.row_into(kernels, 1, &mut emb);
                w.row_into(kernels, r.start + 1, &mut want);
                assert_eq!(emb, want, "{g} {r:?}");
            }
        }
    }

    #[test]
    fn unsupported_types_are_refused_naming_tensor_and_type() {
        for g in [GgmlType::IQ2_XXS, GgmlType::TQ1_0, GgmlType::IQ1_M] {
            let f = file(&[("blk.0.ffn_up.weight", g, [256, 2])]);
            let err = Matrix::bind(&f, "blk.0.ffn_up.weight", 256, 2)
                .unwrap_err()
                .to_string();
            assert!(err.contains("blk.0.ffn_up.weight"), "{err}");
            assert!(err.contains(&g.to_string()), "{err}");
        }
    }
}
