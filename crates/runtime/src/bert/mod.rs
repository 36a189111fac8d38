//! BERT encoders as llama.cpp's converter writes them (`general.architecture = "bert"`).
//!
//! Post-LayerNorm blocks: `x = LN(x + Attn(x))`, `x = LN(x + FFN(x))` with exact (erf) GELU,
//! non-causal attention within each sequence. Every tensor and hyper-parameter is checked at
//! [`BertModel::load`], before any buffer is sized from them.
//!
//! Sequences are packed: one call runs any number of texts, concatenated token-wise, with one
//! matmul per weight over all their tokens and attention per sequence (no padding, no attention
//! across sequences). Every kernel computes a row independently of the others, so a text's
//! embedding is bit-identical whatever it is batched with.
//!
//! Token types (segment ids) are honoured per token when given ([`BertWeights::forward`];
//! type 0 for every token otherwise, as for single texts). A cross-encoder ([`Pooling::Rank`])
//! scores pairs with its classification head ([`BertWeights::score`], see [`HeadShape`]).

mod config;
#[cfg(feature = "gpu")]
mod gpu;
mod head;

use gguf_loader::GgufFile;
use ggufembed_kernels::{AttentionInputs, AttentionParams, NormParams};

pub use config::BertConfig;
#[cfg(feature = "gpu")]
pub use gpu::{BertGpu, GPU_MAX_TOKENS};
pub use head::HeadShape;

use crate::batch::{BatchLimits, CheckedBatch};
use crate::error::{Result, RuntimeError};
use crate::exec::Exec;
use crate::graph::{check_run, grow, pool_rows};
use crate::pooling::Pooling;
use crate::profile::{self, Op};
use crate::weights::{MatmulScratch, Matrix, bind_vector, table_rows};
use head::{Head, HeadScratch};

/// A validated BERT model: its hyper-parameters and the sizes its tensors were checked against.
#[derive(Clone, Debug)]
pub struct BertModel {
    /// Hyper-parameters.
    pub config: BertConfig,
    /// Rows of `token_embd.weight`.
    pub n_vocab: usize,
    /// Rows of `token_types.weight`.
    pub n_types: usize,
    /// The classification head of a cross-encoder ([`Pooling::Rank`]); `None` otherwise.
    pub head: Option<HeadShape>,
}

/// One block's weights.
#[derive(Debug)]
struct Layer<'a> {
    q: Matrix<'a>,
    q_b: &'a [f32],
    k: Matrix<'a>,
    k_b: &'a [f32],
    v: Matrix<'a>,
    v_b: &'a [f32],
    o: Matrix<'a>,
    o_b: &'a [f32],
    attn_norm_w: &'a [f32],
    attn_norm_b: &'a [f32],
    up: Matrix<'a>,
    up_b: &'a [f32],
    down: Matrix<'a>,
    down_b: &'a [f32],
    out_norm_w: &'a [f32],
    out_norm_b: &'a [f32],
}

/// All weights of a [`BertModel`], bound to the mapped file. Cheap to create (no copies).
#[derive(Debug)]
pub struct BertWeights<'a> {
    config: BertConfig,
    n_vocab: usize,
    tok_embd: Matrix<'a>,
    pos_embd: Matrix<'a>,
    type_embd: Matrix<'a>,
    embd_norm_w: &'a [f32],
    embd_norm_b: &'a [f32],
    layers: Vec<Layer<'a>>,
    n_types: usize,
    head: Option<Head<'a>>,
}

/// Token-type rows cached per forward pass; rarer types are looked up per token.
const CACHED_TYPES: usize = 8;

/// Reusable buffers for [`BertWeights::forward`]; grows to the largest batch seen, then stops
/// allocating.
#[derive(Debug, Default)]
pub struct BertScratch {
    x: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
    attn: Vec<f32>,
    type_row: Vec<f32>,
    head: HeadScratch,
    matmul: MatmulScratch,
}

impl BertModel {
    /// Reads and validates a BERT model: hyper-parameters, and every tensor's presence, shape
    /// and type. `arch` is the value of `general.architecture`.
    pub fn load(file: &GgufFile, arch: &str) -> Result<BertModel> {
        let model = BertModel::read(file, arch)?;
        // Binding checks every remaining tensor's shape and type.
        model.bind(file)?;
        Ok(model)
    }

    /// Reads and validates the hyper-parameters and the embedding tables' shapes, leaving the
    /// other tensors' checks to [`BertModel::bind`] (the registry binds once, here).
    pub fn read(file: &GgufFile, arch: &str) -> Result<BertModel> {
        let config = BertConfig::from_gguf(file, arch)?;
        let n_vocab = table_rows(file, "token_embd.weight", config.n_embd, "n_vocab")?;
        let n_types = table_rows(file, "token_types.weight", config.n_embd, "n_types")?;
        let head = if config.pooling == Pooling::Rank {
            Some(HeadShape::read(file, arch, config.n_embd)?)
        } else {
            None
        };
        Ok(BertModel {
            config,
            n_vocab,
            n_types,
            head,
        })
    }

