// F32 weights: one value per element.
@group(0) @binding(2) var<storage, read> w: array<f32>;

fn w_at(i: u32) -> f32 {
    return w[i];
}

// Values i..i+4 (i a multiple of 4).
fn w_at4(i: u32) -> vec4<f32> {
    return vec4<f32>(w[i], w[i + 1u], w[i + 2u], w[i + 3u]);
}
