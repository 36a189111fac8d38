//! The BERT forward pass on the GPU (feature `gpu`): the same graph as
//! [`BertWeights::forward`], run by the kernels' WGSL shaders in one submission per batch.
//!
//! Weights are uploaded once, in their storage type ([`BertWeights::to_gpu`]); a batch uploads
//! its ids and sequence offsets, runs every layer on the device and reads back only the pooled
//! (and normalized) vectors.

use std::sync::{Arc, Mutex};

use ggufembed_kernels::gpu::{
    AttentionShape, GpuAttentionInputs, GpuBuffer, GpuContext, GpuMatrix, GpuNormParams, GpuPass,
    GpuWeightData, PoolMode,
};

use super::{BertConfig, BertWeights};
use crate::batch::CheckedBatch;
use crate::encoder::GpuEncoder;
use crate::error::{Result, RuntimeError};
use crate::graph::check_run;
use crate::pooling::Pooling;
use crate::weights::Matrix;

/// Tokens per submission, at most: thousands of tokens keep a GPU busy, and the activations
/// of 8192 MiniLM tokens take 112 MB.
pub const GPU_MAX_TOKENS: usize = 8192;

struct GpuLayer {
    q: GpuMatrix,
    q_b: GpuBuffer,
    k: GpuMatrix,
    k_b: GpuBuffer,
    v: GpuMatrix,
    v_b: GpuBuffer,
    o: GpuMatrix,
    o_b: GpuBuffer,
    attn_norm_w: GpuBuffer,
    attn_norm_b: GpuBuffer,
    up: GpuMatrix,
    up_b: GpuBuffer,
    down: GpuMatrix,
    down_b: GpuBuffer,
    out_norm_w: GpuBuffer,
    out_norm_b: GpuBuffer,
}

/// Device activations for up to `tokens` tokens and `seqs` sequences.
struct Scratch {
    tokens: usize,
    seqs: usize,
    x: GpuBuffer,
    q: GpuBuffer,
    k: GpuBuffer,
    v: GpuBuffer,
    ctx: GpuBuffer,
    tmp: GpuBuffer,
    ff: GpuBuffer,
    ids: GpuBuffer,
    pos: GpuBuffer,
    tok_seq: GpuBuffer,
    seq_info: GpuBuffer,
    pooled: GpuBuffer,
    /// Host copies of the per-call ids, positions, token→sequence and sequence tables, reused.
    host: [Vec<u32>; 4],
}

/// A BERT model's weights on a GPU, ready to run batches.
pub struct BertGpu {
    ctx: Arc<GpuContext>,
    config: BertConfig,
    n_vocab: usize,
    max_tokens: usize,
    tok: GpuMatrix,
    pos: GpuMatrix,
    typ: GpuMatrix,
    embd_norm_w: GpuBuffer,
    embd_norm_b: GpuBuffer,
    layers: Vec<GpuLayer>,
    scratch: Mutex<Option<Scratch>>,
}

impl std::fmt::Debug for BertGpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertGpu")
            .field("adapter", &self.ctx.adapter().name)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

/// The matrix's storage as the GPU upload takes it (the same [`GpuWeightData`] view), or an
/// error naming the tensor for a block format no shader reads.
fn data<'a>(name: &str, m: &Matrix<'a>) -> Result<GpuWeightData<'a>> {
    match m.data {
        GpuWeightData::Quant(ty, _) => Err(RuntimeError::tensor(
            name,
            format!("type {ty} has no GPU kernel (F32, F16, BF16 or Q8_0); use the CPU"),
        )),
        view => Ok(view),
    }
}

