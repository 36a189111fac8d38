//! The sequence-classification head of a BERT cross-encoder (`BertForSequenceClassification`),
//! as llama.cpp's converter stores it and its rank pooling applies it:
//!
//! ```text
//! h      = hidden state of the sequence's first token ([CLS])
//! pooled = tanh(cls.weight · h + cls.bias)           if cls.weight is present (BERT's pooler)
//! score  = cls.output.weight · pooled + cls.output.bias
//! ```
//!
//! The unpatched converter drops BERT's pooler and writes only `cls.output`; a file converted
//! with the pooler kept (`cls.weight`, `cls.bias`) scores as the Hugging Face model does. Both
//! layouts load; biases are optional, as in llama.cpp. `cls.output.weight` is required (`[n_embd,
//! n_labels]`); `{arch}.classifier.output_labels`, when present, must name `n_labels` labels.

use std::ops::Range;

use gguf_loader::{GgufFile, Value};

use super::config::CLS_OUTPUT;
use crate::error::{Result, RuntimeError};
use crate::exec::Exec;
use crate::graph::grow;
use crate::weights::{MatmulScratch, Matrix, bind_vector};

const POOLER: &str = "cls.weight";
const POOLER_BIAS: &str = "cls.bias";
const OUTPUT_BIAS: &str = "cls.output.bias";

/// Largest number of labels accepted: far above any classifier, and it bounds output sizes.
const MAX_LABELS: u64 = 1 << 16;

/// The layout of a cross-encoder's classification head, checked at load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadShape {
    /// Whether BERT's pooler (`cls.weight`, dense + tanh) precedes the output projection.
    pub pooler: bool,
    /// Scores per sequence (rows of `cls.output.weight`; 1 for a reranker).
    pub n_labels: usize,
}

/// The bound head.
#[derive(Debug)]
pub(crate) struct Head<'a> {
    pooler: Option<(Matrix<'a>, Option<&'a [f32]>)>,
    output: Matrix<'a>,
    output_b: Option<&'a [f32]>,
}

/// Reusable buffers of [`Head::apply`].
#[derive(Debug, Default)]
pub(crate) struct HeadScratch {
    cls: Vec<f32>,
    pooled: Vec<f32>,
}

impl HeadShape {
    /// Reads the head's layout from `file` (a BERT of width `d`, architecture `arch`).
    pub(crate) fn read(file: &GgufFile, arch: &str, d: usize) -> Result<HeadShape> {
        let info = file.tensor(CLS_OUTPUT).ok_or_else(|| {
            RuntimeError::tensor(
                CLS_OUTPUT,
                "not found: pooling type rank needs the classification head's output projection",
            )
        })?;
        let n_labels = match info.shape() {
            [k, n] if *k == d as u64 && (1..=MAX_LABELS).contains(n) => *n as usize,
            s => {
                return Err(RuntimeError::tensor(
                    CLS_OUTPUT,
                    format!(
                        "shape is {s:?}, expected [{d}, n_labels] with 1..={MAX_LABELS} labels"
                    ),
                ));
            }
        };
        let labels_key = format!("{arch}.classifier.output_labels");
        match file.get(&labels_key) {
            None => {}
            Some(Value::Array(a)) if a.len() == n_labels => {}
            Some(Value::Array(a)) => {
                return Err(RuntimeError::metadata(
                    &labels_key,
                    format!(
                        "names {} labels but {CLS_OUTPUT} has {n_labels} rows",
                        a.len()
                    ),
                ));
            }
            Some(v) => {
                return Err(RuntimeError::metadata(
                    &labels_key,
                    format!(
                        "holds {}, expected an array of labels",
                        v.type_description()
                    ),
                ));
            }
        }
        let pooler = file.tensor(POOLER).is_some();
        if !pooler && file.tensor(POOLER_BIAS).is_some() {
            return Err(RuntimeError::tensor(
                POOLER_BIAS,
                format!("present without {POOLER}"),
            ));
        }
        Ok(HeadShape { pooler, n_labels })
    }
}

/// Binds the 1-D F32 tensor `name` of length `n` if the file has it.
fn optional_vector<'a>(file: &'a GgufFile, name: &str, n: usize) -> Result<Option<&'a [f32]>> {
    match file.tensor(name) {
        None => Ok(None),
        Some(_) => bind_vector(file, name, n).map(Some),
    }
}

impl<'a> Head<'a> {
    /// Binds the head of `shape` (read by [`HeadShape::read`] from the same file).
    pub(crate) fn bind(file: &'a GgufFile, d: usize, shape: HeadShape) -> Result<Head<'a>> {
        let pooler = if shape.pooler {
            Some((
                Matrix::bind(file, POOLER, d, d)?,
                optional_vector(file, POOLER_BIAS, d)?,
            ))
        } else {
            None
        };
        Ok(Head {
            pooler,
            output: Matrix::bind(file, CLS_OUTPUT, d, shape.n_labels)?,
            output_b: optional_vector(file, OUTPUT_BIAS, shape.n_labels)?,
        })
    }

    /// Scores per sequence.
    pub(crate) fn n_labels(&self) -> usize {
        self.output.n
    }

    /// Scores of every sequence into `out` (`seqs.len() × n_labels`), from the hidden states
    /// `x` (as wide as the head's input, the model's `n_embd`). Each sequence's scores depend on
    /// its own `[CLS]` row only.
    pub(crate) fn apply(
        &self,
        exec: &Exec<'_>,
        x: &[f32],
        seqs: &[Range<usize>],
        out: &mut [f32],
        s: &mut HeadScratch,
        matmul: &mut MatmulScratch,
    ) {
        // The output projection reads `n_embd` values (the pooler, when present, maps
        // `n_embd` to `n_embd`: `bind` checks both shapes).
        let (n, d) = (seqs.len(), self.output.k);
        let cls = grow(&mut s.cls, n * d);
        for (r, row) in seqs.iter().zip(cls.chunks_exact_mut(d)) {
            row.copy_from_slice(&x[r.start * d..(r.start + 1) * d]);
        }
        let input: &[f32] = match &self.pooler {
            Some((w, b)) => {
                let pooled = grow(&mut s.pooled, n * d);
                w.matmul(exec, cls, n, *b, pooled, matmul);
                for v in pooled.iter_mut() {
                    *v = v.tanh();
                }
                pooled
            }
            None => cls,
        };
        self.output
            .matmul(exec, input, n, self.output_b, out, matmul);
    }
}
