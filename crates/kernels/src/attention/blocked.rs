//! Flash-style blocked attention, written once over [`Lanes`] and instantiated per ISA.
//!
//! Per KV head, K is packed once into key-tile panels (`d × KT`, keys along the lanes) and V into
//! rows padded to whole vectors; the query heads of that KV head then reuse both (GQA costs no
//! extra packing). Per query tile of `QR` rows, per key tile of [`KT`] keys:
//! 1. `S = Q·Kᵀ` by a register-blocked micro-kernel (`QR × CK` vectors of scores: per head dim
//!    `e`, `CK` panel loads and `QR` broadcasts feed `QR·CK` FMAs);
//! 2. an online-softmax update per row (running max `m`, sum `l`, rescale `α = e^(m_old - m)`),
//!    `S` becomes `P` in place;
//! 3. `O = α·O + P·V` by a second micro-kernel (`QR × DC` vectors of outputs: per key, `DC` V
//!    loads and `QR` broadcasts).
//!
//! K and V are read once per query tile (from L1/L2-resident panels), never per query.
//!
//! Determinism: each score is one FMA chain over `e` in order starting from 0; each output
//! element is `α·O` then one FMA chain over the tile's keys in order; the softmax bookkeeping is
//! plain per-row code. `KT` is the same on every ISA; `QR`, `CK`, `DC` only decide which
//! independent chains run side by side, and a tile a row cannot see is an exact no-op for that
//! row (`α = 1`, `P = 0`). So every ISA, tile shape, head split and sequence neighbour gives the
//! same bits.

use super::AttentionParams;
use super::lanes::{self, L, Lanes};

/// Keys per key tile, the online softmax's block. The rescale points fix the rounding, so this
/// is the same on every ISA; 64 keys keep a `QR × KT` score tile in 16 zmm.
pub(crate) const KT: usize = 64;

/// The blocked kernel for the KV heads `p.kv_heads` (arguments checked by the entry point).
///
/// `QR` query rows per tile, `CK` ≤ 4 score vectors and `DC` ≤ 4 output vectors per
/// micro-kernel call: the register blocking of one ISA.
///
/// # Safety
/// `V`'s ISA must be enabled in the caller; the slices must satisfy `Kernels::attention`'s
/// checks.
#[inline(always)]
pub(crate) unsafe fn attention<V: Lanes, const QR: usize, const CK: usize, const DC: usize>(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let (d, hq, hkv, n) = (p.head_dim, p.n_heads, p.n_kv_heads, p.seq);
    let group = hq / hkv;
    let dp = d.div_ceil(L) * L;
    let nt = n.div_ceil(KT);
    scratch.resize(nt * d * KT + n * dp + QR * KT + QR * dp, 0.0);
    let (kt, rest) = scratch.split_at_mut(nt * d * KT);
    let (vp, rest) = rest.split_at_mut(n * dp);
    let (s, o) = rest.split_at_mut(QR * KT);
    let mut bufs = Bufs {
        kt,
        vp,
        s,
        o,
        d,
        dp,
    };
    for g in p.kv_heads.clone() {
        pack_k(k, g, hkv, d, n, bufs.kt);
        pack_v(v, g, hkv, d, dp, bufs.vp);
        for h in g * group..(g + 1) * group {
            let mut i0 = 0;
            while i0 < n {
                // SAFETY: forwarded contract; buffers sized above.
                unsafe { query_tile::<V, QR, CK, DC>(q, p, mask, h, i0, &mut bufs, out) };
                i0 += QR;
            }
        }
    }
}

/// Scratch of one call: K panels, padded V rows, the score tile, the output accumulators.
struct Bufs<'a> {
    kt: &'a mut [f32],
    vp: &'a mut [f32],
    s: &'a mut [f32],
    o: &'a mut [f32],
    d: usize,
    dp: usize,
}

/// `kt[(t·d + e)·KT + jj] = K[t·KT + jj][g][e]`, zeros past the last key.
fn pack_k(k: &[f32], g: usize, hkv: usize, d: usize, n: usize, kt: &mut [f32]) {
    let tail = n % KT;
    if tail != 0 {
        let t = n / KT;
        for e in 0..d {
            kt[(t * d + e) * KT + tail..(t * d + e + 1) * KT].fill(0.0);
        }
    }
    for j in 0..n {
        let (t, jj) = (j / KT, j % KT);
        let row = &k[(j * hkv + g) * d..][..d];
        for (e, &x) in row.iter().enumerate() {
            kt[(t * d + e) * KT + jj] = x;
        }
    }
}