impl BertWeights<'_> {
    /// Uploads every weight to `ctx`'s device, in its storage type.
    ///
    /// # Errors
    /// A tensor or the activations of one full-length sequence above the device's buffer
    /// limit, a head wider than the attention shader takes, or a device error.
    pub fn to_gpu(&self, ctx: Arc<GpuContext>) -> Result<BertGpu> {
        let c = &self.config;
        if c.head_dim() > ggufembed_kernels::gpu::MAX_HEAD_DIM {
            return Err(RuntimeError::metadata(
                "bert.attention.head_count",
                format!(
                    "heads of {} values are wider than the GPU attention shader takes ({})",
                    c.head_dim(),
                    ggufembed_kernels::gpu::MAX_HEAD_DIM
                ),
            ));
        }
        // The widest activation buffer is the FFN's, t × n_ff values.
        let per_token = 4 * c.n_ff.max(c.n_embd) as u64;
        let fit = (ctx.max_buffer_bytes() / per_token) as usize;
        let max_tokens = fit.min(GPU_MAX_TOKENS).min(65535);
        if max_tokens < c.n_ctx {
            return Err(RuntimeError::InvalidArgument {
                name: "device",
                reason: format!(
                    "the GPU's buffer limit ({} bytes) cannot hold the activations of one {}-token sequence",
                    ctx.max_buffer_bytes(),
                    c.n_ctx
                ),
            });
        }
        let m = |name: String, w: &Matrix<'_>| -> Result<_> {
            Ok(ctx.upload_matrix(&name, data(&name, w)?, w.k, w.n)?)
        };
        let v = |name: String, x: &[f32]| ctx.upload_f32(&name, x);
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let n = |s: &str| format!("blk.{i}.{s}");
            layers.push(GpuLayer {
                q: m(n("attn_q.weight"), &l.q)?,
                q_b: v(n("attn_q.bias"), l.q_b)?,
                k: m(n("attn_k.weight"), &l.k)?,
                k_b: v(n("attn_k.bias"), l.k_b)?,
                v: m(n("attn_v.weight"), &l.v)?,
                v_b: v(n("attn_v.bias"), l.v_b)?,
                o: m(n("attn_output.weight"), &l.o)?,
                o_b: v(n("attn_output.bias"), l.o_b)?,
                attn_norm_w: v(n("attn_output_norm.weight"), l.attn_norm_w)?,
                attn_norm_b: v(n("attn_output_norm.bias"), l.attn_norm_b)?,
                up: m(n("ffn_up.weight"), &l.up)?,
                up_b: v(n("ffn_up.bias"), l.up_b)?,
                down: m(n("ffn_down.weight"), &l.down)?,
                down_b: v(n("ffn_down.bias"), l.down_b)?,
                out_norm_w: v(n("layer_output_norm.weight"), l.out_norm_w)?,
                out_norm_b: v(n("layer_output_norm.bias"), l.out_norm_b)?,
            });
        }
        Ok(BertGpu {
            config: c.clone(),
            n_vocab: self.n_vocab,
            max_tokens,
            tok: m("token_embd.weight".into(), &self.tok_embd)?,
            pos: m("position_embd.weight".into(), &self.pos_embd)?,
            typ: m("token_types.weight".into(), &self.type_embd)?,
            embd_norm_w: v("token_embd_norm.weight".into(), self.embd_norm_w)?,
            embd_norm_b: v("token_embd_norm.bias".into(), self.embd_norm_b)?,
            layers,
            scratch: Mutex::new(None),
            ctx,
        })
    }
}

