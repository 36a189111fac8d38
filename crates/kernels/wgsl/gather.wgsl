// Embedding lookup: y[t] (+)= W[row(t)] for every token t, W being a table of rows of `d`
// values in one of the GGUF storage types (`w_at`, from the weights_*.wgsl snippet put in
// front of this file). One workgroup row per token, 64 columns per workgroup.

struct Params {
    t: u32,
    d: u32,
    // bit 0: the row is idx[t] (else row 0 for every token); bit 1: add to y instead of
    // overwriting it.
    flags: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = wg.y;
    let c = wg.x * 64u + li;
    if (t >= p.t || c >= p.d) {
        return;
    }
    var row = 0u;
    if ((p.flags & 1u) != 0u) {
        row = idx[t];
    }
    let v = w_at(row * p.d + c);
    if ((p.flags & 2u) != 0u) {
        y[t * p.d + c] += v;
    } else {
        y[t * p.d + c] = v;
    }
}
