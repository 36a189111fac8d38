// y (m × n) = x (m × k) · Wᵀ (+ bias) (then exact GELU), W being n rows of k values in one of
// the GGUF storage types (`w_at`, from the weights_*.wgsl snippet put in front of this file).
//
// Tiled through workgroup memory: a 16 × 16 workgroup computes a 64 × 64 tile of y, each
// invocation 4 × 4 outputs (rows ly + 16·i, columns lx + 16·j, so that neighbours store
// neighbouring columns). Every output is one sum over k in increasing order, whatever its
// tile: a row's result does not depend on the batch it is in.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    // bit 0: add bias; bit 1: exact GELU after the bias.
    flags: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// [kk][row] and [kk][col]: the inner loop reads along rows/columns at a fixed kk.
var<workgroup> xs: array<f32, 1024>;
var<workgroup> ws: array<f32, 1024>;

// erfc(|x| / √2): Numerical Recipes' erfcc Chebyshev fit, as the CPU kernels compute it.
fn erfc_abs_x_over_sqrt2(x: f32) -> f32 {
    let ax = min(abs(x), 20.0);
    let t = 1.0 / fma(0.5 * 0.70710678118654752, ax, 1.0);
    var q = 0.17087277;
    q = fma(q, t, -0.82215223);
    q = fma(q, t, 1.48851587);
    q = fma(q, t, -1.13520398);
    q = fma(q, t, 0.27886807);
    q = fma(q, t, -0.18628806);
    q = fma(q, t, 0.09678418);
    q = fma(q, t, 0.37409196);
    q = fma(q, t, 1.00002368);
    q = fma(q, t, -1.26551223);
    let hi = ax * ax;
    let lo = fma(ax, ax, -hi);
    return t * exp(-0.5 * hi) * exp(q) * fma(-0.5, lo, 1.0);
}

// Exact GELU, x · Φ(x), without cancellation for either sign.
fn gelu(v: f32) -> f32 {
    let half_ve = 0.5 * v * erfc_abs_x_over_sqrt2(v);
    return select(half_ve, v - half_ve, v >= 0.0);
}

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var e = li; e < BM * BK; e += 256u) {
            let r = e / BK;
            let kk = e % BK;
            let gr = row0 + r;
            let gk = k0 + kk;
            var v = 0.0;
            if (gr < p.m && gk < p.k) {
                v = x[gr * p.k + gk];
            }
            xs[kk * BM + r] = v;
        }
        for (var e = li; e < BN * BK; e += 256u) {
            let c = e / BK;
            let kk = e % BK;
            let gc = col0 + c;
            let gk = k0 + kk;
            var v = 0.0;
            if (gc < p.n && gk < p.k) {
                v = w_at(gc * p.k + gk);
            }
            ws[kk * BN + c] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = xs[kk * BM + lid.y + 16u * i];
                b[i] = ws[kk * BN + lid.x + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + lid.x + 16u * j;
            if (r < p.m && c < p.n) {
                var v = acc[i * 4u + j];
                if ((p.flags & 1u) != 0u) {
                    v += bias[c];
                }
                if ((p.flags & 2u) != 0u) {
                    v = gelu(v);
                }
                y[r * p.n + c] = v;
            }
        }
    }
}
