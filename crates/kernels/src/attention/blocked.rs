//! Flash-style blocked attention, written once over [`Lanes`] and instantiated per ISA.
//!
//! Queries run along the lanes: a query tile is one or two vectors of consecutive queries
//! (`QT = 16` or `32`), so the whole online softmax is lane-wise vector code with no horizontal
//! reduction and no per-row scalar bookkeeping. Per KV head, K and V are copied once into
//! contiguous rows (`dp` floats, `head_dim` padded to whole vectors); the query heads of that KV
//! head then reuse both (GQA costs no extra packing). Per query tile, `Qᵀ` (`d × QT`) is
//! transposed once (16 × 16 register transposes); then per key tile of [`KT`] keys:
//! 1. `Sᵀ = K·Qᵀ` by a register-blocked micro-kernel ([`scores`]: `J` keys × `QV` query vectors
//!    of accumulators; per head dim `QV` loads of `Qᵀ` and `J` broadcasts of K feed `J·QV`
//!    FMAs), scaled (and masked) in its epilogue, which also keeps the tile's running max;
//! 2. the online-softmax update per query vector (running max `m`, sum `l`, rescale
//!    `α = e^(m_old - m)`); `Sᵀ` becomes `Pᵀ` in place ([`exp_tile`]);
//! 3. `O = α·O + P·V` by a second micro-kernel ([`pv`]: `R` rows × `C` vectors of output dims;
//!    per key `C` V loads and `R` broadcasts of `Pᵀ`).
//!
//! Determinism: each score is one FMA chain over `e` in order starting from 0, then `·scale`
//! (or `fma(·, scale, mask)`); each tile's sum of `P` is, per `c = j mod 16`, a chain over the
//! tile's keys `j` in order, then a fixed pairwise tree over `c` ([`exp_tile`]); each output
//! element is `α·O` then one FMA chain over the tile's keys in order; `exp` is `math::exp` bit
//! for bit. `KT` is the same on every ISA; the tile shapes only decide which independent chains
//! run side by side, and a tile a query cannot see is an exact no-op for it (`α = 1`, `P = 0`).
//! So every ISA, tile shape, head split and sequence neighbour gives the same bits — the same
//! bits, too, as the previous keys-along-lanes kernel, whose lane sums and lane tree this
//! order transposes.

use super::AttentionParams;
use super::lanes::{self, L, Lanes};

/// Keys per key tile, the online softmax's block. The rescale points fix the rounding, so this
/// is the same on every ISA.
pub(crate) const KT: usize = 64;

/// Query lanes of the widest query tile (two vectors).
const QT_MAX: usize = 2 * L;

/// The blocked kernel for the KV heads `p.kv_heads` (arguments checked by the entry point).
///
/// Register blocking of one ISA: query tiles of up to `QV` ≤ 2 vectors; [`scores`] over `J1`
/// keys for one query vector and `J2` keys for two; [`pv`] over `R` rows × `C` output vectors.
///
/// # Safety
/// `V`'s ISA must be enabled in the caller; the slices must satisfy `Kernels::attention`'s
/// checks.
#[inline(always)]
pub(crate) unsafe fn attention<
    V: Lanes,
    const QV: usize,
    const J1: usize,
    const J2: usize,
    const R: usize,
    const C: usize,