impl BertGpu {
    /// Most tokens one [`forward`](BertGpu::forward) call takes.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The device.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Bytes of weights on the device.
    pub fn weight_bytes(&self) -> u64 {
        let l: u64 = self
            .layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.up, &l.down]
                    .iter()
                    .map(|m| m.bytes())
                    .sum::<u64>()
            })
            .sum();
        l + self.tok.bytes() + self.pos.bytes() + self.typ.bytes()
    }

    fn scratch(&self, tokens: usize, seqs: usize, slot: &mut Option<Scratch>) -> Result<()> {
        if slot
            .as_ref()
            .is_some_and(|s| s.tokens >= tokens && s.seqs >= seqs)
        {
            return Ok(());
        }
        // Grow to at least double, so a stream of growing batches reallocates rarely.
        let (old_t, old_s) = slot.as_ref().map_or((0, 0), |s| (s.tokens, s.seqs));
        let t = tokens
            .max(old_t.saturating_mul(2))
            .min(self.max_tokens)
            .max(tokens);
        let s = seqs.max(old_s.saturating_mul(2)).min(t).max(seqs);
        *slot = None;
        let (d, f) = (self.config.n_embd, self.config.n_ff);
        let b = |what: &str, len: usize| self.ctx.buffer(what, len);
        *slot = Some(Scratch {
            tokens: t,
            seqs: s,
            x: b("x", t * d)?,
            q: b("q", t * d)?,
            k: b("k", t * d)?,
            v: b("v", t * d)?,
            ctx: b("attention output", t * d)?,
            tmp: b("residual", t * d)?,
            ff: b("ffn", t * f)?,
            ids: b("ids", t)?,
            pos: b("positions", t)?,
            tok_seq: b("token sequences", 2 * t)?,
            seq_info: b("sequences", 2 * s)?,
            pooled: b("pooled", s * d)?,
            host: Default::default(),
        });
        Ok(())
    }

    /// Runs the encoder on a checked packed batch (at most
    /// [`max_tokens`](BertGpu::max_tokens) tokens), pools each sequence into `out` and
    /// L2-normalizes the rows if `normalize`. Same contract as [`BertWeights::forward`] (token
    /// types aside: the GPU graph adds type 0's row), plus the normalization.
    pub fn forward(
        &self,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        normalize: bool,
        out: &mut [f32],
    ) -> Result<()> {
        let c = &self.config;
        let (d, t, seqs) = (c.n_embd, batch.tokens(), batch.seqs());
        let limits = crate::batch::BatchLimits {
            max_len: c.n_ctx,
            n_vocab: self.n_vocab,
            n_types: None,
        };
        check_run(batch, &limits, pooling, out, (d, d))?;
        if t == 0 {
            return Ok(());
        }
        if t > self.max_tokens {
            return Err(RuntimeError::InvalidArgument {
                name: "ids",
                reason: format!("{t} tokens in one GPU batch, above its {}", self.max_tokens),
            });
        }
        let mut guard = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        self.scratch(t, seqs.len(), &mut guard)?;
        let Some(s) = guard.as_mut() else {
            unreachable!("scratch was just sized")
        };
        let [h_ids, h_pos, h_tok_seq, h_seq] = &mut s.host;
        // The selection's ids, gathered from the checked batch into the upload buffer.
        h_ids.clear();
        h_ids.extend(batch.ids());
        h_pos.clear();
        h_tok_seq.clear();
        h_seq.clear();
        for r in seqs {
            h_seq.extend([r.start as u32, r.len() as u32]);
            for p in 0..r.len() {
                h_pos.push(p as u32);
                h_tok_seq.extend([r.start as u32, r.len() as u32]);
            }
        }
        let ctx = &*self.ctx;
        ctx.write(&s.ids, h_ids);
        ctx.write(&s.pos, h_pos);
        ctx.write(&s.tok_seq, h_tok_seq);
        ctx.write(&s.seq_info, h_seq);

        let mut p = GpuPass::new(ctx);
        // Embeddings: token + position + token type 0, then LayerNorm.
        p.gather(&self.tok, Some(&s.ids), t, false, &s.x);
        p.gather(&self.pos, Some(&s.pos), t, true, &s.x);
        p.gather(&self.typ, None, t, true, &s.x);
        p.layer_norm(
            &s.x,
            None,
            t,
            d,
            GpuNormParams {
                gamma: &self.embd_norm_w,
                beta: &self.embd_norm_b,
                eps: c.eps,
            },
        );
        let attn = AttentionShape {
            n_head: c.n_head,
            n_kv_head: c.n_head,
            head_dim: c.head_dim(),
            q_stride: d,
            kv_stride: d,
            causal: c.causal,
            scale: 1.0 / (c.head_dim() as f32).sqrt(),
        };
        for l in &self.layers {
            p.matmul(&s.x, t, &l.q, Some(&l.q_b), false, &s.q);
            p.matmul(&s.x, t, &l.k, Some(&l.k_b), false, &s.k);
            p.matmul(&s.x, t, &l.v, Some(&l.v_b), false, &s.v);
            let inputs = GpuAttentionInputs {
                q: &s.q,
                k: &s.k,
                v: &s.v,
                tok_seq: &s.tok_seq,
            };
            p.attention(inputs, t, &attn, &s.ctx);
            p.matmul(&s.ctx, t, &l.o, Some(&l.o_b), false, &s.tmp);
            p.layer_norm(
                &s.x,
                Some(&s.tmp),
                t,
                d,
                GpuNormParams {
                    gamma: &l.attn_norm_w,
                    beta: &l.attn_norm_b,
                    eps: c.eps,
                },
            );
            p.matmul(&s.x, t, &l.up, Some(&l.up_b), true, &s.ff);
            p.matmul(&s.ff, t, &l.down, Some(&l.down_b), false, &s.tmp);
            p.layer_norm(
                &s.x,
                Some(&s.tmp),
                t,
                d,
                GpuNormParams {
                    gamma: &l.out_norm_w,
                    beta: &l.out_norm_b,
                    eps: c.eps,
                },
            );
        }
        let mode = match pooling {
            // `check_run` above refuses Rank: the head runs on the CPU only.
            Pooling::None | Pooling::Rank => None,
            Pooling::Mean => Some(PoolMode::Mean),
            Pooling::Cls => Some(PoolMode::First),
            Pooling::Last => Some(PoolMode::Last),
        };
        let (src, rows) = match mode {
            None => (&s.x, t),
            Some(mode) => {
                p.pool(&s.x, &s.seq_info, seqs.len(), d, mode, &s.pooled);
                (&s.pooled, seqs.len())
            }
        };
        if normalize {
            p.l2_normalize(src, rows, d);
        }
        p.submit_and_read(src, &mut out[..rows * d])?;
        Ok(())
    }
}

/// The registry's GPU entry for BERT: uploads the weights to `ctx`.
pub(super) fn upload(
    weights: &BertWeights<'_>,
    ctx: Arc<GpuContext>,
) -> Result<Box<dyn GpuEncoder>> {
    Ok(Box::new(weights.to_gpu(ctx)?))
}

impl GpuEncoder for BertGpu {
    fn max_tokens(&self) -> usize {
        BertGpu::max_tokens(self)
    }

    fn context(&self) -> &GpuContext {
        BertGpu::context(self)
    }

    fn weight_bytes(&self) -> u64 {
        BertGpu::weight_bytes(self)
    }

    fn forward(
        &self,
        batch: &CheckedBatch<'_>,
        pooling: Pooling,
        normalize: bool,
        out: &mut [f32],
    ) -> Result<()> {
        BertGpu::forward(self, batch, pooling, normalize, out)
    }
}