/// `vp[j·dp + e] = V[j][g][e]`, rows padded with zeros to `dp` (a multiple of `L`).
fn pack_v(v: &[f32], g: usize, hkv: usize, d: usize, dp: usize, vp: &mut [f32]) {
    for (j, row) in vp.chunks_exact_mut(dp).enumerate() {
        row[..d].copy_from_slice(&v[(j * hkv + g) * d..][..d]);
        row[d..].fill(0.0);
    }
}

/// Rows `i0..i0 + QR` (clamped: a tile past the end repeats the last row, discarded) of query
/// head `h`.
///
/// # Safety
/// As [`attention`]; `bufs` sized by it.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `r` indexes several per-row arrays at once
unsafe fn query_tile<V: Lanes, const QR: usize, const CK: usize, const DC: usize>(
    q: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    h: usize,
    i0: usize,
    b: &mut Bufs<'_>,
    out: &mut [f32],
) {
    const { assert!(QR <= L, "the rescale factors of a tile are one vector") };
    let (d, dp, n, hq) = (b.d, b.dp, p.seq, p.n_heads);
    let rows: [usize; QR] = std::array::from_fn(|r| (i0 + r).min(n - 1));
    let qp: [*const f32; QR] = std::array::from_fn(|r| q[(rows[r] * hq + h) * d..][..d].as_ptr());
    let vis: [(usize, usize); QR] = std::array::from_fn(|r| p.visible_keys(rows[r]));
    // Visible ranges grow with the row, so the tile sees the first row's start to the last's end.
    let (lo, hi) = (vis[0].0, vis[QR - 1].1);
    // `s` holds QR·KT floats and `o` QR·dp (see `attention`); both are used only through these
    // pointers until the final copy-out.
    let (sp, op) = (b.s.as_mut_ptr(), b.o.as_mut_ptr());
    let s = |r: usize, len: usize| {
        // SAFETY: row r < QR of the score tile, len <= KT; no other live reference to it.
        unsafe { std::slice::from_raw_parts_mut(sp.add(r * KT), len) }
    };
    // SAFETY: `o` is QR·dp floats, reached only through `op` here.
    unsafe { std::slice::from_raw_parts_mut(op, QR * dp) }.fill(0.0);
    let mut m = [f32::NEG_INFINITY; QR];
    let mut l = [0.0f32; QR];
    let t_end = if lo < hi { hi.div_ceil(KT) } else { 0 };
    for t in lo / KT..t_end {
        let t0 = t * KT;
        let nk = KT.min(n - t0);
        let nv = nk.div_ceil(L);
        // 1. Scores.
        let panel = b.kt[t * d * KT..(t + 1) * d * KT].as_ptr();
        let mut c = 0;
        while c < nv {
            let w = nv - c;
            // SAFETY: vectors c..c + width < nv of the panel rows (len KT) and score rows.
            c += unsafe {
                let (kp, so) = (panel.add(c * L), sp.add(c * L));
                if CK >= 4 && w >= 4 {
                    qk::<V, QR, 4>(&qp, d, kp, so)
                } else if CK >= 3 && w >= 3 {
                    qk::<V, QR, 3>(&qp, d, kp, so)
                } else if CK >= 2 && w >= 2 {
                    qk::<V, QR, 2>(&qp, d, kp, so)
                } else {
                    qk::<V, QR, 1>(&qp, d, kp, so)
                }
            };
        }
        // 2. Online softmax: scale (and mask) the scores and take each row's new max; rescale
        // factors for all rows at once; then P = e^(x - max) and the running sums.
        let mut mn = [f32::NEG_INFINITY; QR];
        for r in 0..QR {
            let (vlo, vhi) = vis[r];
            let sr = s(r, nv * L);
            let mt = if mask.is_none() && vlo <= t0 && t0 + nv * L <= vhi {
                // SAFETY: ISA per this function's contract.
                unsafe { scale_max::<V>(sr, p.scale) }
            } else {
                scale_masked_max(sr, p.scale, mask, t0, vlo, vhi)
            };
            mn[r] = if mt > m[r] { mt } else { m[r] };
        }
        // A row with nothing visible yet keeps α = 1 (and gets P = 0 below): O = 0, l = 0.
        // One vector exp for all rows (QR <= L): a scalar exp per row was ~6 % of the kernel.
        let mut dm = [0.0f32; L];
        for r in 0..QR {
            if mn[r] != f32::NEG_INFINITY {
                dm[r] = m[r] - mn[r];
            }
        }
        // SAFETY: `dm` is L floats; ISA per this function's contract.
        let ea = unsafe { lanes::exp(V::load(dm.as_ptr())).to_array() };
        let alpha: [f32; QR] = std::array::from_fn(|r| ea[r]);
        for r in 0..QR {
            let sr = s(r, nv * L);
            if mn[r] == f32::NEG_INFINITY {
                sr.fill(0.0);
                continue;
            }
            // SAFETY: ISA per this function's contract.
            l[r] = l[r].mul_add(alpha[r], unsafe { exp_sum::<V>(sr, mn[r]) });
            m[r] = mn[r];
        }
        // 3. O = α·O + P·V.
        let nd = dp / L;
        let vt = b.vp[t0 * dp..(t0 + nk) * dp].as_ptr();
        let mut c = 0;
        while c < nd {
            let w = nd - c;
            // SAFETY: vectors c..c + width < nd of V rows t0..t0 + nk (dp wide) and of `o`.
            c += unsafe {
                let (vpc, oc) = (vt.add(c * L), op.add(c * L));
                if DC >= 4 && w >= 4 {
                    pv::<V, QR, 4>(sp, &alpha, vpc, dp, nk, oc)
                } else if DC >= 3 && w >= 3 {
                    pv::<V, QR, 3>(sp, &alpha, vpc, dp, nk, oc)
                } else if DC >= 2 && w >= 2 {
                    pv::<V, QR, 2>(sp, &alpha, vpc, dp, nk, oc)
                } else {
                    pv::<V, QR, 1>(sp, &alpha, vpc, dp, nk, oc)
                }
            };
        }
    }
    for r in 0..QR.min(n - i0) {
        let dst = &mut out[((i0 + r) * hq + h) * d..][..d];
        let src = &b.o[r * dp..r * dp + d];
        if l[r] == 0.0 {
            dst.fill(0.0);
        } else {
            for (y, &x) in dst.iter_mut().zip(src) {
                *y = x / l[r];
            }
        }
    }
}