>(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    const { assert!(QV == 1 || QV == 2, "one or two query vectors per tile") };
    let (d, hq, hkv, n) = (p.head_dim, p.n_heads, p.n_kv_heads, p.seq);
    if n == 0 {
        return;
    }
    let group = hq / hkv;
    let dp = d.div_ceil(L) * L;
    let qt = QV * L;
    scratch.resize(2 * n * dp + d * qt + KT * qt + qt * dp, 0.0);
    let (kp, rest) = scratch.split_at_mut(n * dp);
    let (vp, rest) = rest.split_at_mut(n * dp);
    let (qtb, rest) = rest.split_at_mut(d * qt);
    let (s, o) = rest.split_at_mut(KT * qt);
    let mut bufs = Bufs {
        kp,
        vp,
        qt: qtb,
        s,
        o,
        d,
        dp,
    };
    let tile = |i0: usize| if QV == 2 && n - i0 > L { 2 * L } else { L };
    let kvs = p.kv_heads.clone();
    for g in kvs.clone() {
        // SAFETY: ISA per this function's contract.
        unsafe { pack_kv::<V>(k, v, g, hkv, d, dp, bufs.kp, bufs.vp) };
        for h in g * group..(g + 1) * group {
            let last_of_group = h + 1 == (g + 1) * group;
            let mut i0 = 0;
            while i0 < n {
                let w = tile(i0);
                // Prefetches, so that the transposes and copies do not wait on cache misses (they
                // were ~25 % of the kernel at MiniLM's shape, perf, AVX-512): the next query
                // tile's rows, and during the last query head of a group, a slice of the next
                // KV head's K and V rows per tile.
                // SAFETY: ISA per this function's contract; rows and heads in range.
                unsafe {
                    if i0 + w < n {
                        prefetch_rows::<V>(q, i0 + w..(i0 + w + tile(i0 + w)).min(n), h, hq, d);
                    } else if h + 1 < kvs.end * group {
                        prefetch_rows::<V>(q, 0..tile(0).min(n), h + 1, hq, d);
                    }
                    if last_of_group && g + 1 < kvs.end {
                        // Both have n rows: this tile's share of them is its own rows.
                        let rows = i0..(i0 + w).min(n);
                        prefetch_rows::<V>(k, rows.clone(), g + 1, hkv, d);
                        prefetch_rows::<V>(v, rows, g + 1, hkv, d);
                    }
                }
                // SAFETY: forwarded contract; buffers sized above for `QV` vectors.
                i0 += unsafe {
                    if w == 2 * L {
                        query_tile::<V, 2, J2, R, C>(q, p, mask, h, i0, &mut bufs, out)
                    } else {
                        query_tile::<V, 1, J1, R, C>(q, p, mask, h, i0, &mut bufs, out)
                    }
                };
            }
        }
    }
}

/// Prefetches rows `rows` of head `h` of a token-major `x` (`heads · d` floats per token).
///
/// # Safety
/// `V`'s ISA enabled.
#[inline(always)]
unsafe fn prefetch_rows<V: Lanes>(
    x: &[f32],
    rows: std::ops::Range<usize>,
    h: usize,
    heads: usize,
    d: usize,
) {
    for i in rows {
        let r = &x[(i * heads + h) * d..][..d];
        // Every 64-byte line of the row, also when the row does not start on a line.
        let mut c = 0;
        while c < d {
            // SAFETY: `c < d`: inside the row; ISA per the caller.
            unsafe { V::prefetch(r.as_ptr().add(c)) };
            c += 16;
        }
        // SAFETY: as above.
        unsafe { V::prefetch(r.as_ptr().add(d - 1)) };
    }
}

/// Scratch of one call: K and V rows of one KV head, `Qᵀ` of a query tile, the `Sᵀ`/`Pᵀ` tile
/// (key-major, `QT` floats per key), the output accumulators (`dp` floats per query row).
struct Bufs<'a> {
    kp: &'a mut [f32],
    vp: &'a mut [f32],
    qt: &'a mut [f32],
    s: &'a mut [f32],
    o: &'a mut [f32],
    d: usize,
    dp: usize,
}

/// `kp[j·dp + e] = K[j][g][e]` and `vp[j·dp + e] = V[j][g][e]`, rows padded with zeros to
/// `dp` (a multiple of `L`).
///
/// The source rows are `hkv·d` floats apart and usually not cached (the QKV projection wrote
/// them a while ago): a plain copy (which LLVM turns into a `memcpy` call per row) waited on
/// their misses, ~18 % of the kernel at MiniLM's shape (perf, AVX-512). So K and V are copied in
/// one loop, [`PREFETCH_ROWS`] rows behind a prefetch.
///
/// # Safety
/// `V`'s ISA enabled.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // two sources, two destinations, the head and its shape
unsafe fn pack_kv<V: Lanes>(
    k: &[f32],
    v: &[f32],
    g: usize,
    hkv: usize,
    d: usize,
    dp: usize,
    kp: &mut [f32],
    vp: &mut [f32],
) {
    let n = kp.len() / dp;
    let full = d / L * L;
    for j in 0..n {
        let at = |j: usize| (j * hkv + g) * d;
        if j + PREFETCH_ROWS < n {
            // SAFETY: ISA per this function's contract.
            unsafe {
                prefetch_rows::<V>(k, j + PREFETCH_ROWS..j + PREFETCH_ROWS + 1, g, hkv, d);
                prefetch_rows::<V>(v, j + PREFETCH_ROWS..j + PREFETCH_ROWS + 1, g, hkv, d);
            }
        }
        let (ks, vs) = (&k[at(j)..][..d], &v[at(j)..][..d]);
        let (kr, vr) = (&mut kp[j * dp..][..dp], &mut vp[j * dp..][..dp]);
        for c in (0..full).step_by(L) {
            // SAFETY: `c + L <= d` floats of the sources and of the rows (`d <= dp`).
            unsafe {
                V::load(ks.as_ptr().add(c)).store(kr.as_mut_ptr().add(c));
                V::load(vs.as_ptr().add(c)).store(vr.as_mut_ptr().add(c));
            }
        }
        for e in full..d {
            (kr[e], vr[e]) = (ks[e], vs[e]);
        }
        kr[d..].fill(0.0);
        vr[d..].fill(0.0);
    }
}

