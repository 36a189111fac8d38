// Q8_0 weights: blocks of 32 int8 values sharing one f16 scale, as in the GGUF file. A block
// is 34 bytes there, which no 32-bit array can index; the upload splits each block into its
// 32 quants (8 words, `w_qs`) and its scale (two per word in `w_d`, the lower first), same
// bits. Dequantized here exactly as the CPU does: f32(q) * f32(d).
@group(0) @binding(2) var<storage, read> w_qs: array<u32>;
@group(0) @binding(3) var<storage, read> w_d: array<u32>;

fn w_at(i: u32) -> f32 {
    let b = i >> 5u;
    let j = i & 31u;
    let q = extractBits(bitcast<i32>(w_qs[(b << 3u) + (j >> 2u)]), (j & 3u) * 8u, 8u);
    return f32(q) * unpack2x16float(w_d[b >> 1u])[b & 1u];
}

// Values i..i+4 (i a multiple of 4): one word of quants, one scale.
fn w_at4(i: u32) -> vec4<f32> {
    let b = i >> 5u;
    let word = bitcast<i32>(w_qs[i >> 2u]);
    let q = vec4<i32>(
        extractBits(word, 0u, 8u),
        extractBits(word, 8u, 8u),
        extractBits(word, 16u, 8u),
        extractBits(word, 24u, 8u),
    );
    return vec4<f32>(q) * unpack2x16float(w_d[b >> 1u])[b & 1u];
}
