// L2-normalizes each row of x (rows × d) in place: x / max(‖x‖, 1e-12), as the CPU does.
// One workgroup per row; `workgroup_sum` comes from workgroup_sum.wgsl, put in front of this
// file.

struct Params {
    rows: u32,
    d: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let base = wg.x * p.d;
    var s = 0.0;
    for (var c = li; c < p.d; c += 64u) {
        let v = x[base + c];
        s = fma(v, v, s);
    }
    let inv = 1.0 / max(sqrt(workgroup_sum(li, s)), 1e-12);
    for (var c = li; c < p.d; c += 64u) {
        x[base + c] = x[base + c] * inv;
    }
}
