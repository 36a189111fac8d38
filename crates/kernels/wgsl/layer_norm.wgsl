// LayerNorm of each row of x (t × d), in place, optionally after adding a residual r:
// x = LN(x + r) · gamma + beta. One workgroup per row; mean, then the variance of the
// deviations (two passes, as the CPU kernels do, so no cancellation). `workgroup_sum` comes
// from workgroup_sum.wgsl, put in front of this file.

struct Params {
    t: u32,
    d: u32,
    // bit 0: add r first.
    flags: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let base = wg.x * p.d;
    var s = 0.0;
    for (var c = li; c < p.d; c += 64u) {
        var v = x[base + c];
        if ((p.flags & 1u) != 0u) {
            v += r[base + c];
            x[base + c] = v;
        }
        s += v;
    }
    let mean = workgroup_sum(li, s) / f32(p.d);
    var s2 = 0.0;
    for (var c = li; c < p.d; c += 64u) {
        let dv = x[base + c] - mean;
        s2 = fma(dv, dv, s2);
    }
    let inv = 1.0 / sqrt(workgroup_sum(li, s2) / f32(p.d) + p.eps);
    for (var c = li; c < p.d; c += 64u) {
        x[base + c] = fma((x[base + c] - mean) * inv, gamma[c], beta[c]);
    }
}
