//! Test fixtures shared by the workspace's test suites (not published): a tiny BERT GGUF
//! written with the project's own writer in llama.cpp's layout ([`TinyBert`]), for tests that
//! must run without the shared models, and a tiny Hugging Face BERT directory ([`hf`]) for the
//! converter's, benchmark models at real shapes ([`bench_model`]), and tiny valid models of
//! every architecture for the fuzz targets' seeds ([`tiny_arch`]).

pub mod bench_model;
pub mod hf;
pub mod tiny_arch;

use std::path::{Path, PathBuf};

use gguf_loader::{Array, GgmlType, GgufWriter, Value};

/// Shape and knobs of the generated model.
#[derive(Clone)]
pub struct TinyBert {
    /// Hidden width.
    pub n_embd: usize,
    /// Encoder blocks.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// FFN width.
    pub n_ff: usize,
    /// Context length (rows of the position embeddings).
    pub n_ctx: usize,
    /// Storage type of the matrices (F32, F16 or Q8_0).
    pub matrix_type: GgmlType,
    /// Metadata overrides: (key, value); a `None` value removes the key.
    pub overrides: Vec<(String, Option<Value>)>,
    /// Tensors to leave out.
    pub drop_tensors: Vec<String>,
    /// Tensors whose shape to replace.
    pub reshape: Vec<(String, Vec<u64>)>,
    /// A cross-encoder's classification head, written as llama.cpp's converter writes a
    /// `BertForSequenceClassification` (no `bert.pooling_type`; `bert.classifier.output_labels`).
    pub classifier: Option<Classifier>,
}

/// The classification head of a tiny cross-encoder.
#[derive(Clone, Copy, Debug)]
pub struct Classifier {
    /// Whether BERT's pooler is kept (`cls.weight`, `cls.bias`).
    pub pooler: bool,
    /// Rows of `cls.output.weight`.
    pub n_labels: usize,
}

impl Default for TinyBert {
    fn default() -> Self {
        TinyBert {
            n_embd: 64,
            n_layer: 2,
            n_head: 4,
            n_ff: 128,
            n_ctx: 48,
            matrix_type: GgmlType::F32,
            overrides: Vec::new(),
            drop_tensors: Vec::new(),
            reshape: Vec::new(),
            classifier: None,
        }
    }
}

/// The vocabulary: specials, then word-initial pieces (`▁x`) and continuations.
pub const WORDS: &[&str] = &[
    "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "fast", "slow", "and", "is", "red",
    "blue", "hello", "world", "embed", "text", "model", "test", ".", ",", "!", "?",
];

fn vocab() -> (Vec<String>, Vec<i32>) {
    let mut tokens: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut types = vec![3; 5];
    for w in WORDS {
        tokens.push(format!("\u{2581}{w}"));
        types.push(1);
    }
    for piece in ["s", "ing", "ed", "er", "x", "y", "z"] {
        tokens.push(piece.to_string());
        types.push(1);
    }
    (tokens, types)
}

/// Deterministic pseudo-random values in [-scale, scale).
fn values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn matrix_bytes(ty: GgmlType, v: &[f32]) -> Vec<u8> {
    match ty {
        GgmlType::F32 => f32_bytes(v),
        GgmlType::F16 => v
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect(),
        GgmlType::Q8_0 => {
            let mut blocks = vec![ggufembed_kernels::BlockQ8_0::default(); v.len() / 32];
            ggufembed_kernels::quantize_row_q8_0(v, &mut blocks);
            bytemuck::cast_slice(&blocks).to_vec()
        }
        other => panic!("unsupported test type {other}"),
    }
}

