//! Qwen3 as llama.cpp's converter writes it (`general.architecture = "qwen3"`), used as an
//! embedding model (Qwen3-Embedding): a causal decoder whose last token's final hidden state is
//! the sentence vector.
//!
//! Per token: the embedding row; per layer (pre-norm, RMSNorm everywhere):
//!
//! ```text
//! h = RMSNorm(x)                    attn_norm
//! q, k, v = h·Wq, h·Wk, h·Wv        grouped-query: n_head query heads share n_head_kv K/V heads
//! q, k = RMSNorm per head, RoPE     attn_q_norm / attn_k_norm; NeoX layout; rope.freq_base
//! a = softmax(q·kᵀ/√head_dim)·v     causal: token i sees tokens 0..=i of its own sequence
//! x += a·Wo                         attn_output
//! h = RMSNorm(x)                    ffn_norm
//! x += (silu(h·Wg) ⊙ h·Wu)·Wd       SwiGLU
//! ```
//!
//! then `output_norm` and pooling per sequence (the last token for Qwen3-Embedding, whose
//! tokenizer appends `<|endoftext|>` to every input: that token is the one pooled). The caller
//! L2-normalizes. Every tensor and hyper-parameter is checked at [`Qwen3Model::read`] and [`Qwen3Model::bind`], before any
//! buffer is sized from them; the language-model head (`output.weight`), if present, is unused.
//!
//! Sequences are packed as in [`crate::bert`]: one matmul per weight over all tokens, attention
//! per sequence, every row computed independently of the others, so a text's embedding is
//! bit-identical whatever it is batched with. With causal attention a token never sees a later
//! one, so nothing that follows a text (another text, or none) can change it.

mod config;

use gguf_loader::GgufFile;

pub use config::Qwen3Config;

use crate::batch::{BatchLimits, CheckedBatch};
use crate::error::Result;
use crate::exec::Exec;
use crate::graph::{check_run, grow, pool_rows};
use crate::pooling::Pooling;
use crate::profile::{self, Op};
use crate::rope_tables::RopeTables;
use crate::rotary_attention::{AttentionScratch, Heads, QkvWeights, project_output};
use crate::weights::{MatmulScratch, Matrix, bind_vector, table_rows};

/// Qwen3-Embedding's prompt presets, from its sentence-transformers configuration: `query` is
/// the instruction `Instruct: {task}\nQuery:` with its default task (web search); `document` is
/// none (documents are embedded as they are). Another task is given as the prompt itself,
/// `Instruct: <one sentence describing the task>\nQuery:` (no space after the colon).
pub const PROMPT_PRESETS: &[(&str, &str)] = &[
    (
        "query",
        "Instruct: Given a web search query, retrieve relevant passages that answer the \
         query\nQuery:",
    ),
    ("document", ""),
];

/// A validated Qwen3 model: its hyper-parameters and the vocabulary size its tensors were
/// checked against.
#[derive(Clone, Debug)]
pub struct Qwen3Model {
    /// Hyper-parameters.
    pub config: Qwen3Config,
    /// Rows of `token_embd.weight`.
    pub n_vocab: usize,
}

/// One block's weights.
#[derive(Debug)]
struct Layer<'a> {
    attn_norm: &'a [f32],
    q: Matrix<'a>,
    k: Matrix<'a>,
    v: Matrix<'a>,
    q_norm: &'a [f32],
    k_norm: &'a [f32],
    o: Matrix<'a>,
    ffn_norm: &'a [f32],
    gate: Matrix<'a>,
    up: Matrix<'a>,
    down: Matrix<'a>,
}

/// All weights of a [`Qwen3Model`], bound to the mapped file. Cheap to create (no copies).
#[derive(Debug)]
pub struct Qwen3Weights<'a> {
    config: Qwen3Config,
    n_vocab: usize,
    tok_embd: Matrix<'a>,
    layers: Vec<Layer<'a>>,
    output_norm: &'a [f32],
}

/// Reusable buffers for [`Qwen3Weights::forward`]; grows to the largest batch seen (and the
/// longest sequence, for the RoPE tables), then stops allocating.
#[derive(Debug, Default)]
pub struct Qwen3Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
    attention: AttentionScratch,
    rope: RopeTables<1>,
    matmul: MatmulScratch,
}

