//! nomic-bert encoders (nomic-embed-text) as llama.cpp's converter writes them
//! (`general.architecture = "nomic-bert"`): a BERT with rotary position embeddings, SwiGLU and
//! no biases but the LayerNorms'.
//!
//! Per token: the token row plus token type 0's row (when the file has `token_types.weight`),
//! then LayerNorm (`token_embd_norm`). Per layer (post-norm, as BERT):
//!
//! ```text
//! q, k, v = x·Wqkv                  fused attn_qkv (or attn_q / attn_k / attn_v), cut by rows
//! q, k = RoPE                       NeoX layout, base rope.freq_base, positions from 0 per text
//! a = softmax(q·kᵀ/√head_dim)·v     per sequence, bidirectional
//! x = LayerNorm(x + a·Wo)           attn_output_norm
//! x = LayerNorm(x + (silu(x·Wg) ⊙ x·Wu)·Wd)    ffn_gate, ffn_up, ffn_down; layer_output_norm
//! ```
//!
//! then pooling per sequence (mean over all tokens, `[CLS]`/`[SEP]` included). Biases that
//! llama.cpp allows (`attn_qkv`/`attn_q`/… `.bias`, `attn_output.bias`, `ffn_up.bias`,
//! `ffn_down.bias`) are used when present. Every tensor and hyper-parameter is checked at
//! [`NomicBertModel::read`] and [`NomicBertModel::bind`], before any buffer is sized from them.
//!
//! Sequences are packed as in [`crate::bert`]: one matmul per weight over all tokens, attention
//! per sequence, every row computed independently of the others, so a text's embedding is
//! bit-identical whatever it is batched with.

mod config;

use gguf_loader::GgufFile;

pub use config::{DEFAULT_ROPE_BASE, NomicBertConfig};

use crate::batch::{BatchLimits, CheckedBatch};
use crate::error::Result;
use crate::exec::Exec;
use crate::graph::{check_run, grow, pool_rows};
use crate::pooling::Pooling;
use crate::profile::{self, Op};
use crate::rope_tables::RopeTables;
use crate::rotary_attention::{AttentionScratch, Heads, QkvWeights, project_output};
use crate::weights::{MatmulScratch, Matrix, bind_opt_vector, bind_qkv, bind_vector, table_rows};

/// The task prefixes nomic-embed-text requires (its model card), as `(name, prompt)` presets:
/// `query`, `document`, `classification`, `clustering`, and `search_query` / `search_document`,
/// the first two under nomic's own names.
pub const PROMPT_PRESETS: &[(&str, &str)] = &[
    ("query", "search_query: "),
    ("document", "search_document: "),
    ("classification", "classification: "),
    ("clustering", "clustering: "),
    ("search_query", "search_query: "),
    ("search_document", "search_document: "),
];

/// A validated nomic-bert model: its hyper-parameters and the sizes its tensors were checked
/// against.
#[derive(Clone, Debug)]
pub struct NomicBertModel {
    /// Hyper-parameters.
    pub config: NomicBertConfig,
    /// Rows of `token_embd.weight`.
    pub n_vocab: usize,
    /// Rows of `token_types.weight` (0 when the file has none).
    pub n_types: usize,
}

/// One block's weights.
#[derive(Debug)]
struct Layer<'a> {
    q: Matrix<'a>,
    k: Matrix<'a>,
    v: Matrix<'a>,
    q_b: Option<&'a [f32]>,
    k_b: Option<&'a [f32]>,
    v_b: Option<&'a [f32]>,
    o: Matrix<'a>,
    o_b: Option<&'a [f32]>,
    attn_norm_w: &'a [f32],
    attn_norm_b: &'a [f32],
    gate: Matrix<'a>,
    up: Matrix<'a>,
    up_b: Option<&'a [f32]>,
    down: Matrix<'a>,
    down_b: Option<&'a [f32]>,
    out_norm_w: &'a [f32],
    out_norm_b: &'a [f32],
}

/// All weights of a [`NomicBertModel`], bound to the mapped file. Cheap to create (no copies).
#[derive(Debug)]
pub struct NomicBertWeights<'a> {
    config: NomicBertConfig,
    n_vocab: usize,
    tok_embd: Matrix<'a>,
    type_embd: Option<Matrix<'a>>,
    embd_norm_w: &'a [f32],
    embd_norm_b: &'a [f32],
    layers: Vec<Layer<'a>>,
}

