"""Compiled per-cell steps of MRVBF (Gallant and Dowling 2003, eqs. 1-10).

Steps 1 and 2 compute slope and both elevation percentiles row by row from the DEM
(:func:`fine_steps`); each later step reads the slope and percentile grids of its
coarser DEM, resampled bilinearly on the fly (cell-centre aligned), and updates the
running MRVBF and combined flatness in place, so no full-size temporaries are made.
Parallel over rows (numba ``prange``) and without the GIL, so routing can run in
another thread meanwhile.
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


@njit(cache=True, inline="always")
def slope_at(z, r, c, res_m):  # pragma: no cover - compiled
    """Slope (%) at (r, c): central differences, one-sided at the grid's edges, as
    ``numpy.gradient``; NaN next to nodata."""
    rows, cols = z.shape
    r0, r1 = max(r - 1, 0), min(r + 1, rows - 1)
    c0, c1 = max(c - 1, 0), min(c + 1, cols - 1)
    dzdy = (z[r1, c] - z[r0, c]) / np.float32((r1 - r0) * res_m)
    dzdx = (z[r, c1] - z[r, c0]) / np.float32((c1 - c0) * res_m)
    return np.float32(100.0) * np.float32(math.sqrt(dzdx * dzdx + dzdy * dzdy))


@njit(cache=True, parallel=True, nogil=True)
def slope_grid(z, res_m):  # pragma: no cover - compiled
    """Slope (%) of every cell of a grid of at least 2 x 2 cells (:func:`slope_at`)."""
    rows, cols = z.shape
    out = np.empty((rows, cols), dtype=np.float32)
    for r in prange(rows):
        for c in range(cols):
            out[r, c] = slope_at(z, r, c, res_m)
    return out


@njit(cache=True)
def percentile_row(z, r, offsets, out):  # pragma: no cover - compiled
    """Share of the disc ``offsets`` around each cell of row ``r`` lower than it, into
    ``out`` (NaN on nodata, 0.5 without a valid neighbour)."""
    rows, cols = z.shape
    lower = np.zeros(cols, dtype=np.int32)
    valid = np.zeros(cols, dtype=np.int32)
    centre = z[r]
    for k in range(offsets.shape[0]):
        rr = r + offsets[k, 0]
        if rr < 0 or rr >= rows:
            continue
        dc = offsets[k, 1]
        lo, hi = max(0, -dc), min(cols, cols - dc)
        # aligned slices and integer counts: LLVM vectorises the loop (7x faster)
        row, here = z[rr, lo + dc:hi + dc], centre[lo:hi]
        lower_here, valid_here = lower[lo:hi], valid[lo:hi]
        for c in range(hi - lo):
            value = row[c]
            valid_here[c] += np.int32(value == value)  # False for NaN
            lower_here[c] += np.int32(value < here[c])
    for c in range(cols):
        if np.isnan(centre[c]):
            out[c] = np.nan
        elif valid[c] > 0:
            out[c] = np.float32(lower[c]) / np.float32(valid[c])
        else:
            out[c] = 0.5


@njit(cache=True, parallel=True, nogil=True)
def fine_steps(z, res_m, offsets1, offsets2, t1, t2, p):  # pragma: no cover - compiled
    """Steps 1 and 2 at the base resolution, from the DEM: (MRVBF_2, CF_2).

    ``offsets1``, ``offsets2``: the percentile discs of steps 1 and 2; ``p`` =
    (p_slope, t_pctl, p_pctl, t_vf, t_weight, p_2) as float32.
    """
    rows, cols = z.shape
    result = np.empty((rows, cols), dtype=np.float32)
    flatness = np.empty((rows, cols), dtype=np.float32)
    one = np.float32(1.0)
    for r in prange(rows):
        pctl1 = np.empty(cols, dtype=np.float32)
        pctl2 = np.empty(cols, dtype=np.float32)
        percentile_row(z, r, offsets1, pctl1)
        percentile_row(z, r, offsets2, pctl2)
        for c in range(cols):
            slope = slope_at(z, r, c, res_m) if rows > 1 and cols > 1 else np.float32(0.0)
            f1 = logistic(slope, t1, p[0])
            f2 = logistic(slope, t2, p[0])
            vf1 = one - logistic(f1 * logistic(pctl1[c], p[1], p[2]), p[3], p[0])
            vf2 = one - logistic(f2 * logistic(pctl2[c], p[1], p[2]), p[3], p[0])
            w2 = one - logistic(vf2, p[4], p[5])
            result[r, c] = w2 * (one + vf2) + (one - w2) * vf1
            flatness[r, c] = f1 * f2
    return result, flatness


@njit(cache=True, nogil=True)
def block_mean(z, factor):  # pragma: no cover - compiled
    """NaN-aware mean over factor x factor blocks (edge blocks may be partial; NaN where
    a block has no valid cell)."""
    rows, cols = z.shape
    out_rows, out_cols = -(-rows // factor), -(-cols // factor)
    total = np.zeros((out_rows, out_cols), dtype=np.float64)
    count = np.zeros((out_rows, out_cols), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            value = z[r, c]
            if value == value:
                total[r // factor, c // factor] += value
                count[r // factor, c // factor] += 1
    out = np.empty((out_rows, out_cols), dtype=np.float32)
    for i in range(out_rows):
        for j in range(out_cols):
            out[i, j] = total[i, j] / count[i, j] if count[i, j] > 0 else np.nan
    return out


@njit(cache=True, parallel=True, nogil=True)
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
