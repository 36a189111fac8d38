//! EmbeddingGemma as llama.cpp's converter writes it (`general.architecture =
//! "gemma-embedding"`): a bidirectional Gemma 3 encoder, mean pooling, then two dense layers.
//!
//! Per token: the embedding row scaled by `√n_embd`; per layer (pre- and post-norm, RMSNorm
//! everywhere, the converter having folded Gemma's `1 + w` into the stored weights):
//!
//! ```text
//! h = RMSNorm(x)                    attn_norm
//! q, k, v = h·Wq, h·Wk, h·Wv        grouped-query: n_head query heads share n_head_kv K/V heads
//! q, k = RMSNorm per head, RoPE     attn_q_norm / attn_k_norm; NeoX layout; base rope.freq_base
//!                                   on global layers, rope.freq_base_swa on sliding ones
//! a = softmax(q·kᵀ/√head_dim)·v     bidirectional; sliding layers see |i − j| ≤ window/2;
//!                                   every 6th layer (5, 11, …) is global
//! x += RMSNorm(a·Wo)                post_attention_norm
//! h = RMSNorm(x)                    ffn_norm
//! x += RMSNorm((gelu_tanh(h·Wg) ⊙ h·Wu)·Wd)      post_ffw_norm
//! ```
//!
//! then `output_norm`, pooling per sequence (mean over all tokens, `<bos>`/`<eos>` included),
//! `dense_2`, `dense_3` (no bias, no activation). The caller L2-normalizes. Every tensor and
//! hyper-parameter is checked at [`GemmaModel::read`] and [`GemmaModel::bind`], before any buffer is sized from them.
//!
//! Sequences are packed as in [`crate::bert`]: one matmul per weight over all tokens, attention
//! per sequence, every row computed independently of the others, so a text's embedding is
//! bit-identical whatever it is batched with.

mod config;

use gguf_loader::GgufFile;

pub use config::{GemmaConfig, GemmaDense, SWA_PATTERN};

use crate::batch::{BatchLimits, CheckedBatch};
use crate::error::{Result, RuntimeError};
use crate::exec::Exec;
use crate::graph::{check_run, grow, pool_rows};
use crate::pooling::Pooling;
use crate::profile::{self, Op};
use crate::rope_tables::RopeTables;
use crate::rotary_attention::{AttentionScratch, Heads, QkvWeights, project_output};
use crate::weights::{MatmulScratch, Matrix, bind_vector, table_rows};

/// A validated EmbeddingGemma model: its hyper-parameters and the vocabulary size its tensors
/// were checked against.
#[derive(Clone, Debug)]
pub struct GemmaModel {
    /// Hyper-parameters.
    pub config: GemmaConfig,
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
    post_attn_norm: &'a [f32],
    ffn_norm: &'a [f32],
    gate: Matrix<'a>,
    up: Matrix<'a>,
    down: Matrix<'a>,
    post_ffn_norm: &'a [f32],
}

/// All weights of a [`GemmaModel`], bound to the mapped file. Cheap to create (no copies).
#[derive(Debug)]
pub struct GemmaWeights<'a> {
    config: GemmaConfig,
    n_vocab: usize,
    tok_embd: Matrix<'a>,
    layers: Vec<Layer<'a>>,
    output_norm: &'a [f32],
    dense: Option<[Matrix<'a>; 2]>,
}

/// Reusable buffers for [`GemmaWeights::forward`]; grows to the largest batch seen (and the
/// longest sequence, for the RoPE tables), then stops allocating.
#[derive(Debug, Default)]
pub struct GemmaScratch {
    x: Vec<f32>,
    h: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    pooled: Vec<f32>,
    dense: Vec<f32>,
    attention: AttentionScratch,
    /// `[global, sliding]` tables.
    rope: RopeTables<2>,
    matmul: MatmulScratch,
}

impl GemmaModel {
    /// Reads and validates the hyper-parameters and the token embedding's shape, leaving the
    /// other tensors' checks to [`GemmaModel::bind`] (the registry binds once, here).
    pub fn read(file: &GgufFile, arch: &str) -> Result<GemmaModel> {
        let config = GemmaConfig::from_gguf(file, arch)?;
        let n_vocab = table_rows(file, "token_embd.weight", config.n_embd, "n_vocab")?;
        if config.dense.is_none() {
            for name in ["dense_2.weight", "dense_3.weight"] {
                if file.tensor(name).is_some() {
                    return Err(RuntimeError::tensor(
                        name,
                        format!("present, but the {arch}.dense_*_feat_* keys are missing"),
                    ));
                }
            }
        }
        Ok(GemmaModel { config, n_vocab })
    }