/// Reusable buffers for [`NomicBertWeights::forward`]; grows to the largest batch seen (and the
/// longest sequence, for the RoPE tables), then stops allocating.
#[derive(Debug, Default)]
pub struct NomicBertScratch {
    x: Vec<f32>,
    tmp: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
    type_row: Vec<f32>,
    attention: AttentionScratch,
    rope: RopeTables<1>,
    matmul: MatmulScratch,
}

impl NomicBertModel {
    /// Reads and validates the hyper-parameters and the embeddings' shapes, leaving the other
    /// tensors' checks to [`NomicBertModel::bind`] (the registry binds once, there).
    pub fn read(file: &GgufFile, arch: &str) -> Result<NomicBertModel> {
        let config = NomicBertConfig::from_gguf(file, arch)?;
        let n_vocab = table_rows(file, "token_embd.weight", config.n_embd, "n_vocab")?;
        let n_types = match file.tensor("token_types.weight") {
            None => 0,
            Some(_) => table_rows(file, "token_types.weight", config.n_embd, "n_types")?,
        };
        Ok(NomicBertModel {
            config,
            n_vocab,
            n_types,
        })
    }

    /// Context length: the longest sequence [`NomicBertWeights::forward`] accepts.
    pub fn n_ctx(&self) -> usize {
        self.config.n_ctx
    }

    /// The pooling the file asks for (mean for nomic-embed-text).
    pub fn pooling(&self) -> Pooling {
        self.config.pooling
    }

    /// Activation bytes per token of a forward pass (for the scheduler's token budget): the
    /// hidden state and residual (two `width` buffers), Q, K, V and the attention output, the
    /// FFN's gate, up and product (`ff_width` each), the int8 activations of the widest input
    /// and the pooled output row.
    pub fn bytes_per_token(&self) -> usize {
        let c = &self.config;
        let widest = c.n_ff.max(c.q_width()).max(c.n_embd);
        4 * (3 * c.n_embd + 2 * c.q_width() + 2 * c.kv_width() + 3 * c.n_ff)
            + (9 * widest).div_ceil(4)
    }

    /// Binds the weights in `file` (the file this model was loaded from).
    pub fn bind<'a>(&self, file: &'a GgufFile) -> Result<NomicBertWeights<'a>> {
        let c = &self.config;
        let (d, f) = (c.n_embd, c.n_ff);
        let (qw, kvw) = (c.q_width(), c.kv_width());
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let name = |n: &str| format!("blk.{i}.{n}");
            let m = |n: &str, k: usize, rows: usize| Matrix::bind(file, &name(n), k, rows);
            let v = |n: &str, len: usize| bind_vector(file, &name(n), len);
            let b = |n: &str, len: usize| bind_opt_vector(file, &name(n), len);
            let ([q, k, vv], [q_b, k_b, v_b]) = bind_qkv(file, i, d, qw, kvw)?;
            layers.push(Layer {
                q,
                k,
                v: vv,
                q_b,
                k_b,
                v_b,
                o: m("attn_output.weight", qw, d)?,
                o_b: b("attn_output.bias", d)?,
                attn_norm_w: v("attn_output_norm.weight", d)?,
                attn_norm_b: v("attn_output_norm.bias", d)?,
                gate: m("ffn_gate.weight", d, f)?,
                up: m("ffn_up.weight", d, f)?,
                up_b: b("ffn_up.bias", f)?,
                down: m("ffn_down.weight", f, d)?,
                down_b: b("ffn_down.bias", d)?,
                out_norm_w: v("layer_output_norm.weight", d)?,
                out_norm_b: v("layer_output_norm.bias", d)?,
            });
        }
        let type_embd = match self.n_types {
            0 => None,
            n => Some(Matrix::bind(file, "token_types.weight", d, n)?),
        };
        Ok(NomicBertWeights {
            config: c.clone(),
            n_vocab: self.n_vocab,
            tok_embd: Matrix::bind(file, "token_embd.weight", d, self.n_vocab)?,
            type_embd,
            embd_norm_w: bind_vector(file, "token_embd_norm.weight", d)?,
            embd_norm_b: bind_vector(file, "token_embd_norm.bias", d)?,
            layers,
        })
    }
}

crate::architecture!(NomicBertModel {
    weights: NomicBertWeights,
    scratch: NomicBertScratch,
    bytes_per_token: NomicBertModel::bytes_per_token,
    read: NomicBertModel::read,
    prompt_presets: PROMPT_PRESETS,
});

