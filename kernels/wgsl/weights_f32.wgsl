// F32 weights: one value per element.
@group(0) @binding(2) var<storage, read> w: array<f32>;

fn w_at(i: u32) -> f32 {
    return w[i];
}