impl Qwen3Model {
    /// Reads and validates the hyper-parameters and the token embedding's shape, leaving the
    /// other tensors' checks to [`Qwen3Model::bind`] (the registry binds once, here).
    pub fn read(file: &GgufFile, arch: &str) -> Result<Qwen3Model> {
        let config = Qwen3Config::from_gguf(file, arch)?;
        let n_vocab = table_rows(file, "token_embd.weight", config.n_embd, "n_vocab")?;
        Ok(Qwen3Model { config, n_vocab })
    }

    /// Width of the output vectors (`n_embd`).
    pub fn dim(&self) -> usize {
        self.config.n_embd
    }

    /// Context length: the longest sequence [`Qwen3Weights::forward`] accepts.
    pub fn n_ctx(&self) -> usize {
        self.config.n_ctx
    }

    /// The pooling the file asks for (last token for Qwen3-Embedding).
    pub fn pooling(&self) -> Pooling {
        self.config.pooling
    }

    /// Activation bytes per token of a forward pass, for sizing micro-batches from a memory
    /// budget: the hidden state and its normalized copy, Q and the attention output, K and V,
    /// gate, up and their SwiGLU product, the int8 activations of the widest matmul input, and
    /// the output row.
    pub fn bytes_per_token(&self) -> usize {
        let c = &self.config;
        let widest = c.n_ff.max(c.q_width()).max(c.n_embd);
        4 * (3 * c.n_embd + 2 * c.q_width() + 2 * c.kv_width() + 3 * c.n_ff)
            + (9 * widest).div_ceil(4)
    }

    /// Binds the weights in `file` (the file this model was loaded from).
    pub fn bind<'a>(&self, file: &'a GgufFile) -> Result<Qwen3Weights<'a>> {
        let c = &self.config;
        let (d, f, hd) = (c.n_embd, c.n_ff, c.head_dim);
        let (qw, kvw) = (c.q_width(), c.kv_width());
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let m = |name: &str, k: usize, n: usize| {
                Matrix::bind(file, &format!("blk.{i}.{name}.weight"), k, n)
            };
            let v = |name: &str, n: usize| bind_vector(file, &format!("blk.{i}.{name}.weight"), n);
            layers.push(Layer {
                attn_norm: v("attn_norm", d)?,
                q: m("attn_q", d, qw)?,
                k: m("attn_k", d, kvw)?,
                v: m("attn_v", d, kvw)?,
                q_norm: v("attn_q_norm", hd)?,
                k_norm: v("attn_k_norm", hd)?,
                o: m("attn_output", qw, d)?,
                ffn_norm: v("ffn_norm", d)?,
                gate: m("ffn_gate", d, f)?,
                up: m("ffn_up", d, f)?,
                down: m("ffn_down", f, d)?,
            });
        }
        Ok(Qwen3Weights {
            config: c.clone(),
            n_vocab: self.n_vocab,
            tok_embd: Matrix::bind(file, "token_embd.weight", d, self.n_vocab)?,
            layers,
            output_norm: bind_vector(file, "output_norm.weight", d)?,
        })
    }
}

crate::architecture!(Qwen3Model {
    weights: Qwen3Weights,
    scratch: Qwen3Scratch,
    bytes_per_token: Qwen3Model::bytes_per_token,
    read: Qwen3Model::read,
    prompt_presets: PROMPT_PRESETS,
});

