// F16 weights as stored in the GGUF file: two halves per 32-bit word, the lower first
// (the upload pads an odd count with one zero half).
@group(0) @binding(2) var<storage, read> w: array<u32>;

fn w_at(i: u32) -> f32 {
    return unpack2x16float(w[i >> 1u])[i & 1u];
}

// Values i..i+4 (i a multiple of 4).
fn w_at4(i: u32) -> vec4<f32> {
    let h = i >> 1u;
    return vec4<f32>(unpack2x16float(w[h]), unpack2x16float(w[h + 1u]));
}
