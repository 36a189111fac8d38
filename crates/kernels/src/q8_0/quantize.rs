//! Every Q8_0 quantizer of the crate: weight rows into ggml's blocks ([`quantize_row_q8_0`]) and
//! activations for the integer matmuls ([`quantize_halves`], [`quantize_blocks`]), all with
//! ggml's rounding (`d = amax/127`, `id = d != 0 ? 1/d : 0`, `q = roundf(x·id)`). The
//! activation bodies are `#[inline(always)]`; each tier's module compiles them for its ISA
//! (`target_fns!`) into its [`super::Table`].

use half::f16;

use super::QK_ACT;
use crate::block::{BlockQ8_0, QK8_0};

/// Quantizes one row into Q8_0 blocks, bit-identical to ggml's `quantize_row_q8_0_ref`.
///
/// `d = amax / 127` (f32), `id = d != 0 ? 1/d : 0`, `q = roundf(x * id)` (half away from zero,
/// saturated to i8 like C's conversion on the values ggml can produce), and `d` is stored rounded
/// to f16.
///
/// # Panics
/// If `x.len()` is not `32 * out.len()`.
pub fn quantize_row_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    assert_eq!(
        x.len(),
        out.len() * QK8_0,
        "quantize_row_q8_0: x.len() must be 32 * out.len()"
    );
    for (xb, ob) in x.chunks_exact(QK8_0).zip(out.iter_mut()) {
        let (d, qs) = quantize_block::<QK8_0>(xb.try_into().expect("chunk of 32"));
        ob.d = f16::from_f32(d);
        ob.qs = qs;
    }
}

/// ggml's `d = amax/127`, `id = d != 0 ? 1/d : 0`, `q = roundf(x·id)` over `N` values; `d` in f32.
#[inline(always)]
fn quantize_block<const N: usize>(x: &[f32; N]) -> (f32, [i8; N]) {
    let (d, id) = group_scale(x);
    (d, x.map(|v| round_to_i8(v * id)))
}

/// ggml's scale of one group: `(d, id)` with `d = amax/127` and `id = d != 0 ? 1/d : 0`.
/// The fold is ggml's `MAX` from 0, value by value (a NaN replaces the running maximum); for
/// finite values max is exact and order-independent, so a lane-parallel max gives ggml's amax.
#[inline(always)]
fn group_scale(xs: &[f32]) -> (f32, f32) {
    let mut amax = 0.0f32;
    for &v in xs {
        let a = v.abs();
        amax = if amax > a { amax } else { a };
    }
    let d = amax / 127.0;
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}

/// One group's `N` codes `q = roundf(x·id)`, also stored as `q + 128` (u8) for the u8×i8 dot.
/// `N` is a constant so that the loop keeps its fixed trip count (unrolled and vectorized).
#[inline(always)]
fn group_codes<const N: usize>(xs: &[f32], id: f32, q: &mut [i8], u: &mut [u8]) {
    for i in 0..N {
        let c = round_to_i8(xs[i] * id);
        q[i] = c;
        u[i] = (c as u8) ^ 0x80;
    }
}

/// `roundf(t) as i8` (half away from zero; saturating; NaN → 0), bit for bit, without the libm
/// call that `f32::round` becomes on baseline x86-64, so the quantizer vectorizes.
///
/// After clamping to [-128, 127] and mapping NaN to 0, `i = trunc(c)` and `f = c - i` are exact
/// (|c| < 2²³), and `roundf` adds one away from zero exactly when `|f| ≥ 0.5`. The conversion is
/// `to_int_unchecked`: Rust's checked `as i32` (saturating, NaN-aware) is scalarized by LLVM lane
/// by lane, which made activation quantization ~20 % of a MiniLM forward pass.
#[inline(always)]
pub(crate) fn round_to_i8(t: f32) -> i8 {
    let c = t.clamp(-128.0, 127.0);
    let c = if c.is_nan() { 0.0 } else { c };
    // SAFETY: `c` is finite and within [-128, 127] (NaN replaced by 0 above).
    let i: i32 = unsafe { c.to_int_unchecked() };
    let f = c - i as f32;
    (i + i32::from(f >= 0.5) - i32::from(f <= -0.5)) as i8
}

/// Activation quantization for the Q8_0 matmul (see [`super::QuantizedActivations`]): per 16
/// values `d = amax/127`, `id = d != 0 ? 1/d : 0`, `q = roundf(x·id)`; codes also stored as
/// `q + 128` (u8). `x.len() == qs.len() == qu8.len() == 16 · d.len()`.
#[inline(always)]
pub(crate) fn quantize_halves(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32]) {
    const B: usize = QK_ACT;
    for (((xs, q), u), ds) in x
        .chunks_exact(B)
        .zip(qs.chunks_exact_mut(B))
        .zip(qu8.chunks_exact_mut(B))
        .zip(d.iter_mut())
    {
        let (dv, id) = group_scale(xs);
        *ds = dv;
        group_codes::<B>(xs, id, q, u);
    }
}

/// X quantized as llama.cpp quantizes it for the types it dots with Q8_0 activations (those of
/// `QuantType::block_activations`): ggml's `quantize_row_q8_0_ref` per 32 values — `d =
/// amax/127`, `id = d != 0 ? 1/d : 0`, `q = roundf(x·id)` — with `d` rounded to f16 as ggml
/// stores it, written as the two (equal) scales of the block's halves, so the matmuls read it as
/// any [`super::QuantizedActivations`]. `x.len() == qs.len() == qu8.len() == 16 · d.len()`.
///
/// Why not our finer one scale per 16 values: on MiniLM Q4_0 that scored p1 0.907512 against
/// sentence-transformers where llama.cpp scores 0.908719 (the bar is llama.cpp − 0.001); with
/// llama.cpp's blocks we score 0.909722 (mean 0.963427, llama.cpp 0.963396) and agree with
/// llama.cpp's own embeddings to 0.99986 instead of 0.99976 (`scripts/quant-accuracy.sh`).
#[inline(always)]
pub(crate) fn quantize_blocks(x: &[f32], qs: &mut [i8], qu8: &mut [u8], d: &mut [f32]) {
    for (((xs, q), u), ds) in x
        .chunks_exact(32)
        .zip(qs.chunks_exact_mut(32))
        .zip(qu8.chunks_exact_mut(32))
        .zip(d.chunks_exact_mut(2))
    {
        let (dv, id) = group_scale(xs);
        ds.fill(half::f16::from_f32(dv).to_f32());
        group_codes::<32>(xs, id, q, u);
    }
}

#[cfg(test)]
mod tests {
    use super::round_to_i8;

    #[test]
    fn round_to_i8_is_roundf_then_saturating_cast() {
        let mut cases = vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            0.0,
            -0.0,
            0.5,
            -0.5,
            0.499_999_97,
            -0.499_999_97,
            126.5,
            127.5,
            -127.5,
            -128.5,
            1e-45,
        ];
        // Every f32 in [-130, 130] with a fine stride, plus all halves and their neighbours.
        let mut t = -130.0f32;
        while t <= 130.0 {
            cases.push(t);
            t += 1.0 / 1024.0;
        }
        for h in -262..=262 {
            let v = h as f32 * 0.5;
            cases.extend([v, v.next_up(), v.next_down()]);
        }
        for v in cases {
            assert_eq!(round_to_i8(v), v.round() as i8, "{v:e}");
        }
    }
}
