// Softmax attention over packed variable-length sequences: each token attends to the keys of
// its own sequence only (no padding, nothing across sequences). Grouped-query heads: query
// head h reads key/value head h / (n_head / n_kv_head).
//
// One invocation per (query token, head, 32-wide slice of the head): it walks its sequence's
// keys in order with an online softmax (running maximum and sum), keeping its slice of the
// output in registers; a head wider than 32 has each slice recompute the scores. No workgroup
// memory and no barriers: a cooperative form (a workgroup per query and head, 64 keys per
// block, three barriers per block) ran 4× slower on Mesa's lavapipe, the driver CI tests on
// (0.09 against 0.37 GFLOP/s; examples/gpu_ops_time.rs). Neighbouring invocations are
// neighbouring queries of one head, which read the same keys.
//
// A query's result depends only on its own sequence's keys and values, in a fixed order: the
// same text gives the same bits whatever it is batched with.

struct Params {
    n_head: u32,
    n_kv_head: u32,
    head_dim: u32,
    // Row strides of q/out and of k/v, in values.
    q_stride: u32,
    kv_stride: u32,
    // bit 0: causal (a query sees keys up to its own position).
    flags: u32,
    scale: f32,
    // Tokens.
    t: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
// Per token: its sequence's first token and length.
@group(0) @binding(4) var<storage, read> tok_seq: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const SLICE: u32 = 32u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.t) {
        return;
    }
    let h = gid.y;
    let d0 = gid.z * SLICE;
    let hd = p.head_dim;
    let width = min(SLICE, hd - d0);
    let start = tok_seq[2u * i];
    var len = tok_seq[2u * i + 1u];
    if ((p.flags & 1u) != 0u) {
        len = i - start + 1u;
    }
    let kvh = h / (p.n_head / p.n_kv_head);
    let q_off = i * p.q_stride + h * hd;
    let kv_head = kvh * hd;

    var m = -3.0e38;
    var l = 0.0;
    var acc: array<f32, 32>;
    for (var d = 0u; d < SLICE; d++) {
        acc[d] = 0.0;
    }
    for (var j = 0u; j < len; j++) {
        let k_off = (start + j) * p.kv_stride + kv_head;
        var s = 0.0;
        for (var d = 0u; d < hd; d++) {
            s = fma(q[q_off + d], k[k_off + d], s);
        }
        s *= p.scale;
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let pj = exp(s - m_new);
        l = fma(l, corr, pj);
        let v_off = k_off + d0;
        for (var d = 0u; d < width; d++) {
            acc[d] = fma(pj, v[v_off + d], acc[d] * corr);
        }
        m = m_new;
    }
    let inv = 1.0 / l;
    for (var d = 0u; d < width; d++) {
        out[q_off + d0 + d] = acc[d] * inv;
    }
}