impl TinyBert {
    /// Writes the model into `dir` and returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.to_bytes()).unwrap();
        path
    }

    /// The model file's bytes (what [`TinyBert::write`] writes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let (d, f) = (self.n_embd as u64, self.n_ff as u64);
        let (tokens, types) = vocab();
        let n_vocab = tokens.len() as u64;
        let mut meta: Vec<(String, Value)> = vec![
            ("general.architecture".into(), "bert".into()),
            ("bert.block_count".into(), Value::U32(self.n_layer as u32)),
            ("bert.context_length".into(), Value::U32(self.n_ctx as u32)),
            (
                "bert.embedding_length".into(),
                Value::U32(self.n_embd as u32),
            ),
            (
                "bert.feed_forward_length".into(),
                Value::U32(self.n_ff as u32),
            ),
            (
                "bert.attention.head_count".into(),
                Value::U32(self.n_head as u32),
            ),
            (
                "bert.attention.layer_norm_epsilon".into(),
                Value::F32(1e-12),
            ),
            ("bert.attention.causal".into(), Value::Bool(false)),
            ("bert.pooling_type".into(), Value::U32(1)),
            ("tokenizer.ggml.model".into(), "bert".into()),
            (
                "tokenizer.ggml.tokens".into(),
                Value::Array(Array::String(tokens)),
            ),
            (
                "tokenizer.ggml.token_type".into(),
                Value::Array(Array::I32(types)),
            ),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(2)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(3)),
            ("tokenizer.ggml.unknown_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.seperator_token_id".into(), Value::U32(3)),
            ("tokenizer.ggml.padding_token_id".into(), Value::U32(0)),
            ("tokenizer.ggml.mask_token_id".into(), Value::U32(4)),
            (
                "tokenizer.ggml.normalizer.lowercase".into(),
                Value::Bool(true),
            ),
        ];
        if let Some(c) = self.classifier {
            meta.retain(|(k, _)| k != "bert.pooling_type");
            let labels = (0..c.n_labels).map(|i| format!("LABEL_{i}")).collect();
            meta.push((
                "bert.classifier.output_labels".into(),
                Value::Array(Array::String(labels)),
            ));
        }
        for (k, v) in &self.overrides {
            meta.retain(|(mk, _)| mk != k);
            if let Some(v) = v {
                meta.push((k.clone(), v.clone()));
            }
        }
        let mut w = GgufWriter::new();
        for (k, v) in meta {
            w.add_metadata(k, v).unwrap();
        }
        let mut seed = 1u64;
        let mut add = |w: &mut GgufWriter<'_>,
                       name: &str,
                       shape: Vec<u64>,
                       matrix: bool,
                       scale: f32,
                       offset: f32| {
            seed += 1;
            if self.drop_tensors.iter().any(|t| t == name) {
                return;
            }
            let shape = self
                .reshape
                .iter()
                .find(|(t, _)| t == name)
                .map_or(shape, |(_, s)| s.clone());
            let n: u64 = shape.iter().product();
            let v: Vec<f32> = values(seed, n as usize, scale)
                .into_iter()
                .map(|x| x + offset)
                .collect();
            let (ty, bytes) = if matrix && shape[0] % 32 == 0 {
                (self.matrix_type, matrix_bytes(self.matrix_type, &v))
            } else {
                (GgmlType::F32, f32_bytes(&v))
            };
            w.add_tensor(name, ty, &shape, bytes).unwrap();
        };
        add(&mut w, "token_embd_norm.bias", vec![d], false, 0.1, 0.0);
        add(&mut w, "token_embd_norm.weight", vec![d], false, 0.1, 1.0);
        add(
            &mut w,
            "position_embd.weight",
            vec![d, self.n_ctx as u64],
            false,
            0.5,
            0.0,
        );
        add(&mut w, "token_types.weight", vec![d, 2], false, 0.5, 0.0);
        add(
            &mut w,
            "token_embd.weight",
            vec![d, n_vocab],
            true,
            1.0,
            0.0,
        );
        for i in 0..self.n_layer {
            let b = |s: &str| format!("blk.{i}.{s}");
            for (name, k, n) in [
                ("attn_q", d, d),
                ("attn_k", d, d),
                ("attn_v", d, d),
                ("attn_output", d, d),
                ("ffn_up", d, f),
                ("ffn_down", f, d),
            ] {
                add(
                    &mut w,
                    &b(&format!("{name}.weight")),
                    vec![k, n],
                    true,
                    0.3,
                    0.0,
                );
                add(
                    &mut w,
                    &b(&format!("{name}.bias")),
                    vec![n],
                    false,
                    0.1,
                    0.0,
                );
            }
            for norm in ["attn_output_norm", "layer_output_norm"] {
                add(
                    &mut w,
                    &b(&format!("{norm}.weight")),
                    vec![d],
                    false,
                    0.1,
                    1.0,
                );
                add(
                    &mut w,
                    &b(&format!("{norm}.bias")),
                    vec![d],
                    false,
                    0.1,
                    0.0,
                );
            }
        }
        if let Some(c) = self.classifier {
            if c.pooler {
                add(&mut w, "cls.weight", vec![d, d], true, 0.3, 0.0);
                add(&mut w, "cls.bias", vec![d], false, 0.1, 0.0);
            }
            let n = c.n_labels as u64;
            add(&mut w, "cls.output.weight", vec![d, n], true, 0.3, 0.0);
            add(&mut w, "cls.output.bias", vec![n], false, 0.1, 0.0);
        }
        w.to_bytes()
    }
}
