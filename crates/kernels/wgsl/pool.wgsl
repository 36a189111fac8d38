// Pooling of each packed sequence's token vectors into one: mean, first or last token.
// One invocation per (sequence, column); the mean sums tokens in order.

struct Params {
    n_seq: u32,
    d: u32,
    // 0: mean, 1: first token (CLS), 2: last token.
    mode: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// Per sequence: its first token and length.
@group(0) @binding(4) var<storage, read> seqs: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let s = wg.y;
    let c = wg.x * 64u + li;
    if (s >= p.n_seq || c >= p.d) {
        return;
    }
    let start = seqs[2u * s];
    let len = seqs[2u * s + 1u];
    var v = 0.0;
    if (p.mode == 1u) {
        v = x[start * p.d + c];
    } else if (p.mode == 2u) {
        v = x[(start + len - 1u) * p.d + c];
    } else {
        for (var t = 0u; t < len; t++) {
            v += x[(start + t) * p.d + c];
        }
        v = v / f32(len);
    }
    out[s * p.d + c] = v;
}
