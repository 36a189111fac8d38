//! ModernBERT encoders as llama.cpp's converter writes them (`general.architecture =
//! "modern-bert"`): pre-norm blocks, bias-free LayerNorms and projections, RoPE with one base for
//! global layers and another for sliding-window ones, and a gated feed-forward.
//!
//! Per token: the token row, then LayerNorm (`token_embd_norm`, no bias). Per layer:
//!
//! ```text
//! h = LayerNorm(x)                  attn_norm (absent on layer 0 in ModernBERT: identity)
//! q, k, v = h·Wqkv                  fused attn_qkv (or attn_q / attn_k / attn_v), cut by rows
//! q, k = RoPE                       NeoX layout; rope.freq_base on global layers,
//!                                   rope.freq_base_swa on sliding ones; positions from 0 per text
//! a = softmax(q·kᵀ/√head_dim)·v     per sequence, bidirectional; sliding layers see
//!                                   |i − j| ≤ sliding_window / 2; layer il is global when
//!                                   il % sliding_window_pattern == 0 (0, 3, 6, …)
//! x += a·Wo
//! h = LayerNorm(x)                  ffn_norm
//! u = h·Wup                         2·n_ff outputs: [input | gate]
//! x += (gelu(u_input) ⊙ u_gate)·Wdown          exact GELU (or SiLU per hidden_activation)
//! ```
//!
//! then `output_norm` (LayerNorm, no bias) and pooling per sequence (mean over all tokens,
//! `[CLS]`/`[SEP]` included). Every tensor and hyper-parameter is checked at
//! [`ModernBertModel::read`] and [`ModernBertModel::bind`], before any buffer is sized from them.
//!
//! Sequences are packed as in [`crate::bert`]: one matmul per weight over all tokens, attention
//! per sequence, every row computed independently of the others, so a text's embedding is
//! bit-identical whatever it is batched with.

mod config;

use gguf_loader::GgufFile;

pub use config::{DEFAULT_ROPE_BASE, DEFAULT_SWA_PATTERN, GatedActivation, ModernBertConfig};

use crate::batch::{BatchLimits, CheckedBatch};
use crate::error::{Result, RuntimeError};
use crate::exec::Exec;
use crate::graph::{check_run, grow, pool_rows};
use crate::pooling::Pooling;
use crate::profile::{self, Op};
use crate::rope_tables::RopeTables;
use crate::rotary_attention::{AttentionScratch, Heads, QkvWeights, project_output};
use crate::weights::{MatmulScratch, Matrix, bind_opt_vector, bind_qkv, bind_vector, table_rows};

/// A validated ModernBERT model: its hyper-parameters and the vocabulary size its tensors were
/// checked against.
#[derive(Clone, Debug)]
pub struct ModernBertModel {
    /// Hyper-parameters.
    pub config: ModernBertConfig,
    /// Rows of `token_embd.weight`.
    pub n_vocab: usize,
}

/// One block's weights.
#[derive(Debug)]
struct Layer<'a> {
    attn_norm: Option<&'a [f32]>,
    q: Matrix<'a>,
    k: Matrix<'a>,
    v: Matrix<'a>,
    o: Matrix<'a>,
    ffn_norm: &'a [f32],
    /// The activated half of `ffn_up` (its first `n_ff` rows).
    input: Matrix<'a>,
    /// The multiplying half of `ffn_up` (its last `n_ff` rows).
    gate: Matrix<'a>,
    down: Matrix<'a>,
}

/// All weights of a [`ModernBertModel`], bound to the mapped file. Cheap to create (no copies).
#[derive(Debug)]
pub struct ModernBertWeights<'a> {
    config: ModernBertConfig,
    n_vocab: usize,
    tok_embd: Matrix<'a>,
    embd_norm: &'a [f32],
    layers: Vec<Layer<'a>>,
    output_norm: &'a [f32],
}

/// Reusable buffers for [`ModernBertWeights::forward`]; grows to the largest batch seen (and the
/// longest sequence, for the RoPE tables), then stops allocating.
#[derive(Debug, Default)]
pub struct ModernBertScratch {
    x: Vec<f32>,
    h: Vec<f32>,
    input: Vec<f32>,
    gate: Vec<f32>,
    act: Vec<f32>,
    attention: AttentionScratch,
    /// `[global, sliding]` tables.
    rope: RopeTables<2>,
    matmul: MatmulScratch,
}