    /// Context length: the longest sequence [`BertWeights::forward`] accepts.
    pub fn n_ctx(&self) -> usize {
        self.config.n_ctx
    }

    /// The pooling the file asks for.
    pub fn pooling(&self) -> Pooling {
        self.config.pooling
    }

    /// Activation bytes per token of a forward pass: six `n_embd` f32 buffers (x, q, k, v,
    /// context, residual), the FFN's `n_ff`, the quantized activations (2.25 bytes per value
    /// of the widest input) and the pooled output row.
    pub fn bytes_per_token(&self) -> usize {
        let c = &self.config;
        4 * (6 * c.n_embd + c.n_ff) + (9 * c.n_ff.max(c.n_embd)).div_ceil(4) + 4 * c.n_embd
    }

    /// Binds the weights in `file` (the file this model was loaded from).
    pub fn bind<'a>(&self, file: &'a GgufFile) -> Result<BertWeights<'a>> {
        let c = &self.config;
        let (d, f) = (c.n_embd, c.n_ff);
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let m = |name: &str, k: usize, n: usize| {
                Matrix::bind(file, &format!("blk.{i}.{name}"), k, n)
            };
            let v = |name: &str, n: usize| bind_vector(file, &format!("blk.{i}.{name}"), n);
            layers.push(Layer {
                q: m("attn_q.weight", d, d)?,
                q_b: v("attn_q.bias", d)?,
                k: m("attn_k.weight", d, d)?,
                k_b: v("attn_k.bias", d)?,
                v: m("attn_v.weight", d, d)?,
                v_b: v("attn_v.bias", d)?,
                o: m("attn_output.weight", d, d)?,
                o_b: v("attn_output.bias", d)?,
                attn_norm_w: v("attn_output_norm.weight", d)?,
                attn_norm_b: v("attn_output_norm.bias", d)?,
                up: m("ffn_up.weight", d, f)?,
                up_b: v("ffn_up.bias", f)?,
                down: m("ffn_down.weight", f, d)?,
                down_b: v("ffn_down.bias", d)?,
                out_norm_w: v("layer_output_norm.weight", d)?,
                out_norm_b: v("layer_output_norm.bias", d)?,
            });
        }
        Ok(BertWeights {
            config: c.clone(),
            n_vocab: self.n_vocab,
            tok_embd: Matrix::bind(file, "token_embd.weight", d, self.n_vocab)?,
            pos_embd: Matrix::bind(file, "position_embd.weight", d, c.n_ctx)?,
            type_embd: Matrix::bind(file, "token_types.weight", d, self.n_types)?,
            embd_norm_w: bind_vector(file, "token_embd_norm.weight", d)?,
            embd_norm_b: bind_vector(file, "token_embd_norm.bias", d)?,
            layers,
            n_types: self.n_types,
            head: self.head.map(|h| Head::bind(file, d, h)).transpose()?,
        })
    }
}

crate::architecture!(BertModel {
    weights: BertWeights,
    scratch: BertScratch,
    bytes_per_token: BertModel::bytes_per_token,
    read: BertModel::read,
    gpu: gpu::upload,
});