    /// Activation bytes per token of a forward pass: the hidden state and its residual copies
    /// (four `width` buffers), Q, K, V and the attention output, gate and up of the FFN, the
    /// int8 activations of the widest input, and the pooled output row (dense layers act on
    /// pooled rows only).
    pub fn bytes_per_token(&self) -> usize {
        let c = &self.config;
        let widest = c.n_ff.max(c.q_width()).max(c.n_embd);
        4 * (4 * c.n_embd + 2 * c.q_width() + 2 * c.kv_width() + 2 * c.n_ff + c.dim())
            + (9 * widest).div_ceil(4)
    }

    /// Width of the output vectors of pooled embeddings (`dense_3`'s outputs; `n_embd` for a
    /// file without dense layers).
    pub fn dim(&self) -> usize {
        self.config.dim()
    }

    /// Context length: the longest sequence [`GemmaWeights::forward`] accepts.
    pub fn n_ctx(&self) -> usize {
        self.config.n_ctx
    }

    /// The pooling the file asks for (mean for EmbeddingGemma).
    pub fn pooling(&self) -> Pooling {
        self.config.pooling
    }

    /// Binds the weights in `file` (the file this model was loaded from).
    pub fn bind<'a>(&self, file: &'a GgufFile) -> Result<GemmaWeights<'a>> {
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
                post_attn_norm: v("post_attention_norm", d)?,
                ffn_norm: v("ffn_norm", d)?,
                gate: m("ffn_gate", d, f)?,
                up: m("ffn_up", d, f)?,
                down: m("ffn_down", f, d)?,
                post_ffn_norm: v("post_ffw_norm", d)?,
            });
        }
        let dense = match c.dense {
            None => None,
            Some(g) => Some([
                Matrix::bind(file, "dense_2.weight", d, g.hidden)?,
                Matrix::bind(file, "dense_3.weight", g.hidden, g.out)?,
            ]),
        };
        Ok(GemmaWeights {
            config: c.clone(),
            n_vocab: self.n_vocab,
            tok_embd: Matrix::bind(file, "token_embd.weight", d, self.n_vocab)?,
            layers,
            output_norm: bind_vector(file, "output_norm.weight", d)?,
            dense,
        })
    }
}

crate::architecture!(GemmaModel {
    weights: GemmaWeights,
    scratch: GemmaScratch,
    bytes_per_token: GemmaModel::bytes_per_token,
    read: GemmaModel::read,
    prompt_presets: PROMPT_PRESETS,
});

/// EmbeddingGemma's prompts, from its sentence-transformers configuration (`query`,
/// `document`, and one per MTEB task type).
pub const PROMPT_PRESETS: &[(&str, &str)] = &[
    ("query", "task: search result | query: "),
    ("document", "title: none | text: "),
    ("BitextMining", "task: search result | query: "),
    ("Clustering", "task: clustering | query: "),
    ("Classification", "task: classification | query: "),
    ("InstructionRetrieval", "task: code retrieval | query: "),
    ("MultilabelClassification", "task: classification | query: "),
    ("PairClassification", "task: sentence similarity | query: "),
    ("Reranking", "task: search result | query: "),
    ("Retrieval", "task: search result | query: "),
    ("Retrieval-query", "task: search result | query: "),
    ("Retrieval-document", "title: none | text: "),
    ("STS", "task: sentence similarity | query: "),
    ("Summarization", "task: summarization | query: "),
];