impl NomicBertWeights<'_> {
    /// Hyper-parameters.
    pub fn config(&self) -> &NomicBertConfig {
        &self.config
    }

    /// Width of each output row: `n_embd`, for pooled vectors and per token alike.
    pub fn out_dim(&self, _pooling: Pooling) -> usize {
        self.config.n_embd
    }

    /// Runs the encoder on a checked packed batch and pools each sequence into `out` (`batch.len()
    /// × n_embd`; with [`Pooling::None`], every token's vector: `batch.tokens() × n_embd`).
    ///
    /// The batch was checked once, against [`NomicBertWeights::limits`] or tighter ones (a batch
    /// checked for looser limits, or an `out` of the wrong size, is refused); no id is read twice.
    /// Vectors are not normalized.
    pub fn forward(
        &self,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        out: &mut [f32],
        s: &mut NomicBertScratch,
    ) -> Result<()> {
        let c = &self.config;
        let kernels = exec.kernels;
        let (d, t, seqs) = (c.n_embd, batch.tokens(), batch.seqs());
        check_run(batch, &self.limits(), pooling, out, (c.n_embd, c.n_embd))?;
        if t == 0 {
            return Ok(());
        }
        let longest = seqs.iter().map(|r| r.len()).max().unwrap_or(0);
        s.rope.ensure(c.head_dim, [c.rope_base], longest);

        // Embeddings: token + token type 0, then LayerNorm.
        let embed_timer = profile::scope(Op::Embed);
        let x = grow(&mut s.x, t * d);
        let type_row = match &self.type_embd {
            Some(m) => {
                let row = grow(&mut s.type_row, d);
                m.row_into(kernels, 0, row);
                Some(&*row)
            }
            None => None,
        };
        for (id, row) in batch.ids().zip(x.chunks_exact_mut(d)) {
            self.tok_embd.row_into(kernels, id as usize, row);
            if let Some(tr) = type_row {
                kernels.residual_add(row, tr);
            }
        }
        drop(embed_timer);
        {
            let _t = profile::scope(Op::Norm);
            kernels.layer_norm(x, d, self.embd_norm_w, Some(self.embd_norm_b), c.eps);
        }

        let tmp = grow(&mut s.tmp, t * d);
        let gate = grow(&mut s.gate, t * c.n_ff);
        let up = grow(&mut s.up, t * c.n_ff);
        let act = grow(&mut s.act, t * c.n_ff);
        let (t64, d64, ff) = (t as u64, d as u64, c.n_ff as u64);
        let heads = Heads {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
            causal: c.causal,
            window: None,
            rope: s.rope.get(0),
        };
        for l in &self.layers {
            let qkv = QkvWeights {
                q: (&l.q, l.q_b),
                k: (&l.k, l.k_b),
                v: (&l.v, l.v_b),
                qk_norm: None,
            };
            let ctx = s
                .attention
                .attend(exec, &heads, &qkv, x, seqs, &mut s.matmul);
            project_output(exec, (&l.o, l.o_b), ctx, t, tmp, &mut s.matmul);
            {
                let _t = profile::scope(Op::Norm);
                kernels.add_layer_norm(x, tmp, d, l.attn_norm_w, Some(l.attn_norm_b), c.eps);
            }
            // Feed-forward block (SwiGLU): gate and up share one quantized input.
            let up_timer = profile::scope_ops(Op::FfnUp, 2 * t64 * d64 * 2 * ff);
            Matrix::matmul_shared_input(
                exec,
                x,
                t,
                [(&l.gate, None, &mut *gate), (&l.up, l.up_b, &mut *up)],
                &mut s.matmul,
            );
            drop(up_timer);
            {
                let _t = profile::scope(Op::Activation);
                kernels.swiglu(gate, up, act);
            }
            {
                let _t = profile::scope_ops(Op::FfnDown, 2 * t64 * ff * d64);
                l.down.matmul(exec, act, t, l.down_b, tmp, &mut s.matmul);
            }
            {
                let _t = profile::scope(Op::Norm);
                kernels.add_layer_norm(x, tmp, d, l.out_norm_w, Some(l.out_norm_b), c.eps);
            }
        }

        let _t = profile::scope(Op::Pooling);
        if pooling == Pooling::None {
            out.copy_from_slice(x);
            return Ok(());
        }
        pool_rows(kernels, x, d, seqs, pooling, out);
        Ok(())
    }

    /// What a batch must be checked against ([`Batch::check`](crate::Batch::check)) to run
    /// here: the context length and the vocabulary (token types are not read).
    pub fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_len: self.config.n_ctx,
            n_vocab: self.n_vocab,
            n_types: None,
        }
    }
}
