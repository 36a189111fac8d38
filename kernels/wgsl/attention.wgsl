// Softmax attention over packed variable-length sequences: each token attends to the keys of
// its own sequence only (no padding, nothing across sequences). One workgroup per (query
// token, head); keys in blocks of 64, one per invocation, with an online softmax (running
// maximum and sum) so any sequence length fits in fixed workgroup memory. Grouped-query heads:
// query head h reads key/value head h / (n_head / n_kv_head).
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
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
// Per token: its sequence's first token and length.
@group(0) @binding(4) var<storage, read> tok_seq: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const BLOCK: u32 = 64u;
// Largest head width: 4 output values per invocation.
const MAX_HEAD_DIM: u32 = 256u;

var<workgroup> qv: array<f32, MAX_HEAD_DIM>;
var<workgroup> sc: array<f32, BLOCK>;
var<workgroup> pr: array<f32, BLOCK>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = wg.x;
    let h = wg.y;
    let hd = p.head_dim;
    let start = tok_seq[2u * i];
    var len = tok_seq[2u * i + 1u];
    if ((p.flags & 1u) != 0u) {
        len = i - start + 1u;
    }
    let kvh = h / (p.n_head / p.n_kv_head);
    let q_off = i * p.q_stride + h * hd;
    for (var d = li; d < hd; d += BLOCK) {
        qv[d] = q[q_off + d] * p.scale;
    }
    workgroupBarrier();

    var m = -3.0e38;
    var l = 0.0;
    var acc: array<f32, 4>;
    for (var a = 0u; a < 4u; a++) {
        acc[a] = 0.0;
    }
    for (var kb = 0u; kb < len; kb += BLOCK) {
        let nk = min(BLOCK, len - kb);
        var s = -3.0e38;
        if (li < nk) {
            let k_off = (start + kb + li) * p.kv_stride + kvh * hd;
            var dot = 0.0;
            for (var d = 0u; d < hd; d++) {
                dot = fma(qv[d], k[k_off + d], dot);
            }
            s = dot;
        }
        sc[li] = s;
        workgroupBarrier();
        var bm = m;
        for (var j = 0u; j < nk; j++) {
            bm = max(bm, sc[j]);
        }
        var pj = 0.0;
        if (li < nk) {
            pj = exp(sc[li] - bm);
        }
        pr[li] = pj;
        workgroupBarrier();
        let alpha = exp(m - bm);
        var bs = 0.0;
        for (var j = 0u; j < nk; j++) {
            bs += pr[j];
        }
        l = fma(l, alpha, bs);
        for (var a = 0u; a < 4u; a++) {
            let d = li + a * BLOCK;
            if (d < hd) {
                var o = acc[a] * alpha;
                let v_off = (start + kb) * p.kv_stride + kvh * hd + d;
                for (var j = 0u; j < nk; j++) {
                    o = fma(pr[j], v[v_off + j * p.kv_stride], o);
                }
                acc[a] = o;
            }
        }
        m = bm;
        workgroupBarrier();
    }
    let inv = 1.0 / l;
    for (var a = 0u; a < 4u; a++) {
        let d = li + a * BLOCK;
        if (d < hd) {
            out[q_off + d] = acc[a] * inv;
        }
    }
}
