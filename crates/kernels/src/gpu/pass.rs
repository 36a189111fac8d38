//! [`GpuPass`]: a recorded sequence of operations, submitted at once.

use wgpu::util::DeviceExt;

use super::context::{GpuContext, GpuError, Pipeline, Shader};
use super::weights::{GpuBuffer, GpuMatrix};

/// Rows and columns of y per matmul workgroup (8 × 8 invocations of 4 × 4 outputs).
const MATMUL_TILE: usize = 32;
/// Invocations of the one-dimensional shaders.
const GROUP: usize = 64;
/// Widest attention head `attention.wgsl` handles.
pub const MAX_HEAD_DIM: usize = 256;

/// The pooling of [`GpuPass::pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// Mean of the sequence's token vectors.
    Mean,
    /// The first token's vector.
    First,
    /// The last token's vector.
    Last,
}

/// Heads and strides of [`GpuPass::attention`].
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (dividing `n_head`).
    pub n_kv_head: usize,
    /// Values per head (at most 256).
    pub head_dim: usize,
    /// Row stride of the queries and of the output, in values.
    pub q_stride: usize,
    /// Row stride of the keys and values, in values.
    pub kv_stride: usize,
    /// Whether a query sees only keys up to its own position.
    pub causal: bool,
    /// Multiplier of the scores, usually `1/√head_dim`.
    pub scale: f32,
}

/// A LayerNorm's parameters on the device, for [`GpuPass::layer_norm`] (rows of `d` values:
/// `gamma` and `beta` hold at least `d`).
#[derive(Clone, Copy, Debug)]
pub struct GpuNormParams<'a> {
    /// Per-column scale.
    pub gamma: &'a GpuBuffer,
    /// Per-column shift.
    pub beta: &'a GpuBuffer,
    /// Added to the variance before the square root.
    pub eps: f32,
}

/// The device buffers [`GpuPass::attention`] reads: queries (`t` rows of `q_stride`), keys and
/// values (`t` rows of `kv_stride`), and per token its sequence's first token and length (`2t`
/// values).
#[derive(Clone, Copy, Debug)]
pub struct GpuAttentionInputs<'a> {
    /// Queries.
    pub q: &'a GpuBuffer,
    /// Keys.
    pub k: &'a GpuBuffer,
    /// Values.
    pub v: &'a GpuBuffer,
    /// `(first token, length)` of each token's sequence.
    pub tok_seq: &'a GpuBuffer,
}

struct Dispatch<'c> {
    pipeline: &'c Pipeline,
    params: [u32; 8],
    bindings: Vec<(u32, wgpu::Buffer)>,
    groups: [u32; 3],
}

/// Operations recorded for one submission. Each operation reads what the previous ones wrote
/// (wgpu orders the dispatches); nothing runs until [`GpuPass::submit_and_read`].
///
/// The recording methods check their operands' sizes and panic on a mismatch, like the CPU
/// kernels: the caller sizes the buffers.
pub struct GpuPass<'c> {
    ctx: &'c GpuContext,
    ops: Vec<Dispatch<'c>>,
}

fn groups(n: usize, per: usize) -> u32 {
    u32::try_from(n.div_ceil(per)).expect("GpuPass: too many workgroups")
}

fn u(v: usize) -> u32 {
    u32::try_from(v).expect("GpuPass: size above u32")
}

impl std::fmt::Debug for GpuPass<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuPass")
            .field("ops", &self.ops.len())
            .finish()
    }
}

