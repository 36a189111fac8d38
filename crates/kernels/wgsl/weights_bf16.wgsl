// BF16 weights as stored in the GGUF file: two per 32-bit word, the lower first. A bf16 is
// the upper half of an f32, so widening is a shift.
@group(0) @binding(2) var<storage, read> w: array<u32>;

fn w_at(i: u32) -> f32 {
    return bitcast<f32>((w[i >> 1u] >> ((i & 1u) * 16u)) << 16u);
}

// Values i..i+4 (i a multiple of 4).
fn w_at4(i: u32) -> vec4<f32> {
    let a = w[i >> 1u];
    let b = w[(i >> 1u) + 1u];
    return bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
}
