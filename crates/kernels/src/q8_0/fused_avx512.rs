//! The AVX-512 tier's activation quantizer for the fused epilogues: 16 groups of 16 values at a
//! time, lane-parallel, the same bits as [`quantize_act_sums`](crate::q8_0::quantize::quantize_act_sums).
//!
//! Why by hand: one group at a time, each group's `amax` and `Σq` are horizontal reductions and
//! its two divisions scalar — ~75 instructions and a ~120-cycle dependency chain per 16 values,
//! which LLVM does not batch across groups (asked to, it vectorizes the `amax` loop with gathers,
//! 1.8× slower). Here each group is one zmm; the 16 groups' `amax` and `Σq` come out of a
//! transpose-reduction (45 shuffles and max/add for all 16, see [`reduce16`]) as one vector, so
//! `d = amax/127`, `id = 1/d` and `d·Σq` are single vector operations.
//!
//! **Bits.** Every value is computed by the same IEEE operations as the generic body: `amax` is
//! the exact maximum of the `|x|` (max is exact and order-free; a batch holding a NaN takes the
//! generic body, whose in-order fold is what makes NaN order-dependent), `d = amax / 127`
//! (`vdivps`, correctly rounded like `divss`), `id = d != 0 ? 1/d : 0`, `t = x · id`, and
//! `round_to_i8`'s steps (NaN → 0, clamp to [-128, 127], truncate, round half away from zero on
//! the exact fraction). `Σq` is an exact integer sum, `d · Σq` one rounding. No approximate
//! instruction (`rcp14`, `rsqrt14`) is used. `tests/q8_0_fused.rs` checks the tiers against the
//! scalar one bit for bit.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::q8_0::QK_ACT;

/// Values per batch: 16 groups of [`QK_ACT`].
const BATCH: usize = 16 * QK_ACT;

/// Combines 16 vectors `v[j]` into one whose lane `p(j) = 4·(j % 4) + j / 4` is the maximum
/// (`ADD = false`, of f32) or the i32 sum (`ADD = true`) of the 16 lanes of `v[j]` (see
/// [`UNPERMUTE`]).
///
/// Four levels, each pairing vectors and combining their halves: 512 → 256-bit halves
/// (`shuffle_f32x4`), 256 → 128, then within 128-bit lanes (`shuffle_ps`). Both operations are
/// exact and order-free here (max of non-NaN values, integer add), so the tree's order does not
/// change the result.
///
/// # Safety
/// The CPU must support AVX-512 F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn reduce16<const ADD: bool>(v: &[__m512; 16]) -> __m512 {
    #[inline(always)]
    fn op<const ADD: bool>(a: __m512, b: __m512) -> __m512 {
        // SAFETY: only inlined into `reduce16`, which requires AVX-512 F.
        unsafe {
            if ADD {
                _mm512_castsi512_ps(_mm512_add_epi32(
                    _mm512_castps_si512(a),
                    _mm512_castps_si512(b),
                ))
            } else {
                _mm512_max_ps(a, b)
            }
        }
    }
    // Level 1: lanes 0..8 of m[p] are partials of group 2p, lanes 8..16 of group 2p + 1.
    let mut m = [_mm512_setzero_ps(); 8];
    for (p, mp) in m.iter_mut().enumerate() {
        let (a, b) = (v[2 * p], v[2 * p + 1]);
        *mp = op::<ADD>(
            _mm512_shuffle_f32x4::<0x44>(a, b),
            _mm512_shuffle_f32x4::<0xEE>(a, b),
        );
    }
    // Level 2: 128-bit chunk c of n[p] holds 4 partials of group 4p + c.
    let mut n = [_mm512_setzero_ps(); 4];
    for (p, np) in n.iter_mut().enumerate() {
        let (a, b) = (m[2 * p], m[2 * p + 1]);
        *np = op::<ADD>(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xDD>(a, b),
        );
    }
    // Level 3: chunk c of o[p] = [g(8p + c) ×2, g(8p + 4 + c) ×2].
    let mut o = [_mm512_setzero_ps(); 2];
    for (p, out) in o.iter_mut().enumerate() {
        let (a, b) = (n[2 * p], n[2 * p + 1]);
        *out = op::<ADD>(
            _mm512_shuffle_ps::<0x44>(a, b),
            _mm512_shuffle_ps::<0xEE>(a, b),
        );
    }
    // Level 4: chunk c = [g(c), g(4 + c), g(8 + c), g(12 + c)]: lane 4c + t is group 4t + c.
    op::<ADD>(
        _mm512_shuffle_ps::<0x88>(o[0], o[1]),
        _mm512_shuffle_ps::<0xDD>(o[0], o[1]),
    )
}

/// Lane `j` of the result is lane `p(j) = 4·(j % 4) + j / 4` of [`reduce16`]'s output.
const UNPERMUTE: [i32; 16] = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];