/// How far ahead [`pack_kv`] and the query tiles prefetch (rows).
const PREFETCH_ROWS: usize = 8;

/// Queries `i0..i0 + 16·QV` (clamped: lanes past the end repeat the last query, discarded) of
/// query head `h`. Returns the lanes of the tile.
///
/// # Safety
/// As [`attention`]; `bufs` sized by it for at least `QV` vectors.
#[inline(always)]
unsafe fn query_tile<V: Lanes, const QV: usize, const J: usize, const R: usize, const C: usize>(
    q: &[f32],
    p: &AttentionParams,
    mask: Option<&[f32]>,
    h: usize,
    i0: usize,
    b: &mut Bufs<'_>,
    out: &mut [f32],
) -> usize {
    let qt = QV * L;
    let (d, dp, n, hq) = (b.d, b.dp, p.seq, p.n_heads);
    let rows = (n - i0).min(qt);
    let row = |lane: usize| (i0 + lane).min(n - 1);
    // SAFETY: ISA per this function's contract; `qt` holds d·QT floats.
    unsafe { pack_qt::<V, QV>(q, |lane| (row(lane) * hq + h) * d, d, b.qt) };
    // Visible key ranges, per lane as floats (exact: keys < 2^24, see `check_args`). They grow
    // with the query, so the tile sees the first query's start to the last one's end, and every
    // query sees all of `t0..t0 + nk` if the last query sees its start and the first its end.
    let vis = |lane: usize| p.visible_keys(row(lane));
    let (lo_first, hi_first) = vis(0);
    let (lo_last, hi_last) = vis(rows - 1);
    // SAFETY: ISA per this function's contract; every pointer stays inside the buffers sized
    // by `attention` (`s` KT·QT, `o` QT·dp, K/V rows n·dp).
    unsafe {
        let (mut lo, mut hi) = ([0.0f32; QT_MAX], [0.0f32; QT_MAX]);
        for lane in 0..qt {
            let (a, z) = vis(lane);
            (lo[lane], hi[lane]) = (a as f32, z as f32);
        }
        let mut ep = Epilogue {
            scale: V::splat(p.scale),
            lo: [V::zero(); QV],
            hi: [V::zero(); QV],
            mask,
        };
        for vq in 0..QV {
            ep.lo[vq] = V::load(lo.as_ptr().add(vq * L));
            ep.hi[vq] = V::load(hi.as_ptr().add(vq * L));
        }
        let (sp, op) = (b.s.as_mut_ptr(), b.o.as_mut_ptr());
        b.o[..rows * dp].fill(0.0);
        let mut m = [V::splat(f32::NEG_INFINITY); QV];
        let mut l = [V::zero(); QV];
        let mut alpha = [0.0f32; QT_MAX];
        let t_end = if lo_first < hi_last {
            hi_last.div_ceil(KT)
        } else {
            0
        };
        for t in lo_first / KT..t_end {
            let t0 = t * KT;
            let nk = KT.min(n - t0);
            let full = mask.is_none() && lo_last <= t0 && t0 + nk <= hi_first;
            // 1. Scores and the tile's max per query.
            let mut mx = [V::splat(f32::NEG_INFINITY); QV];
            let mut j = 0;
            while j < nk {
                let w = nk - j;
                let (kj, sj) = (b.kp.as_ptr().add((t0 + j) * dp), sp.add(j * qt));
                let key = t0 + j;
                j += if w >= J {
                    scores::<V, QV, J>(b.qt.as_ptr(), d, kj, dp, sj, &ep, full, key, &mut mx)
                } else if J > 4 && w >= 4 {
                    scores::<V, QV, 4>(b.qt.as_ptr(), d, kj, dp, sj, &ep, full, key, &mut mx)
                } else {
                    scores::<V, QV, 1>(b.qt.as_ptr(), d, kj, dp, sj, &ep, full, key, &mut mx)
                };
            }
            // 2. Online softmax, lane-wise. A query with nothing visible yet keeps α = 1 and
            // gets P = 0: O = 0, l = 0.
            let finite = V::splat(f32::MIN);
            for vq in 0..QV {
                let mn = mx[vq].max(m[vq]);
                let a = lanes::exp_nonpos(m[vq].sub(mn).keep_ge(mn, finite, V::zero()));
                let mz = mn.keep_ge(mn, finite, V::zero());
                let sum = exp_tile(sp.add(vq * L), qt, nk, mz);
                l[vq] = V::fma(l[vq], a, sum);
                m[vq] = mn;
                a.store(alpha.as_mut_ptr().add(vq * L));
            }
            // 3. O = α·O + P·V.
            let vt = b.vp.as_ptr().add(t0 * dp);
            pv_rows::<V, R, C>(sp, qt, &alpha, vt, dp, nk, op, rows);
        }
        let mut lsum = [0.0f32; QT_MAX];
        for (vq, x) in l.iter().enumerate() {
            x.store(lsum.as_mut_ptr().add(vq * L));
        }
        let full = d / L * L;
        for (r, &lr) in lsum[..rows].iter().enumerate() {
            let dst = &mut out[((i0 + r) * hq + h) * d..][..d];
            let src = &b.o[r * dp..r * dp + d];
            if lr == 0.0 {
                dst.fill(0.0);
            } else {
                // Whole vectors (LLVM's own loop used half-width divides and twice the stores).
                let lv = V::splat(lr);
                for c in (0..full).step_by(L) {
                    V::load(src.as_ptr().add(c))
                        .div(lv)
                        .store(dst.as_mut_ptr().add(c));
                }
                for (y, &x) in dst[full..].iter_mut().zip(&src[full..]) {
                    *y = x / lr;
                }
            }
        }
    }
    qt
}

