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
    scale_of(amax_fold(xs))
}

/// ggml's `amax`: `MAX` from 0, value by value, in order.
#[inline(always)]
fn amax_fold(xs: &[f32]) -> f32 {
    let mut amax = 0.0f32;
    for &v in xs {
        let a = v.abs();
        amax = if amax > a { amax } else { a };
    }
    amax
}

/// `(d, id)` from a group's `amax`: `d = amax/127`, `id = d != 0 ? 1/d : 0`.
#[inline(always)]
fn scale_of(amax: f32) -> (f32, f32) {
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

/// Activations with their code sums, for a fused epilogue: per 16 values of `x` (a multiple of
/// 16 long) `d = amax/127`, `id = d != 0 ? 1/d : 0`, `q = roundf(x·id)` (also as `q + 128`),
/// `Σq` and `d · Σq` — the bits of [`quantize_halves`] then the sums of
/// `QuantizedActivations::quantize_scaled`, on every ISA. `q`, `u` hold `x.len()` codes; `d`,
/// `sums`, `dsums` at least `x.len() / 16` values.
///
/// One group at a time, each in registers: `amax` by [`group_amax`]'s tree, `Σq` by a tree too.
/// (Batching 16 groups so that their scales are one vector division made LLVM vectorize the
/// `amax` across groups with gathers: 1.8× slower in `benches/epilogue.rs`.)
#[inline(always)]
pub(crate) fn quantize_act_sums(
    x: &[f32],
    q: &mut [i8],
    u: &mut [u8],
    d: &mut [f32],
    sums: &mut [i32],
    dsums: &mut [f32],
) {
    const B: usize = QK_ACT;
    for (((xs, (q, u)), d), (s, ds)) in x
        .chunks_exact(B)
        .zip(q.chunks_exact_mut(B).zip(u.chunks_exact_mut(B)))
        .zip(d.iter_mut())
        .zip(sums.iter_mut().zip(dsums.iter_mut()))
    {
        let xs: &[f32; B] = xs.try_into().expect("16-value group");
        let (dv, id) = scale_of(group_amax(xs));
        group_codes::<B>(xs, id, q, u);
        let sum: i32 = q.iter().map(|&v| i32::from(v)).sum();
        *d = dv;
        *s = sum;
        *ds = dv * sum as f32;
    }
}

/// ggml's `amax` of one group (the fold of [`group_scale`]) without its serial chain.
///
/// The fold `amax = amax > a ? amax : a` from 0 is the exact maximum of the `|x|` when no value
/// is NaN (max is exact and order-free; every `|x|` ≥ +0, the start), which a pairwise tree gives
/// in 4 vector steps. A NaN makes the fold order-dependent (it replaces the running maximum),
/// so a group with one takes the in-order fold: the same bits for every input.
#[inline(always)]
fn group_amax(xs: &[f32; QK_ACT]) -> f32 {
    let mut a = xs.map(f32::abs);
    // abs values are ≥ 0 or NaN: their sum is NaN exactly when one is (no inf - inf).
    let mut t = a;
    let mut w = QK_ACT / 2;
    while w > 0 {
        for i in 0..w {
            t[i] += t[i + w];
            a[i] = if a[i] > a[i + w] { a[i] } else { a[i + w] };
        }
        w /= 2;
    }
    if t[0].is_nan() { amax_fold(xs) } else { a[0] }
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
        // The tree `amax` (same bits as `group_scale`'s fold, without its serial chain).
        let (dv, id) = scale_of(group_amax(xs.try_into().expect("16-value group")));
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
    fn group_amax_is_the_in_order_fold() {
        let fold = |g: &[f32; 16]| {
            let mut amax = 0.0f32;
            for v in g {
                let a = v.abs();
                amax = if amax > a { amax } else { a };
            }
            amax
        };
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            1e-45,
            -3.5,
        ];
        for seed in 0..4000u32 {
            let mut g = [0.0f32; 16];
            for (i, v) in g.iter_mut().enumerate() {
                let h = (seed.wrapping_mul(2_654_435_761) ^ (i as u32).wrapping_mul(40_503)) >> 3;
                *v = (h % 2001) as f32 * 0.01 - 10.0;
                if h.is_multiple_of(13) {
                    *v = specials[(h / 13) as usize % specials.len()];
                }
            }
            let (got, want) = (super::group_amax(&g), fold(&g));
            assert!(got.to_bits() == want.to_bits(), "{g:?}: {got} vs {want}");
        }
    }

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
