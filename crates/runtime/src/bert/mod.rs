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

mod config;
#[cfg(feature = "gpu")]
mod gpu;

use std::ops::Range;

use gguf_loader::GgufFile;
use ggufembed_kernels::AttentionParams;

pub use config::BertConfig;
#[cfg(feature = "gpu")]
pub use gpu::{BertGpu, GPU_MAX_TOKENS};

use crate::batch::{BatchShape, check_batch, grow, pool_rows};
use crate::error::{Result, RuntimeError};
use crate::exec::Exec;
use crate::pooling::Pooling;
use crate::profile::{self, Op};
use crate::weights::{MatmulScratch, Matrix, bind_vector};

/// A validated BERT model: its hyper-parameters and the sizes its tensors were checked against.
#[derive(Clone, Debug)]
pub struct BertModel {
    /// Hyper-parameters.
    pub config: BertConfig,
    /// Rows of `token_embd.weight`.
    pub n_vocab: usize,
    /// Rows of `token_types.weight`.
    pub n_types: usize,
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
}

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
        let tok = file.require_tensor("token_embd.weight")?;
        let n_vocab = match tok.shape() {
            [k, n] if *k == config.n_embd as u64 && *n > 0 => *n as usize,
            s => {
                return Err(RuntimeError::tensor(
                    "token_embd.weight",
                    format!("shape is {s:?}, expected [{}, n_vocab]", config.n_embd),
                ));
            }
        };
        let n_types = match file.require_tensor("token_types.weight")?.shape() {
            [k, n] if *k == config.n_embd as u64 && *n > 0 => *n as usize,
            s => {
                return Err(RuntimeError::tensor(
                    "token_types.weight",
                    format!("shape is {s:?}, expected [{}, n_types]", config.n_embd),
                ));
            }
        };
        Ok(BertModel {
            config,
            n_vocab,
            n_types,
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

    /// Width of each output row: `n_embd`, pooled or per token.
    pub fn out_dim(&self, _pooling: Pooling) -> usize {
        self.config.n_embd
    }

    /// Runs the encoder on packed sequences and pools each into `out` (`seqs.len() × n_embd`;
    /// with [`Pooling::None`], every token's vector: `ids.len() × n_embd`).
    ///
    /// `ids` holds every sequence's token ids back to back; `seqs[i]` is sequence `i`'s range in
    /// it. Each sequence must be non-empty, no longer than the context length, and its ids below
    /// the vocabulary size. Vectors are not normalized.
    pub fn forward(
        &self,
        exec: &Exec<'_>,
        ids: &[u32],
        seqs: &[Range<usize>],
        pooling: Pooling,
        out: &mut [f32],
        s: &mut BertScratch,
    ) -> Result<()> {
        let c = &self.config;
        let kernels = exec.kernels;
        let (d, t) = (c.n_embd, ids.len());
        self.check_batch(ids, seqs, pooling, out)?;
        if t == 0 {
            return Ok(());
        }

        // Embeddings: token + position + token type 0, then LayerNorm.
        let x = grow(&mut s.x, t * d);
        let type_row = grow(&mut s.type_row, d);
        let embed_timer = profile::scope(Op::Embed);
        self.type_embd.row_into(kernels, 0, type_row);
        let tmp = grow(&mut s.tmp, d);
        for r in seqs {
            for (pos, i) in r.clone().enumerate() {
                let row = &mut x[i * d..(i + 1) * d];
                self.tok_embd.row_into(kernels, ids[i] as usize, row);
                self.pos_embd.row_into(kernels, pos, tmp);
                kernels.residual_add(row, tmp);
                kernels.residual_add(row, type_row);
            }
        }
        drop(embed_timer);
        {
            let _t = profile::scope(Op::Norm);
            kernels.layer_norm(x, d, self.embd_norm_w, Some(self.embd_norm_b), c.eps);
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
        for l in &self.layers {
            let qkv_timer = profile::scope_ops(Op::Qkv, 2 * t64 * d64 * 3 * d64);
            Matrix::matmul_shared_input(
                exec,
                x,
                t,
                [
                    (&l.q, Some(l.q_b), &mut *q),
                    (&l.k, Some(l.k_b), &mut *k),
                    (&l.v, Some(l.v_b), &mut *v),
                ],
                &mut s.matmul,
            );
            drop(qkv_timer);
            let attn_timer = profile::scope_ops(Op::Attention, attn_ops);
            for r in seqs {
                let span = r.start * d..r.end * d;
                let mut p = AttentionParams::new(r.len(), c.n_head, c.n_head, c.head_dim());
                p.causal = c.causal;
                kernels.attention(
                    &q[span.clone()],
                    &k[span.clone()],
                    &v[span.clone()],
                    &p,
                    None,
                    &mut ctx[span],
                    &mut s.attn,
                );
            }
            drop(attn_timer);
            {
                let _t = profile::scope_ops(Op::AttnOut, 2 * t64 * d64 * d64);
                l.o.matmul(exec, ctx, t, Some(l.o_b), tmp, &mut s.matmul);
            }
            {
                let _t = profile::scope(Op::Norm);
                kernels.add_layer_norm(x, tmp, d, l.attn_norm_w, Some(l.attn_norm_b), c.eps);
            }
            {
                let _t = profile::scope_ops(Op::FfnUp, 2 * t64 * d64 * f64_);
                l.up.matmul(exec, x, t, None, ff, &mut s.matmul);
            }
            {
                let _t = profile::scope(Op::Activation);
                kernels.add_bias_gelu(ff, l.up_b);
            }
            {
                let _t = profile::scope_ops(Op::FfnDown, 2 * t64 * f64_ * d64);
                l.down
                    .matmul(exec, ff, t, Some(l.down_b), tmp, &mut s.matmul);
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

    fn check_batch(
        &self,
        ids: &[u32],
        seqs: &[Range<usize>],
        pooling: Pooling,
        out: &[f32],
    ) -> Result<()> {
        let c = &self.config;
        let shape = BatchShape {
            n_ctx: c.n_ctx,
            n_vocab: self.n_vocab,
            width: (c.n_embd, c.n_embd),
            ordered: false,
        };
        check_batch(&shape, ids, seqs, pooling, out)
    }
}