/// `qt[e·QT + lane] = q[row_off(lane) + e]` for the tile's `16·QV` lanes: 16 × 16 transposes
/// of the rows, the head-dim tail element by element.
///
/// # Safety
/// `V`'s ISA enabled; `row_off(lane) + d <= q.len()`; `qt` holds `d·QT` floats.
#[inline(always)]
unsafe fn pack_qt<V: Lanes, const QV: usize>(
    q: &[f32],
    row_off: impl Fn(usize) -> usize,
    d: usize,
    qt: &mut [f32],
) {
    let w = QV * L;
    let full = d / L * L;
    for v in 0..QV {
        let rows: [&[f32]; L] = std::array::from_fn(|i| &q[row_off(v * L + i)..][..d]);
        let ptrs = rows.map(|r| r.as_ptr());
        for c in (0..full).step_by(L) {
            // SAFETY: `c + 16 <= d` floats of every row; rows c..c + 16 of `qt`, lanes v·L..
            unsafe { V::transpose16(&ptrs, c, qt.as_mut_ptr().add(c * w + v * L), w) };
        }
        for e in full..d {
            for (i, r) in rows.iter().enumerate() {
                qt[e * w + v * L + i] = r[e];
            }
        }
    }
}

/// What the score epilogue needs: the scale, each lane's visible keys `lo..hi` (as floats), the
/// additive per-key mask.
struct Epilogue<'a, V, const QV: usize> {
    scale: V,
    lo: [V; QV],
    hi: [V; QV],
    mask: Option<&'a [f32]>,
}