impl BertWeights<'_> {
    /// Hyper-parameters.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Scores per sequence of a cross-encoder's head (`n_labels`, 1 for a reranker), or `None`
    /// for an embedding model.
    pub fn n_labels(&self) -> Option<usize> {
        self.head.as_ref().map(|h| h.n_labels())
    }

    /// Width of each output row: `n_embd`, pooled or per token; a cross-encoder's `n_labels`
    /// with [`Pooling::Rank`].
    pub fn out_dim(&self, pooling: Pooling) -> usize {
        match (pooling, self.n_labels()) {
            (Pooling::Rank, Some(n)) => n,
            _ => self.config.n_embd,
        }
    }

    /// What a batch must be checked against ([`Batch::check`](crate::Batch::check)) to run
    /// here: the context length, the vocabulary and the rows of `token_types.weight`.
    pub fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_len: self.config.n_ctx,
            n_vocab: self.n_vocab,
            n_types: Some(self.n_types),
        }
    }

    /// Runs the encoder on a checked packed batch and pools each sequence into `out`
    /// (`batch.len() × n_embd`; with [`Pooling::None`], every token's vector: `batch.tokens()
    /// × n_embd`; with [`Pooling::Rank`], a cross-encoder's `n_labels` scores per sequence,
    /// see [`BertWeights::score`]). Token `i`'s segment is its type in the batch (`None`: type
    /// 0 everywhere, bit-identical to all zeros). Vectors are not normalized.
    ///
    /// The batch was checked once, against [`BertWeights::limits`] or tighter ones: only the
    /// limits are compared here, no id is read twice.
    ///
    /// # Errors
    /// [`RuntimeError::InvalidArgument`] if the batch was checked against looser limits, or
    /// `out` is not `batch.rows(pooling)` rows wide.
    pub fn forward(
        &self,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        out: &mut [f32],
        s: &mut BertScratch,
    ) -> Result<()> {
        if pooling == Pooling::Rank {
            return self.score(exec, batch, out, s);
        }
        let d = self.config.n_embd;
        check_run(batch, &self.limits(), pooling, out, (d, d))?;
        if batch.is_empty() {
            return Ok(());
        }
        self.encode(exec, batch, s);
        let _t = profile::scope(Op::Pooling);
        let x = &s.x[..batch.tokens() * d];
        if pooling == Pooling::None {
            out.copy_from_slice(x);
            return Ok(());
        }
        pool_rows(exec.kernels, x, d, batch.seqs(), pooling, out);
        Ok(())
    }

    /// A cross-encoder's raw scores (logits) of a checked packed batch into `out`
    /// (`batch.len() × n_labels`): the head applied to each sequence's first (`[CLS]`) row
    /// ([`Pooling::Rank`]). Pairs from
    /// [`Tokenizer::encode_pair`](crate::Tokenizer::encode_pair) carry their token types. A
    /// sequence's scores are bit-identical whatever it is batched with.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::InvalidArgument`] if the model has no classification head, or as
    /// [`BertWeights::forward`].
    pub fn score(
        &self,
        exec: &Exec<'_>,
        batch: &CheckedBatch<'_>,
        out: &mut [f32],
        s: &mut BertScratch,
    ) -> Result<()> {
        let Some(head) = &self.head else {
            return Err(RuntimeError::InvalidArgument {
                name: "pooling",
                reason: "rank pooling needs a classification head, and this BERT has none \
                         (it is an embedding model, not a reranker)"
                    .to_owned(),
            });
        };
        let (d, n_labels) = (self.config.n_embd, head.n_labels());
        // One row of `n_labels` scores per sequence.
        check_run(batch, &self.limits(), Pooling::Cls, out, (n_labels, d))?;
        if batch.is_empty() {
            return Ok(());
        }
        self.encode(exec, batch, s);
        let _t = profile::scope(Op::Pooling);
        let x = &s.x[..batch.tokens() * d];
        head.apply(exec, x, batch.seqs(), out, &mut s.head, &mut s.matmul);
        Ok(())
    }

    /// The encoder over a checked batch: leaves every token's final hidden state in `s.x`.
    fn encode(&self, exec: &Exec<'_>, batch: &CheckedBatch<'_>, s: &mut BertScratch) {
        let c = &self.config;
        let kernels = exec.kernels;
        let (d, t, seqs) = (c.n_embd, batch.tokens(), batch.seqs());

        // Embeddings: token + position + token type, then LayerNorm.
        let x = grow(&mut s.x, t * d);
        let n_cached = if batch.typed() {
            self.n_types.min(CACHED_TYPES)
        } else {
            1
        };
        let type_rows = grow(&mut s.type_row, n_cached * d);
        let embed_timer = profile::scope(Op::Embed);
        for (ty, row) in type_rows.chunks_exact_mut(d).enumerate() {
            self.type_embd.row_into(kernels, ty, row);
        }
        let tmp = grow(&mut s.tmp, d);
        for (k, r) in seqs.iter().enumerate() {
            let (ids, types) = (batch.seq_ids(k), batch.seq_types(k));
            for (pos, i) in r.clone().enumerate() {
                let row = &mut x[i * d..(i + 1) * d];
                self.tok_embd.row_into(kernels, ids[pos] as usize, row);
                self.pos_embd.row_into(kernels, pos, tmp);
                kernels.residual_add(row, tmp);
                let ty = types.map_or(0, |ty| ty[pos] as usize);
                if ty < n_cached {
                    kernels.residual_add(row, &type_rows[ty * d..(ty + 1) * d]);
                } else {
                    self.type_embd.row_into(kernels, ty, tmp);
                    kernels.residual_add(row, tmp);
                }
            }
        }
        drop(embed_timer);
        // Whether the last norm already quantized `x` for the next layer's Q, K and V.
        let mut x_quantized = self.fuse_norm(0);
        {
            let _t = profile::scope(Op::Norm);
            let (w, b) = (self.embd_norm_w, Some(self.embd_norm_b));
            if x_quantized {
                let qa = s.matmul.activations_mut();
                kernels.layer_norm_quantize(x, d, w, b, c.eps, qa);
            } else {
                kernels.layer_norm(x, d, w, b, c.eps);
            }
        }

        let q = grow(&mut s.q, t * d);
        let k = grow(&mut s.k, t * d);
        let v = grow(&mut s.v, t * d);
        let ctx = grow(&mut s.ctx, t * d);
        let tmp = grow(&mut s.tmp, t * d);
        let ff = grow(&mut s.ff, t * c.n_ff);
        // Arithmetic per matmul (2·m·k·n) and per attention (QKᵀ and PV: 4·len²·d), for the
        // profiler's achieved-GOPS figures.
        let (t64, d64, f64_) = (t as u64, d as u64, c.n_ff as u64);
        let attn_ops: u64 = if profile::is_enabled() {
            seqs.iter().map(|r| 4 * (r.len() as u64).pow(2) * d64).sum()
        } else {
            0
        };
        for (i, l) in self.layers.iter().enumerate() {
            let qkv_timer = profile::scope_ops(Op::Qkv, 2 * t64 * d64 * 3 * d64);
            let qkv = [
                (&l.q, Some(l.q_b), &mut *q),
                (&l.k, Some(l.k_b), &mut *k),
                (&l.v, Some(l.v_b), &mut *v),
            ];
            if x_quantized {
                Matrix::matmul_shared_quantized(exec, t, qkv, &mut s.matmul);
            } else {
                Matrix::matmul_shared_input(exec, x, t, qkv, &mut s.matmul);
            }
            drop(qkv_timer);
            let attn_timer = profile::scope_ops(Op::Attention, attn_ops);
            for r in seqs {
                let span = r.start * d..r.end * d;
                let mut p = AttentionParams::new(r.len(), c.n_head, c.n_head, c.head_dim());
                p.causal = c.causal;
                let inputs = AttentionInputs {
                    q: &q[span.clone()],
                    k: &k[span.clone()],
                    v: &v[span.clone()],
                    mask: None,
                };
                kernels.attention(inputs, &p, &mut ctx[span], &mut s.attn);
            }
            drop(attn_timer);
            {
                let _t = profile::scope_ops(Op::AttnOut, 2 * t64 * d64 * d64);
                l.o.matmul(exec, ctx, t, Some(l.o_b), tmp, &mut s.matmul);
            }
            // The FFN's input, quantized by the norm that produces it when FFN-up reads Q8_0.
            let fuse_up = l.up.reads_act16();
            {
                let _t = profile::scope(Op::Norm);
                let (w, b) = (l.attn_norm_w, Some(l.attn_norm_b));
                if fuse_up {
                    let qa = s.matmul.activations_mut();
                    let norm = NormParams {
                        gamma: w,
                        beta: b,
                        eps: c.eps,
                    };
                    kernels.add_layer_norm_quantize(x, tmp, d, norm, qa);
                } else {
                    kernels.add_layer_norm(x, tmp, d, w, b, c.eps);
                }
            }
            {
                let _t = profile::scope_ops(Op::FfnUp, 2 * t64 * d64 * f64_);
                if fuse_up {
                    l.up.matmul_quantized(exec, t, None, ff, &mut s.matmul);
                } else {
                    l.up.matmul(exec, x, t, None, ff, &mut s.matmul);
                }
            }
            // `gelu(ff + b)` straight into FFN-down's activations (no f32 pass over `ff`).
            let fuse_down = l.down.reads_act16();
            {
                let _t = profile::scope(Op::Activation);
                if fuse_down {
                    kernels.bias_gelu_quantize(ff, l.up_b, s.matmul.activations_mut());
                } else {
                    kernels.add_bias_gelu(ff, l.up_b);
                }
            }
            {
                let _t = profile::scope_ops(Op::FfnDown, 2 * t64 * f64_ * d64);
                let b = Some(l.down_b);
                if fuse_down {
                    l.down.matmul_quantized(exec, t, b, tmp, &mut s.matmul);
                } else {
                    l.down.matmul(exec, ff, t, b, tmp, &mut s.matmul);
                }
            }
            x_quantized = self.fuse_norm(i + 1);
            {
                let _t = profile::scope(Op::Norm);
                let (w, b) = (l.out_norm_w, Some(l.out_norm_b));
                if x_quantized {
                    let qa = s.matmul.activations_mut();
                    let norm = NormParams {
                        gamma: w,
                        beta: b,
                        eps: c.eps,
                    };
                    kernels.add_layer_norm_quantize(x, tmp, d, norm, qa);
                } else {
                    kernels.add_layer_norm(x, tmp, d, w, b, c.eps);
                }
            }
        }
    }

    /// Whether the norm before layer `i` should quantize its output for that layer's Q, K and
    /// V (all three read the 16-value Q8_0 activations; there is no layer `n_layer`).
    fn fuse_norm(&self, i: usize) -> bool {
        self.layers
            .get(i)
            .is_some_and(|l| l.q.reads_act16() && l.k.reads_act16() && l.v.reads_act16())
    }
}