impl Qwen3Weights<'_> {
    /// Hyper-parameters.
    pub fn config(&self) -> &Qwen3Config {
        &self.config
    }

    /// Width of each output row for `pooling`: `n_embd`, pooled or per token.
    pub fn out_dim(&self, _pooling: Pooling) -> usize {
        self.config.n_embd
    }

    /// Runs the decoder on a checked packed batch and pools each sequence into `out` (`batch.len()
    /// × n_embd`); with [`Pooling::None`], every token's final hidden state (`batch.tokens() ×
    /// n_embd`). See [`Qwen3Weights::out_dim`].
    ///
    /// The batch was checked once, against [`Qwen3Weights::limits`] or tighter ones (a batch
    /// checked for looser limits, or an `out` of the wrong size, is refused); no id is read twice.
    /// Attention is causal within each sequence (positions restart at 0 for each). Vectors are not
    /// normalized.
    pub fn forward(
        &self,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        out: &mut [f32],
        s: &mut Qwen3Scratch,
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

        let embed_timer = profile::scope(Op::Embed);
        let x = grow(&mut s.x, t * d);
        for (id, row) in batch.ids().zip(x.chunks_exact_mut(d)) {
            self.tok_embd.row_into(kernels, id as usize, row);
        }
        drop(embed_timer);

        let (d64, ff) = (d as u64, c.n_ff as u64);
        let h = grow(&mut s.h, t * d);
        let gate = grow(&mut s.gate, t * c.n_ff);
        let up = grow(&mut s.up, t * c.n_ff);
        let act = grow(&mut s.act, t * c.n_ff);
        let heads = Heads {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
            causal: true,
            window: None,
            rope: s.rope.get(0),
        };
        // Last and CLS pooling read one row per sequence (see the last layer below).
        let prune = matches!(pooling, Pooling::Last | Pooling::Cls);
        for (il, l) in self.layers.iter().enumerate() {
            // Attention block.
            let norm_timer = profile::scope(Op::Norm);
            h.copy_from_slice(x);
            kernels.rms_norm(h, d, l.attn_norm, c.eps);
            drop(norm_timer);
            let qkv = QkvWeights {
                q: (&l.q, None),
                k: (&l.k, None),
                v: (&l.v, None),
                qk_norm: Some((l.q_norm, l.k_norm, c.eps)),
            };
            let ctx = s
                .attention
                .attend(exec, &heads, &qkv, h, seqs, &mut s.matmul);
            // After the last attention, a pooled-only output needs one row per sequence: the
            // rest of the layer runs on those rows alone (every kernel computes a row
            // independently of the others, so they come out as they would among all `t`).
            let m = if il + 1 == self.layers.len() && prune {
                for (i, r) in seqs.iter().enumerate() {
                    // Row `p ≥ i` (sequences are ordered and non-empty): moving rows to the
                    // front in order never overwrites a row still to be moved.
                    let p = if pooling == Pooling::Cls {
                        r.start
                    } else {
                        r.end - 1
                    };
                    ctx.copy_within(p * c.q_width()..(p + 1) * c.q_width(), i * c.q_width());
                    x.copy_within(p * d..(p + 1) * d, i * d);
                }
                seqs.len()
            } else {
                t
            };
            let m64 = m as u64;
            let (x, h) = (&mut x[..m * d], &mut h[..m * d]);
            let (gate, up, act) = (
                &mut gate[..m * c.n_ff],
                &mut up[..m * c.n_ff],
                &mut act[..m * c.n_ff],
            );
            project_output(exec, (&l.o, None), ctx, m, h, &mut s.matmul);
            let norm_timer = profile::scope(Op::Norm);
            kernels.residual_add(x, h);

            // Feed-forward block (SwiGLU).
            h.copy_from_slice(x);
            kernels.rms_norm(h, d, l.ffn_norm, c.eps);
            drop(norm_timer);
            // Gate and up share one quantized input: timed together as FfnUp.
            let up_timer = profile::scope_ops(Op::FfnUp, 2 * m64 * d64 * 2 * ff);
            Matrix::matmul_shared_input(
                exec,
                h,
                m,
                [(&l.gate, None, &mut *gate), (&l.up, None, &mut *up)],
                &mut s.matmul,
            );
            drop(up_timer);
            let act_timer = profile::scope(Op::Activation);
            kernels.swiglu(gate, up, act);
            drop(act_timer);
            {
                let _t = profile::scope_ops(Op::FfnDown, 2 * m64 * ff * d64);
                l.down.matmul(exec, act, m, None, h, &mut s.matmul);
            }
            kernels.residual_add(x, h);
        }
        let _t = profile::scope(Op::Pooling);
        if prune {
            // `x` holds the pooled rows, one per sequence.
            let x = &mut x[..seqs.len() * d];
            kernels.rms_norm(x, d, self.output_norm, c.eps);
            out.copy_from_slice(x);
            return Ok(());
        }
        kernels.rms_norm(x, d, self.output_norm, c.eps);
        if pooling == Pooling::None {
            out.copy_from_slice(x);
        } else {
            pool_rows(kernels, x, d, seqs, pooling, out);
        }
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