/// Scores of the tile's `QV` query vectors against the `J` keys from `key` (rows at `kp`):
/// `J·QV` accumulators, per head dim `QV` loads, `J` broadcasts, `J·QV` FMAs. Stores
/// `x = s·scale` (`fma(s, scale, mask)` with a mask; `-inf` where a lane cannot see the key) to
/// `sp + jx·QT` and folds it into the running max `mx`. Returns `J`.
///
/// # Safety
/// `qt + e·QT .. + QT` readable for `e < d`; `kp + jx·dp + e` readable for `jx < J`, `e < d`;
/// `sp + jx·QT .. + QT` writable; `key + J <= mask.len()` with a mask; `V`'s ISA enabled.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // one micro-kernel call: pointers, strides, epilogue
#[allow(clippy::needless_range_loop)] // `jx`, `vq` index the accumulators and pointers alike
unsafe fn scores<V: Lanes, const QV: usize, const J: usize>(
    qt: *const f32,
    d: usize,
    kp: *const f32,
    dp: usize,
    sp: *mut f32,
    ep: &Epilogue<'_, V, QV>,
    full: bool,
    key: usize,
    mx: &mut [V; QV],
) -> usize {
    let w = QV * L;
    // SAFETY: the caller's contract covers every access.
    unsafe {
        let mut acc = [[V::zero(); QV]; J];
        // Unrolled by 4 so the `J` key-row pointers advance once per 4 head dims (LLVM keeps
        // one pointer per key row; their increments competed with the FMAs for ports).
        let mut e = 0;
        while e + 4 <= d {
            for u in 0..4 {
                qk_step(&mut acc, qt.add((e + u) * w), kp.add(e + u), dp);
            }
            e += 4;
        }
        while e < d {
            qk_step(&mut acc, qt.add(e * w), kp.add(e), dp);
            e += 1;
        }
        let ninf = V::splat(f32::NEG_INFINITY);
        for jx in 0..J {
            let (jf, jf1) = (V::splat((key + jx) as f32), V::splat((key + jx + 1) as f32));
            for vq in 0..QV {
                let x = if full {
                    acc[jx][vq].mul(ep.scale)
                } else {
                    let y = match ep.mask {
                        Some(mk) => V::fma(acc[jx][vq], ep.scale, V::splat(mk[key + jx])),
                        None => acc[jx][vq].mul(ep.scale),
                    };
                    // Visible iff lo <= key < hi, i.e. key >= lo and hi >= key + 1.
                    y.keep_ge(jf, ep.lo[vq], ninf).keep_ge(ep.hi[vq], jf1, ninf)
                };
                x.store(sp.add(jx * w + vq * L));
                mx[vq] = mx[vq].max(x);
            }
        }
    }
    J
}

/// One head dim of [`scores`]: `acc[jx][vq] += Qᵀ[e][vq] · K[jx][e]`.
///
/// # Safety
/// `qe .. + QV·L` readable; `ke + jx·dp` readable for `jx < J`; `V`'s ISA enabled.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `jx`, `vq` index the accumulators and vectors alike
unsafe fn qk_step<V: Lanes, const QV: usize, const J: usize>(
    acc: &mut [[V; QV]; J],
    qe: *const f32,
    ke: *const f32,
    dp: usize,
) {
    // SAFETY: the caller's contract covers every access.
    unsafe {
        let mut qv = [V::zero(); QV];
        for (vq, x) in qv.iter_mut().enumerate() {
            *x = V::load(qe.add(vq * L));
        }
        for jx in 0..J {
            let kb = V::splat(*ke.add(jx * dp));
            for vq in 0..QV {
                acc[jx][vq] = V::fma(qv[vq], kb, acc[jx][vq]);
            }
        }
    }
}

/// `P = e^(x - m)` in place over one query vector's `nk` scores (`sp + j·stride`); returns their
/// sum in the fixed order: for each `c < 16` a chain over the keys `j ≡ c (mod 16)` in order
/// (from 0), then the pairwise tree over `c` that folds halves onto each other (`c` with
/// `c + 8`, then `+ 4`, `+ 2`, `+ 1`). That is exactly the previous kernel's per-lane sums
/// (keys along the lanes) and lane tree, transposed, so the bits did not change.
///
/// # Safety
/// `sp + j·stride .. + L` readable and writable for `j < nk`; `V`'s ISA enabled.
#[inline(always)]
unsafe fn exp_tile<V: Lanes>(sp: *mut f32, stride: usize, nk: usize, m: V) -> V {
    // Plain loops, no closures: a closure is not inlined into the ISA's entry point and its
    // intrinsics became calls (6× slower).
    // SAFETY: forwarded contract.
    unsafe {
        let mut half = [V::zero(); 2];
        for (i, hv) in half.iter_mut().enumerate() {
            let mut quad = [V::zero(); 2];
            for (k, qv) in quad.iter_mut().enumerate() {
                let c = i + 2 * k;
                let a = exp_chain(sp, stride, nk, m, c).add(exp_chain(sp, stride, nk, m, c + 8));
                let b =
                    exp_chain(sp, stride, nk, m, c + 4).add(exp_chain(sp, stride, nk, m, c + 12));
                *qv = a.add(b);
            }
            *hv = quad[0].add(quad[1]);
        }
        half[0].add(half[1])
    }
}