impl<'c> GpuPass<'c> {
    /// An empty pass on `ctx`.
    pub fn new(ctx: &'c GpuContext) -> GpuPass<'c> {
        GpuPass {
            ctx,
            ops: Vec::new(),
        }
    }

    fn push(
        &mut self,
        pipeline: &'c Pipeline,
        params: [u32; 8],
        bindings: Vec<(u32, wgpu::Buffer)>,
        groups: [u32; 3],
    ) {
        let max = 65535;
        assert!(
            groups.iter().all(|&g| g <= max),
            "GpuPass: {groups:?} workgroups exceed the 65535 per dimension every device allows"
        );
        if groups.contains(&0) {
            return;
        }
        self.ops.push(Dispatch {
            pipeline,
            params,
            bindings,
            groups,
        });
    }

    /// `y (m × n) = x (m × k) · wᵀ (+ bias)`, then exact GELU if `gelu`.
    pub fn matmul(
        &mut self,
        x: &GpuBuffer,
        m: usize,
        w: &GpuMatrix,
        bias: Option<&GpuBuffer>,
        gelu: bool,
        y: &GpuBuffer,
    ) {
        let (k, n) = (w.k, w.n);
        assert!(
            x.len >= m * k,
            "matmul: x holds {} values, needs {m} × {k}",
            x.len
        );
        assert!(
            y.len >= m * n,
            "matmul: y holds {} values, needs {m} × {n}",
            y.len
        );
        if let Some(b) = bias {
            assert!(
                b.len >= n,
                "matmul: bias of {} values for {n} outputs",
                b.len
            );
        }
        let mut bindings = vec![(1, x.buf.clone())];
        w.bind(&mut bindings);
        bindings.push((4, bias.map_or(self.ctx.dummy.clone(), |b| b.buf.clone())));
        bindings.push((5, y.buf.clone()));
        let flags = u32::from(bias.is_some()) | (u32::from(gelu) << 1);
        self.push(
            self.ctx.pipeline(Shader::Matmul(w.kind)),
            [u(m), u(n), u(k), flags, 0, 0, 0, 0],
            bindings,
            [groups(n, MATMUL_TILE), groups(m, MATMUL_TILE), 1],
        );
    }

    /// Embedding lookup: row `t` of `y` (`t × table.k`) is set to (or, with `accumulate`,
    /// increased by) row `idx[t]` of `table` (row 0 for every token when `idx` is `None`).
    ///
    /// The caller checks that every index is below `table.n()`.
    pub fn gather(
        &mut self,
        table: &GpuMatrix,
        idx: Option<&GpuBuffer>,
        t: usize,
        accumulate: bool,
        y: &GpuBuffer,
    ) {
        let d = table.k;
        assert!(
            y.len >= t * d,
            "gather: y holds {} values, needs {t} × {d}",
            y.len
        );
        if let Some(i) = idx {
            assert!(i.len >= t, "gather: {} indices for {t} rows", i.len);
        }
        let mut bindings = vec![(1, idx.map_or(self.ctx.dummy.clone(), |i| i.buf.clone()))];
        table.bind(&mut bindings);
        bindings.push((5, y.buf.clone()));
        let flags = u32::from(idx.is_some()) | (u32::from(accumulate) << 1);
        self.push(
            self.ctx.pipeline(Shader::Gather(table.kind)),
            [u(t), u(d), flags, 0, 0, 0, 0, 0],
            bindings,
            [groups(d, GROUP), u(t), 1],
        );
    }

    /// `x = LayerNorm(x (+ residual)) · gamma + beta` over rows of `d` values (`t` rows).
    pub fn layer_norm(
        &mut self,
        x: &GpuBuffer,
        residual: Option<&GpuBuffer>,
        t: usize,
        d: usize,
        norm: GpuNormParams<'_>,
    ) {
        let GpuNormParams { gamma, beta, eps } = norm;
        assert!(
            x.len >= t * d,
            "layer_norm: x holds {} values, needs {t} × {d}",
            x.len
        );
        if let Some(r) = residual {
            assert!(
                r.len >= t * d,
                "layer_norm: residual holds {} values",
                r.len
            );
        }
        assert!(
            gamma.len >= d && beta.len >= d,
            "layer_norm: gamma/beta shorter than {d}"
        );
        let bindings = vec![
            (
                1,
                residual.map_or(self.ctx.dummy.clone(), |r| r.buf.clone()),
            ),
            (2, gamma.buf.clone()),
            (3, beta.buf.clone()),
            (5, x.buf.clone()),
        ];
        self.push(
            self.ctx.pipeline(Shader::LayerNorm),
            [
                u(t),
                u(d),
                u32::from(residual.is_some()),
                eps.to_bits(),
                0,
                0,
                0,
                0,
            ],
            bindings,
            [u(t), 1, 1],
        );
    }

    /// Attention of `t` packed tokens: `inputs.tok_seq` holds, per token, its sequence's first
    /// token and length (`2t` values); every token attends to its own sequence only.
    pub fn attention(
        &mut self,
        inputs: GpuAttentionInputs<'_>,
        t: usize,
        shape: &AttentionShape,
        out: &GpuBuffer,
    ) {
        let GpuAttentionInputs { q, k, v, tok_seq } = inputs;
        let s = shape;
        assert!(
            s.head_dim >= 1 && s.head_dim <= MAX_HEAD_DIM,
            "attention: head width {} outside 1..={MAX_HEAD_DIM}",
            s.head_dim
        );
        assert!(
            s.n_kv_head >= 1 && s.n_head.is_multiple_of(s.n_kv_head),
            "attention: {} kv heads for {} heads",
            s.n_kv_head,
            s.n_head
        );
        assert!(s.q_stride >= s.n_head * s.head_dim && s.kv_stride >= s.n_kv_head * s.head_dim);
        assert!(
            q.len >= t * s.q_stride && out.len >= t * s.q_stride,
            "attention: q/out too short"
        );
        assert!(
            k.len >= t * s.kv_stride && v.len >= t * s.kv_stride,
            "attention: k/v too short"
        );
        assert!(tok_seq.len >= 2 * t, "attention: tok_seq too short");
        let bindings = vec![
            (1, q.buf.clone()),
            (2, k.buf.clone()),
            (3, v.buf.clone()),
            (4, tok_seq.buf.clone()),
            (5, out.buf.clone()),
        ];
        self.push(
            self.ctx.pipeline(Shader::Attention),
            [
                u(s.n_head),
                u(s.n_kv_head),
                u(s.head_dim),
                u(s.q_stride),
                u(s.kv_stride),
                u32::from(s.causal),
                s.scale.to_bits(),
                u(t),
            ],
            bindings,
            [groups(t, GROUP), u(s.n_head), groups(s.head_dim, 32)],
        );
    }

    /// Pools `n_seq` packed sequences of `x` (rows of `d`) into `out` (`n_seq × d`); `seqs`
    /// holds each sequence's first token and length (`2·n_seq` values).
    pub fn pool(
        &mut self,
        x: &GpuBuffer,
        seqs: &GpuBuffer,
        n_seq: usize,
        d: usize,
        mode: PoolMode,
        out: &GpuBuffer,
    ) {
        assert!(seqs.len >= 2 * n_seq, "pool: seqs too short");
        assert!(out.len >= n_seq * d, "pool: out too short");
        let mode = match mode {
            PoolMode::Mean => 0,
            PoolMode::First => 1,
            PoolMode::Last => 2,
        };
        let bindings = vec![
            (1, x.buf.clone()),
            (4, seqs.buf.clone()),
            (5, out.buf.clone()),
        ];
        self.push(
            self.ctx.pipeline(Shader::Pool),
            [u(n_seq), u(d), mode, 0, 0, 0, 0, 0],
            bindings,
            [groups(d, GROUP), u(n_seq), 1],
        );
    }

    /// L2-normalizes `rows` rows of `d` values of `x` in place.
    pub fn l2_normalize(&mut self, x: &GpuBuffer, rows: usize, d: usize) {
        assert!(x.len >= rows * d, "l2_normalize: x too short");
        self.push(
            self.ctx.pipeline(Shader::L2Normalize),
            [u(rows), u(d), 0, 0, 0, 0, 0, 0],
            vec![(5, x.buf.clone())],
            [u(rows), 1, 1],
        );
    }

    /// Runs the recorded operations, then copies the first `out.len()` values of `src` into
    /// `out`. Blocks until the device is done.
    ///
    /// # Errors
    /// Whatever the device reports (validation, out of memory, lost device).
    pub fn submit_and_read(self, src: &GpuBuffer, out: &mut [f32]) -> Result<(), GpuError> {
        let ctx = self.ctx;
        assert!(
            out.len() <= src.len,
            "submit_and_read: reading past the buffer"
        );
        let stride = ctx.uniform_align();
        let mut params = vec![0u8; (self.ops.len().max(1) as u64 * stride) as usize];
        for (i, op) in self.ops.iter().enumerate() {
            let at = i * stride as usize;
            for (j, p) in op.params.iter().enumerate() {
                params[at + 4 * j..at + 4 * j + 4].copy_from_slice(&p.to_le_bytes());
            }
        }
        let uniforms = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: &params,
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let bind_groups: Vec<wgpu::BindGroup> = self
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &uniforms,
                        offset: i as u64 * stride,
                        size: wgpu::BufferSize::new(32),
                    }),
                }];
                entries.extend(op.bindings.iter().map(|(b, buf)| wgpu::BindGroupEntry {
                    binding: *b,
                    resource: buf.as_entire_binding(),
                }));
                ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &op.pipeline.layout,
                    entries: &entries,
                })
            })
            .collect();
        let bytes = (out.len() * 4) as u64;
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            for (op, bg) in self.ops.iter().zip(&bind_groups) {
                pass.set_pipeline(&op.pipeline.pipeline);
                pass.set_bind_group(0, bg, &[]);
                pass.dispatch_workgroups(op.groups[0], op.groups[1], op.groups[2]);
            }
        }
        if bytes > 0 {
            encoder.copy_buffer_to_buffer(&src.buf, 0, &staging, 0, bytes);
        }
        ctx.queue.submit([encoder.finish()]);
        ctx.check()?;
        if bytes == 0 {
            return Ok(());
        }
        let (tx, rx) = std::sync::mpsc::channel();
        staging
            .slice(..bytes)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Device(e.to_string()))?;
        ctx.check()?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(GpuError::Device(format!("readback: {e}"))),
            Err(_) => return Err(GpuError::Device("readback never completed".into())),
        }
        {
            let view = staging
                .slice(..bytes)
                .get_mapped_range()
                .map_err(|e| GpuError::Device(format!("readback: {e}")))?;
            for (o, c) in out.iter_mut().zip(view.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        staging.unmap();
        Ok(())
    }
}