impl ModernBertModel {
    /// Reads and validates the hyper-parameters and the token embedding's shape, leaving the
    /// other tensors' checks to [`ModernBertModel::bind`] (the registry binds once, there).
    pub fn read(file: &GgufFile, arch: &str) -> Result<ModernBertModel> {
        let config = ModernBertConfig::from_gguf(file, arch)?;
        let n_vocab = table_rows(file, "token_embd.weight", config.n_embd, "n_vocab")?;
        Ok(ModernBertModel { config, n_vocab })
    }

    /// Context length: the longest sequence [`ModernBertWeights::forward`] accepts.
    pub fn n_ctx(&self) -> usize {
        self.config.n_ctx
    }

    /// The pooling the file asks for (mean for ModernBERT embedders).
    pub fn pooling(&self) -> Pooling {
        self.config.pooling
    }

    /// Activation bytes per token of a forward pass (for the scheduler's token budget): the
    /// hidden state and its normalized copy, Q, K, V and the attention output, the FFN's two
    /// halves and their product (`n_ff` each), the int8 activations of the widest input and
    /// the pooled output row.
    pub fn bytes_per_token(&self) -> usize {
        let c = &self.config;
        let widest = c.n_ff.max(c.q_width()).max(c.n_embd);
        4 * (3 * c.n_embd + 2 * c.q_width() + 2 * c.kv_width() + 3 * c.n_ff)
            + (9 * widest).div_ceil(4)
    }

    /// Binds the weights in `file` (the file this model was loaded from).
    pub fn bind<'a>(&self, file: &'a GgufFile) -> Result<ModernBertWeights<'a>> {
        let c = &self.config;
        let (d, f) = (c.n_embd, c.n_ff);
        let (qw, kvw) = (c.q_width(), c.kv_width());
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let name = |n: &str| format!("blk.{i}.{n}");
            let m = |n: &str, k: usize, rows: usize| Matrix::bind(file, &name(n), k, rows);
            // Only layer 0 may go without its attention norm (ModernBERT's is an identity).
            let attn_norm = match i {
                0 => bind_opt_vector(file, &name("attn_norm.weight"), d)?,
                _ => Some(bind_vector(file, &name("attn_norm.weight"), d)?),
            };
            let ([q, k, v], biases) = bind_qkv(file, i, d, qw, kvw)?;
            if biases.iter().any(Option::is_some) {
                let which = if file.tensor(&name("attn_qkv.bias")).is_some() {
                    "attn_qkv.bias"
                } else {
                    "attn_q.bias"
                };
                return Err(RuntimeError::tensor(
                    name(which),
                    "present, but modern-bert projections have no biases",
                ));
            }
            let up = m("ffn_up.weight", d, 2 * f)?;
            layers.push(Layer {
                attn_norm,
                q,
                k,
                v,
                o: m("attn_output.weight", qw, d)?,
                ffn_norm: bind_vector(file, &name("ffn_norm.weight"), d)?,
                input: up.rows(0..f),
                gate: up.rows(f..2 * f),
                down: m("ffn_down.weight", f, d)?,
            });
        }
        Ok(ModernBertWeights {
            config: c.clone(),
            n_vocab: self.n_vocab,
            tok_embd: Matrix::bind(file, "token_embd.weight", d, self.n_vocab)?,
            embd_norm: bind_vector(file, "token_embd_norm.weight", d)?,
            layers,
            output_norm: bind_vector(file, "output_norm.weight", d)?,
        })
    }
}

crate::architecture!(ModernBertModel {
    weights: ModernBertWeights,
    scratch: ModernBertScratch,
    bytes_per_token: ModernBertModel::bytes_per_token,
    read: ModernBertModel::read,
});