/// `P = e^(x - m)` in place for the keys `j ≡ c (mod 16)`, `j < nk`; returns their sum in order.
///
/// # Safety
/// As [`exp_tile`].
#[inline(always)]
unsafe fn exp_chain<V: Lanes>(sp: *mut f32, stride: usize, nk: usize, m: V, c: usize) -> V {
    // SAFETY: the caller's contract covers every `j < nk`.
    unsafe {
        let mut acc = V::zero();
        let mut j = c;
        while j < nk {
            let x = sp.add(j * stride);
            let e = lanes::exp_nonpos(V::load(x).sub(m));
            e.store(x);
            acc = acc.add(e);
            j += L;
        }
        acc
    }
}

/// [`pv`] over the tile's `rows` query rows, in blocks of `R` (then 4, then 1) rows × `C` (then
/// 1) output vectors.
///
/// # Safety
/// As [`pv`] for every block; `alpha` holds the rows' rescale factors.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // forwards the micro-kernel's pointers and strides
unsafe fn pv_rows<V: Lanes, const R: usize, const C: usize>(
    pt: *const f32,
    qt: usize,
    alpha: &[f32; QT_MAX],
    vt: *const f32,
    dp: usize,
    nk: usize,
    op: *mut f32,
    rows: usize,
) {
    let nd = dp / L;
    let mut r0 = 0;
    while r0 < rows {
        let rr = rows - r0;
        let mut c = 0;
        while c < nd {
            let wide = nd - c >= C;
            // SAFETY: rows r0.. and vectors c.. of the caller's buffers, within `rows` and `nd`.
            c += unsafe {
                let (p, a, vc, oc) = (
                    pt.add(r0),
                    alpha.as_ptr().add(r0),
                    vt.add(c * L),
                    op.add(r0 * dp + c * L),
                );
                match (rr >= R, R > 4 && rr >= 4, wide) {
                    (true, _, true) => pv::<V, R, C>(p, qt, a, vc, dp, nk, oc),
                    (true, _, false) => pv::<V, R, 1>(p, qt, a, vc, dp, nk, oc),
                    (false, true, true) => pv::<V, 4, C>(p, qt, a, vc, dp, nk, oc),
                    (false, true, false) => pv::<V, 4, 1>(p, qt, a, vc, dp, nk, oc),
                    (false, false, true) => pv::<V, 1, C>(p, qt, a, vc, dp, nk, oc),
                    (false, false, false) => pv::<V, 1, 1>(p, qt, a, vc, dp, nk, oc),
                }
            };
        }
        r0 += if rr >= R {
            R
        } else if R > 4 && rr >= 4 {
            4
        } else {
            1
        };
    }
}

/// `O = α·O + P·V` for `R` rows and `C` vectors of output dims over the tile's `nk` keys:
/// per key `C` loads of V, `R` broadcasts of `Pᵀ`, `R·C` FMAs. Returns `C`.
///
/// # Safety
/// `pt + j·qt + r` readable for `j < nk`, `r < R`; `alpha + r` readable; `vp + j·dp + c·L ..
/// +L` readable; `op + r·dp + c·L .. +L` readable and writable; `V`'s ISA enabled.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `r`, `c` index the accumulators and pointers alike
unsafe fn pv<V: Lanes, const R: usize, const C: usize>(
    pt: *const f32,
    qt: usize,
    alpha: *const f32,
    vp: *const f32,
    dp: usize,
    nk: usize,
    op: *mut f32,
) -> usize {
    // SAFETY: the caller's contract covers every access.
    unsafe {
        let mut acc = [[V::zero(); C]; R];
        for r in 0..R {
            let a = V::splat(*alpha.add(r));
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
                let w = V::splat(*pt.add(j * qt + r));
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
