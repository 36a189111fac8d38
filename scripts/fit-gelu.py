#!/usr/bin/env python3
"""Fits the rational Φ(x) of `crates/kernels/src/math.rs` (`gelu`): Φ(x) ≈ ½ + x·P(x²)/Q(x²).

Run: python3 scripts/fit-gelu.py  (needs numpy; prints the f32 coefficients and the fit's error).

Method: the target is r(x) = (Φ(x) − ½)/x on 0 < x ≤ C (odd symmetry covers x < 0), Φ from
Python's double-precision math.erfc. P (degree 5) and Q (degree 5, Q(0) = 1) are found by
linearised least squares (P − r·Q = 0, weighted by x/|Q_prev| so the residual is the error in Φ),
with Lawson's iteration (weights ×= |error|) driving it towards the minimax error in Φ on a
Chebyshev grid of 6,000 points; the fit runs in t = x²/C² for conditioning and is mapped back.
Every coefficient comes out positive, so Horner in f32 has no cancellation.
"""
import math

import numpy as np

M, N, C = 5, 5, 6.0


def phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def fit(m=M, n=N, c=C, iters=200, points=6000):
    k = np.arange(points)
    x = c * (0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / points))
    t = (x / c) ** 2
    r = np.array([(phi(v) - 0.5) / v for v in x])
    w = np.ones_like(x) / len(x)
    q_prev = np.ones_like(x)
    best = None
    for _ in range(iters):
        a = np.hstack([t[:, None] ** np.arange(m + 1), -r[:, None] * t[:, None] ** np.arange(1, n + 1)])
        ww = np.sqrt(w) * x / np.abs(q_prev)
        sol, *_ = np.linalg.lstsq(a * ww[:, None], r * ww, rcond=None)
        p, q = sol[: m + 1], np.concatenate([[1.0], sol[m + 1 :]])
        pv, qv = np.polyval(p[::-1], t), np.polyval(q[::-1], t)
        err = x * (pv / qv - r)
        if best is None or np.abs(err).max() < best[2]:
            best = (p.copy(), q.copy(), np.abs(err).max())
        q_prev = qv
        w = w * np.abs(err)
        w = w / w.sum()
    p, q, e = best
    return p / c ** (2 * np.arange(m + 1)), q / c ** (2 * np.arange(n + 1)), e


if __name__ == "__main__":
    p, q, e = fit()
    print(f"max |error in Φ| of the f64 fit on [0, {C}]: {e:.3g}")
    for name, cs in (("P", p), ("Q", q)):
        print(name, ", ".join(str(np.float32(v)) for v in cs))