/// Quantizes `x` (a multiple of 16 values) into `q`/`u`/`d`/`sums`/`dsums` as
/// [`quantize_act_sums`](crate::q8_0::quantize::quantize_act_sums) does, 16 groups per step; a
/// tail of fewer groups is run as a zero-padded batch (zeros quantize to zero codes, and only the
/// tail's groups are copied out), a batch holding a NaN through that generic body.
///
/// # Safety
/// The CPU must support AVX-512 F and BW.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline]
pub(super) unsafe fn quantize_act_sums(
    x: &[f32],
    q: &mut [i8],
    u: &mut [u8],
    d: &mut [f32],
    sums: &mut [i32],
    dsums: &mut [f32],
) {
    let groups = x.len() / QK_ACT;
    let full = groups / 16;
    for b in 0..full {
        let (o, s) = (b * BATCH, b * 16);
        // SAFETY: AVX-512, as this function requires.
        unsafe {
            batch(
                &x[o..o + BATCH],
                &mut q[o..o + BATCH],
                &mut u[o..o + BATCH],
                &mut d[s..s + 16],
                &mut sums[s..s + 16],
                &mut dsums[s..s + 16],
            )
        };
    }
    let (o, s) = (full * BATCH, full * 16);
    let n = groups - s;
    if n > 0 {
        let mut xb = [0.0f32; BATCH];
        xb[..n * QK_ACT].copy_from_slice(&x[o..o + n * QK_ACT]);
        let (mut qb, mut ub) = ([0i8; BATCH], [0u8; BATCH]);
        let (mut db, mut sb, mut dsb) = ([0.0f32; 16], [0i32; 16], [0.0f32; 16]);
        // SAFETY: as above.
        unsafe { batch(&xb, &mut qb, &mut ub, &mut db, &mut sb, &mut dsb) };
        q[o..o + n * QK_ACT].copy_from_slice(&qb[..n * QK_ACT]);
        u[o..o + n * QK_ACT].copy_from_slice(&ub[..n * QK_ACT]);
        d[s..s + n].copy_from_slice(&db[..n]);
        sums[s..s + n].copy_from_slice(&sb[..n]);
        dsums[s..s + n].copy_from_slice(&dsb[..n]);
    }
}

/// One batch: `x`, `q`, `u` hold [`BATCH`] values, `d`, `sums`, `dsums` 16.
///
/// # Safety
/// The CPU must support AVX-512 F and BW.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline]
unsafe fn batch(
    x: &[f32],
    q: &mut [i8],
    u: &mut [u8],
    d: &mut [f32],
    sums: &mut [i32],
    dsums: &mut [f32],
) {
    assert!(x.len() == BATCH && q.len() == BATCH && u.len() == BATCH);
    assert!(d.len() == 16 && sums.len() == 16 && dsums.len() == 16);
    let abs_mask = _mm512_set1_epi32(0x7fff_ffff);
    // SAFETY: UNPERMUTE is 16 i32 (64 bytes).
    let unpermute = unsafe { _mm512_loadu_si512(UNPERMUTE.as_ptr().cast()) };
    let (lo, hi) = (_mm512_set1_ps(-128.0), _mm512_set1_ps(127.0));
    let (half, neg_half) = (_mm512_set1_ps(0.5), _mm512_set1_ps(-0.5));
    let one = _mm512_set1_epi32(1);
    let flip = _mm_set1_epi8(-128);
    let mut v = [_mm512_setzero_ps(); 16];
    for (j, vj) in v.iter_mut().enumerate() {
        // SAFETY: `x` holds BATCH = 16 · 16 values.
        *vj = unsafe { _mm512_loadu_ps(x.as_ptr().add(16 * j)) };
    }
    let mut nan: __mmask16 = 0;
    for &vj in &v {
        nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(vj, vj);
    }
    if nan != 0 {
        crate::q8_0::quantize::quantize_act_sums(x, q, u, d, sums, dsums);
        return;
    }
    let mut a = [_mm512_setzero_ps(); 16];
    for (aj, &vj) in a.iter_mut().zip(&v) {
        *aj = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(vj), abs_mask));
    }
    // SAFETY: AVX-512 F, as this function requires.
    let amax = _mm512_permutexvar_ps(unpermute, unsafe { reduce16::<false>(&a) });
    let dv = _mm512_div_ps(amax, _mm512_set1_ps(127.0));
    let nz = _mm512_cmp_ps_mask::<_CMP_NEQ_OQ>(dv, _mm512_setzero_ps());
    let id = _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0), dv);
    let mut c = [_mm512_setzero_ps(); 16];
    for j in 0..16 {
        let idj = _mm512_permutexvar_ps(_mm512_set1_epi32(j as i32), id);
        let t = _mm512_mul_ps(v[j], idj);
        // round_to_i8: NaN → 0 (first: max/min would drop a NaN), clamp, truncate, and
        // one more away from zero when the exact fraction is at least one half.
        let t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_ORD_Q>(t, t), t);
        let t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
        let i = _mm512_cvttps_epi32(t);
        let f = _mm512_sub_ps(t, _mm512_cvtepi32_ps(i));
        let i = _mm512_mask_add_epi32(i, _mm512_cmp_ps_mask::<_CMP_GE_OQ>(f, half), i, one);
        let i = _mm512_mask_sub_epi32(i, _mm512_cmp_ps_mask::<_CMP_LE_OQ>(f, neg_half), i, one);
        let codes = _mm512_cvtepi32_epi8(i);
        // SAFETY: codes 16j .. 16j + 16 are within `q` and `u` (BATCH long).
        unsafe {
            _mm_storeu_si128(q.as_mut_ptr().add(16 * j).cast(), codes);
            _mm_storeu_si128(
                u.as_mut_ptr().add(16 * j).cast(),
                _mm_xor_si128(codes, flip),
            );
        }
        c[j] = _mm512_castsi512_ps(i);
    }
    // SAFETY: AVX-512 F, as this function requires.
    let sum = unsafe { reduce16::<true>(&c) };
    let sum = _mm512_castps_si512(_mm512_permutexvar_ps(unpermute, sum));
    let ds = _mm512_mul_ps(dv, _mm512_cvtepi32_ps(sum));
    // SAFETY: `d`, `sums` and `dsums` hold 16 values.
    unsafe {
        _mm512_storeu_ps(d.as_mut_ptr(), dv);
        _mm512_storeu_si512(sums.as_mut_ptr().cast(), sum);
        _mm512_storeu_ps(dsums.as_mut_ptr(), ds);
    }
}
