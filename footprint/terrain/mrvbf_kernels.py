"""Compiled per-cell steps of MRVBF (Gallant and Dowling 2003, eqs. 1-10).

Each kernel reads the slope and percentile grids of one step (coarse ones are resampled
bilinearly on the fly, cell-centre aligned, as :func:`upsample` does) and updates the
running MRVBF and combined flatness in place, so no full-size temporaries are made.
Parallel over rows (numba ``prange``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def logistic(x, threshold, shape):  # pragma: no cover - compiled
    """Eq. 1: N(x; t, p) = 1 / (1 + (x / t)^p), x clipped at 0 (float32)."""
    ratio = max(x, np.float32(0.0)) / threshold
    if shape == 4.0:
        ratio = ratio * ratio
        powered = ratio * ratio
    elif shape == 3.0:
        powered = ratio * ratio * ratio
    else:
        powered = ratio ** shape
    return np.float32(1.0) / (np.float32(1.0) + powered)


def weight_shape(level: int) -> float:
    """Shape p_L of the step weight W_L (eq. 9): log((L - 0.5) / 0.1) / log(1.5)."""
    return math.log((level - 0.5) / 0.1) / math.log(1.5)


@njit(cache=True, inline="always")
def _axis_weights(i, factor, n_coarse):  # pragma: no cover - compiled
    pos = min(max((i + 0.5) / factor - 0.5, 0.0), n_coarse - 1.0)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n_coarse - 1)
    return lo, hi, np.float32(pos - lo)


@njit(cache=True, inline="always")
def bilinear(coarse, factor, r, c):  # pragma: no cover - compiled
    """Value at fine cell (r, c) of a grid of factor x factor blocks (factor 1: itself)."""
    if factor == 1:
        return coarse[r, c]
    r_lo, r_hi, wr = _axis_weights(r, factor, coarse.shape[0])
    c_lo, c_hi, wc = _axis_weights(c, factor, coarse.shape[1])
    one = np.float32(1.0)
    left = coarse[r_lo, c_lo] * (one - wr) + coarse[r_hi, c_lo] * wr
    right = coarse[r_lo, c_hi] * (one - wr) + coarse[r_hi, c_hi] * wr
    return left * (one - wc) + right * wc


@njit(cache=True, parallel=True)
def fine_steps(slope, pctl1, pctl2, t1, t2, p):  # pragma: no cover - compiled
    """Steps 1 and 2 at the base resolution: (MRVBF_2, CF_2).

    ``p`` = (p_slope, t_pctl, p_pctl, t_vf, t_weight, p_2) as float32.
    """
    rows, cols = slope.shape
    result = np.empty((rows, cols), dtype=np.float32)
    flatness = np.empty((rows, cols), dtype=np.float32)
    one = np.float32(1.0)
    for r in prange(rows):
        for c in range(cols):
            f1 = logistic(slope[r, c], t1, p[0])
            f2 = logistic(slope[r, c], t2, p[0])
            vf1 = one - logistic(f1 * logistic(pctl1[r, c], p[1], p[2]), p[3], p[0])
            vf2 = one - logistic(f2 * logistic(pctl2[r, c], p[1], p[2]), p[3], p[0])
            w2 = one - logistic(vf2, p[4], p[5])
            result[r, c] = w2 * (one + vf2) + (one - w2) * vf1
            flatness[r, c] = f1 * f2
    return result, flatness


@njit(cache=True, parallel=True)
def coarse_step(result, flatness, slope, slope_factor, pctl, pctl_factor, level, t_slope,
                p):  # pragma: no cover - compiled
    """Step ``level`` >= 3 in place on (MRVBF, CF); ``p`` as in :func:`fine_steps` with
    p_L last."""
    rows, cols = result.shape
    one = np.float32(1.0)
    base = np.float32(level - 1)
    for r in prange(rows):
        for c in range(cols):
            cf = flatness[r, c] * logistic(bilinear(slope, slope_factor, r, c), t_slope, p[0])
            pvf = cf * logistic(bilinear(pctl, pctl_factor, r, c), p[1], p[2])
            vf = one - logistic(pvf, p[3], p[0])
            w = one - logistic(vf, p[4], p[5])
            result[r, c] = w * (base + vf) + (one - w) * result[r, c]
            flatness[r, c] = cf