impl GemmaWeights<'_> {
    /// Hyper-parameters.
    pub fn config(&self) -> &GemmaConfig {
        &self.config
    }

    /// Width of each output row for `pooling`: [`GemmaConfig::dim`] for pooled vectors,
    /// `n_embd` per token for [`Pooling::None`] (the dense layers apply to pooled vectors only).
    pub fn out_dim(&self, pooling: Pooling) -> usize {
        match pooling {
            Pooling::None => self.config.n_embd,
            _ => self.config.dim(),
        }
    }

    /// Runs the encoder on a checked packed batch and pools each sequence into `out` (`batch.len()
    /// × dim`, after `dense_2` and `dense_3`); with [`Pooling::None`], every token's final hidden
    /// state (after `output_norm`, before the dense layers): `batch.tokens() × n_embd`. See
    /// [`GemmaWeights::out_dim`].
    ///
    /// The batch was checked once, against [`GemmaWeights::limits`] or tighter ones (a batch
    /// checked for looser limits, or an `out` of the wrong size, is refused); no id is read twice.
    /// Vectors are not normalized.
    pub fn forward(
        &self,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        out: &mut [f32],
        s: &mut GemmaScratch,
    ) -> Result<()> {
        let c = &self.config;
        let kernels = exec.kernels;
        let (d, t, seqs) = (c.n_embd, batch.tokens(), batch.seqs());
        check_run(batch, &self.limits(), pooling, out, (c.dim(), c.n_embd))?;
        if t == 0 {
            return Ok(());
        }
        let longest = seqs.iter().map(|r| r.len()).max().unwrap_or(0);
        s.rope
            .ensure(c.head_dim, [c.rope_base, c.rope_base_swa], longest);

        // Embeddings, scaled by √n_embd.
        let embed_timer = profile::scope(Op::Embed);
        let x = grow(&mut s.x, t * d);
        let scale = (d as f32).sqrt();
        for (id, row) in batch.ids().zip(x.chunks_exact_mut(d)) {
            self.tok_embd.row_into(kernels, id as usize, row);
            for v in row.iter_mut() {
                *v *= scale;
            }
        }

        drop(embed_timer);
        let (t64, d64, ff) = (t as u64, d as u64, c.n_ff as u64);
        let h = grow(&mut s.h, t * d);
        let gate = grow(&mut s.gate, t * c.n_ff);
        let up = grow(&mut s.up, t * c.n_ff);
        for (il, l) in self.layers.iter().enumerate() {
            let global = c.is_global(il);
            // Attention block.
            let norm_timer = profile::scope(Op::Norm);
            h.copy_from_slice(x);
            kernels.rms_norm(h, d, l.attn_norm, c.eps);
            drop(norm_timer);
            let heads = Heads {
                n_head: c.n_head,
                n_head_kv: c.n_head_kv,
                head_dim: c.head_dim,
                causal: false,
                window: (!global).then(|| c.attention_window()),
                rope: s.rope.get(if global { 0 } else { 1 }),
            };
            let qkv = QkvWeights {
                q: (&l.q, None),
                k: (&l.k, None),
                v: (&l.v, None),
                qk_norm: Some((l.q_norm, l.k_norm, c.eps)),
            };
            let ctx = s
                .attention
                .attend(exec, &heads, &qkv, h, seqs, &mut s.matmul);
            project_output(exec, (&l.o, None), ctx, t, h, &mut s.matmul);
            let norm_timer = profile::scope(Op::Norm);
            kernels.rms_norm(h, d, l.post_attn_norm, c.eps);
            kernels.residual_add(x, h);

            // Feed-forward block (GeGLU with tanh-approximate GELU).
            h.copy_from_slice(x);
            kernels.rms_norm(h, d, l.ffn_norm, c.eps);
            drop(norm_timer);
            // Gate and up share one quantized input: timed together as FfnUp.
            let up_timer = profile::scope_ops(Op::FfnUp, 2 * t64 * d64 * 2 * ff);
            Matrix::matmul_shared_input(
                exec,
                h,
                t,
                [(&l.gate, None, &mut *gate), (&l.up, None, &mut *up)],
                &mut s.matmul,
            );
            drop(up_timer);
            let act_timer = profile::scope(Op::Activation);
            kernels.gelu_tanh(gate);
            for (g, &u) in gate.iter_mut().zip(up.iter()) {
                *g *= u;
            }
            drop(act_timer);
            {
                let _t = profile::scope_ops(Op::FfnDown, 2 * t64 * ff * d64);
                l.down.matmul(exec, gate, t, None, h, &mut s.matmul);
            }
            let _t = profile::scope(Op::Norm);
            kernels.rms_norm(h, d, l.post_ffn_norm, c.eps);
            kernels.residual_add(x, h);
        }
        let norm_timer = profile::scope(Op::Norm);
        kernels.rms_norm(x, d, self.output_norm, c.eps);
        drop(norm_timer);
        let pool_timer = profile::scope(Op::Pooling);

        if pooling == Pooling::None {
            out.copy_from_slice(x);
            return Ok(());
        }
        let n = seqs.len();
        let pooled: &mut [f32] = match self.dense {
            Some(_) => grow(&mut s.pooled, n * d),
            None => out,
        };
        pool_rows(kernels, x, d, seqs, pooling, pooled);
        drop(pool_timer);
        if let Some([d2, d3]) = &self.dense {
            let (n64, h64) = (n as u64, d2.n as u64);
            let _t = profile::scope_ops(Op::Dense, 2 * n64 * h64 * (d64 + d3.n as u64));
            let hidden = grow(&mut s.dense, n * d2.n);
            d2.matmul(exec, &s.pooled[..n * d], n, None, hidden, &mut s.matmul);
            d3.matmul(exec, hidden, n, None, out, &mut s.matmul);
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