/// `x = x·scale` over a tile row (a multiple of `L` long); returns the max (exact in any order).
///
/// # Safety
/// `V`'s ISA enabled.
#[inline(always)]
unsafe fn scale_max<V: Lanes>(sr: &mut [f32], scale: f32) -> f32 {
    // SAFETY: each chunk is `L` floats; ISA per the caller.
    unsafe {
        let sc = V::splat(scale);
        let mut acc = V::splat(f32::NEG_INFINITY);
        for c in sr.chunks_exact_mut(L) {
            let x = V::load(c.as_ptr()).mul(sc);
            x.store(c.as_mut_ptr());
            acc = acc.max(x);
        }
        tree(acc.to_array(), |a, b| if a > b { a } else { b })
    }
}

/// [`scale_max`] for a tile row only partly visible (`vlo..vhi`) or with an additive mask:
/// `x = x·scale + mask` where visible, `-inf` elsewhere.
#[inline(always)]
fn scale_masked_max(
    sr: &mut [f32],
    scale: f32,
    mask: Option<&[f32]>,
    t0: usize,
    vlo: usize,
    vhi: usize,
) -> f32 {
    for (j, x) in sr.iter_mut().enumerate() {
        let jj = t0 + j;
        let seen = jj >= vlo && jj < vhi;
        let y = match mask {
            Some(mk) if seen => x.mul_add(scale, mk[jj]),
            _ => *x * scale,
        };
        *x = if seen { y } else { f32::NEG_INFINITY };
    }
    let mut acc = [f32::NEG_INFINITY; L];
    for c in sr.chunks_exact(L) {
        for i in 0..L {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    tree(acc, |a, b| if a > b { a } else { b })
}

/// `x = e^(x - m)` over a tile row; returns the sum: `L` lane sums in order, then a fixed tree.
///
/// Vector code over [`Lanes`] (with [`lanes::exp`], the same bits as `math::exp`): the plain
/// loop it replaces kept the lane sums on the stack, ~15 % of the kernel's time (perf, AVX-512).
///
/// # Safety
/// `V`'s ISA enabled.
#[inline(always)]
unsafe fn exp_sum<V: Lanes>(sr: &mut [f32], m: f32) -> f32 {
    // SAFETY: each chunk is `L` floats; ISA per the caller.
    unsafe {
        let mv = V::splat(m);
        let mut acc = V::zero();
        for c in sr.chunks_exact_mut(L) {
            let e = lanes::exp(V::load(c.as_ptr()).sub(mv));
            e.store(c.as_mut_ptr());
            acc = acc.add(e);
        }
        tree(acc.to_array(), |a, b| a + b)
    }
}

/// Pairwise tree over the lanes (halves folded onto each other): a fixed order.
#[inline(always)]
fn tree(mut v: [f32; L], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut w = L / 2;
    while w > 0 {
        for i in 0..w {
            v[i] = f(v[i], v[i + w]);
        }
        w /= 2;
    }
    v[0]
}

/// Scores of `R` queries against `C` vectors of keys of one panel: `R·C` accumulators, per head
/// dim `C` loads, `R` broadcasts, `R·C` FMAs. Returns `C`.
///
/// # Safety
/// `qp[r]..+d` readable; `kp + e·KT + c·L .. +L` readable for `e < d`, `c < C`;
/// `sp + r·KT + c·L .. +L` writable; `V`'s ISA enabled.
#[inline(always)]
unsafe fn qk<V: Lanes, const R: usize, const C: usize>(
    qp: &[*const f32; R],
    d: usize,
    kp: *const f32,
    sp: *mut f32,
) -> usize {
    // SAFETY: the caller's contract covers every access.
    unsafe {
        let mut acc = [[V::zero(); C]; R];
        for e in 0..d {
            let kr = kp.add(e * KT);
            let mut kv = [V::zero(); C];
            for (c, x) in kv.iter_mut().enumerate() {
                *x = V::load(kr.add(c * L));
            }
            for r in 0..R {
                let x = V::splat(*qp[r].add(e));
                for c in 0..C {
                    acc[r][c] = V::fma(x, kv[c], acc[r][c]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (c, a) in row.iter().enumerate() {
                a.store(sp.add(r * KT + c * L));
            }
        }
    }
    C
}

/// `O = α·O + P·V` for `R` rows and `C` vectors of output dims over the tile's `nk` keys.
/// Returns `C`.
///
/// # Safety
/// `sp + r·KT + j` readable for `j < nk`; `vp + j·dp + c·L .. +L` readable; `op + r·dp + c·L ..
/// +L` readable and writable; `V`'s ISA enabled.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `r`, `c` index the accumulators and pointers alike
unsafe fn pv<V: Lanes, const R: usize, const C: usize>(
    sp: *const f32,
    alpha: &[f32; R],
    vp: *const f32,
    dp: usize,
    nk: usize,
    op: *mut f32,
) -> usize {
    // SAFETY: the caller's contract covers every access.
    unsafe {
        let mut acc = [[V::zero(); C]; R];
        for r in 0..R {
            let a = V::splat(alpha[r]);
            for c in 0..C {
                acc[r][c] = V::load(op.add(r * dp + c * L)).mul(a);
            }
        }
        for j in 0..nk {
            let vr = vp.add(j * dp);
            let mut vv = [V::zero(); C];
            for (c, x) in vv.iter_mut().enumerate() {
                *x = V::load(vr.add(c * L));
            }
            for r in 0..R {
                let w = V::splat(*sp.add(r * KT + j));
                for c in 0..C {
                    acc[r][c] = V::fma(w, vv[c], acc[r][c]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (c, a) in row.iter().enumerate() {
                a.store(op.add(r * dp + c * L));
            }
        }
    }
    C
}