impl ModernBertWeights<'_> {
    /// Hyper-parameters.
    pub fn config(&self) -> &ModernBertConfig {
        &self.config
    }

    /// Width of each output row: `n_embd`, for pooled vectors and per token alike.
    pub fn out_dim(&self, _pooling: Pooling) -> usize {
        self.config.n_embd
    }

    /// Runs the encoder on a checked packed batch and pools each sequence into `out` (`batch.len()
    /// × n_embd`; with [`Pooling::None`], every token's final hidden state: `batch.tokens() ×
    /// n_embd`).
    ///
    /// The batch was checked once, against [`ModernBertWeights::limits`] or tighter ones (a batch
    /// checked for looser limits, or an `out` of the wrong size, is refused); no id is read twice.
    /// Vectors are not normalized.
    pub fn forward(
        &self,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        out: &mut [f32],
        s: &mut ModernBertScratch,
    ) -> Result<()> {
        let c = &self.config;
        let kernels = exec.kernels;
        let (d, t, seqs) = (c.n_embd, batch.tokens(), batch.seqs());
        check_run(batch, &self.limits(), pooling, out, (c.n_embd, c.n_embd))?;
        if t == 0 {
            return Ok(());
        }
        let longest = seqs.iter().map(|r| r.len()).max().unwrap_or(0);
        s.rope
            .ensure(c.head_dim, [c.rope_base, c.rope_base_swa], longest);

        // Embeddings, then LayerNorm (no bias).
        let embed_timer = profile::scope(Op::Embed);
        let x = grow(&mut s.x, t * d);
        for (id, row) in batch.ids().zip(x.chunks_exact_mut(d)) {
            self.tok_embd.row_into(kernels, id as usize, row);
        }
        drop(embed_timer);
        {
            let _t = profile::scope(Op::Norm);
            kernels.layer_norm(x, d, self.embd_norm, None, c.eps);
        }

        let h = grow(&mut s.h, t * d);
        let input = grow(&mut s.input, t * c.n_ff);
        let gate = grow(&mut s.gate, t * c.n_ff);
        let act = grow(&mut s.act, t * c.n_ff);
        let (t64, d64, ff) = (t as u64, d as u64, c.n_ff as u64);
        for (il, l) in self.layers.iter().enumerate() {
            // Attention block.
            let norm_timer = profile::scope(Op::Norm);
            h.copy_from_slice(x);
            if let Some(w) = l.attn_norm {
                kernels.layer_norm(h, d, w, None, c.eps);
            }
            drop(norm_timer);
            let heads = Heads {
                n_head: c.n_head,
                n_head_kv: c.n_head_kv,
                head_dim: c.head_dim,
                causal: c.causal,
                window: c.attention_window(il),
                rope: s.rope.get(if c.is_global(il) { 0 } else { 1 }),
            };
            let qkv = QkvWeights {
                q: (&l.q, None),
                k: (&l.k, None),
                v: (&l.v, None),
                qk_norm: None,
            };
            let ctx = s
                .attention
                .attend(exec, &heads, &qkv, h, seqs, &mut s.matmul);
            project_output(exec, (&l.o, None), ctx, t, h, &mut s.matmul);
            let norm_timer = profile::scope(Op::Norm);
            kernels.residual_add(x, h);

            // Feed-forward block: both halves of ffn_up share one quantized input.
            h.copy_from_slice(x);
            kernels.layer_norm(h, d, l.ffn_norm, None, c.eps);
            drop(norm_timer);
            let up_timer = profile::scope_ops(Op::FfnUp, 2 * t64 * d64 * 2 * ff);
            Matrix::matmul_shared_input(
                exec,
                h,
                t,
                [(&l.input, None, &mut *input), (&l.gate, None, &mut *gate)],
                &mut s.matmul,
            );
            drop(up_timer);
            {
                let _t = profile::scope(Op::Activation);
                match c.activation {
                    GatedActivation::GeGlu => kernels.geglu(input, gate, act),
                    GatedActivation::SwiGlu => kernels.swiglu(input, gate, act),
                }
            }
            {
                let _t = profile::scope_ops(Op::FfnDown, 2 * t64 * ff * d64);
                l.down.matmul(exec, act, t, None, h, &mut s.matmul);
            }
            kernels.residual_add(x, h);
        }
        {
            let _t = profile::scope(Op::Norm);
            kernels.layer_norm(x, d, self.output_norm, None, c.eps);
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
