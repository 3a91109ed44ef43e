"""Multi-Resolution Valley Bottom Flatness (Gallant and Dowling 2003)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from footprint.terrain.mrvbf_kernels import (
    block_mean,
    coarse_step,
    fine_steps,
    percentile_row,
    slope_grid,
    weight_shape,
)


def slope_percent(elevation_m: np.ndarray, res_m: float) -> np.ndarray:
    """Slope (%) = 100·|∇z| by central differences (one-sided at the grid's edges, as
    ``numpy.gradient``; NaN next to nodata). Float32, compiled, no temporaries."""
    z = np.ascontiguousarray(elevation_m, dtype=np.float32)
    if min(z.shape) < 2:
        return np.zeros_like(z)
    return slope_grid(z, np.float32(res_m))


def _disc_offsets(radius_cells: int) -> list[tuple[int, int]]:
    r = int(radius_cells)
    return [(i, j) for i in range(-r, r + 1) for j in range(-r, r + 1)
            if (i, j) != (0, 0) and i * i + j * j <= r * r]


def elevation_percentile(elevation_m: np.ndarray, radius_cells: int) -> np.ndarray:
    """Share (0-1) of cells in a circular neighbourhood lower than the centre cell.

    Gallant and Dowling (2003) section 2.2: the "ranking of the elevation" of a cell
    within a circular window (radius 3 cells at step 1, 6 cells after). Nodata
    neighbours are not counted; a cell with no valid neighbour gets 0.5. Compiled loop
    (numba, parallel over rows): no temporaries beyond the output grid.
    """
    z = np.ascontiguousarray(elevation_m, dtype=np.float32)
    return _percentile_kernel(z, _offsets(radius_cells))


def _offsets(radius_cells: int) -> np.ndarray:
    return np.array(_disc_offsets(int(radius_cells)), dtype=np.int64).reshape(-1, 2)


@njit(cache=True, parallel=True, nogil=True)
def _percentile_kernel(z, offsets):  # pragma: no cover - compiled
    rows, cols = z.shape
    out = np.empty((rows, cols), dtype=np.float32)
    for r in prange(rows):
        percentile_row(z, r, offsets, out[r])
    return out


class MrvbfParameters(BaseModel):
    """Parameters of MRVBF (Gallant and Dowling 2003; names follow the paper).

    The slope threshold ``t_slope_pct`` = 16 % is the paper's value for a 25 m DEM; it
    halves at every step while the resolution coarsens threefold (steps >= 3). For a DEM
    of another cell size the initial threshold is moved along the same law,
    ``t_s,1 = 16 % · 2^(-log3(res_m / 25 m))`` (≈ 7.1 % at 90 m SRTM3), see
    :meth:`initial_slope_threshold_pct`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    t_slope_pct: float = Field(16.0, gt=0, le=100,
                               description="Initial slope threshold (%) at base_res_m.")
    base_res_m: float = Field(25.0, gt=0,
                              description="Resolution (m) at which t_slope_pct is calibrated.")
    p_slope: float = Field(4.0, gt=0, description="Shape of the flatness transform (eq. 2).")
    t_pctl: float = Field(0.4, gt=0, lt=1,
                          description="Lowness threshold on elevation percentile (eq. 3).")
    p_pctl: float = Field(3.0, gt=0, description="Shape of the lowness transform (eq. 3).")
    t_vf: float = Field(0.3, gt=0, lt=1,
                        description="Threshold of the valley flatness transform (eq. 4).")
    t_weight: float = Field(0.4, gt=0, lt=1,
                            description="Threshold of the step weight W_L (eq. 9).")
    radius_step1_cells: int = Field(3, ge=1, le=20,
                                    description="Percentile radius at step 1 (cells).")
    radius_cells: int = Field(6, ge=1, le=30,
                              description="Percentile radius from step 2 on (cells).")
    smoothing_sigma_cells: float = Field(3.0, gt=0, le=10,
                                         description="Gaussian sigma before coarsening (cells).")
    max_steps: int = Field(6, ge=2, le=12, description="Largest number of steps.")
    min_coarse_cells: int = Field(13, ge=3,
                                  description="Smallest short side of a coarsened grid.")
    adjust_for_resolution: bool = Field(True,
                                        description="Scale t_slope_pct to the DEM's cell size.")

    def initial_slope_threshold_pct(self, res_m: float) -> float:
        """Step-1 slope threshold (%) for a DEM of cell size ``res_m``."""
        if not self.adjust_for_resolution:
            return self.t_slope_pct
        return self.t_slope_pct * 2.0 ** (-math.log(res_m / self.base_res_m, 3))


def _nan_gaussian(z: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing that ignores NaN (normalised convolution), 11x11 at sigma 3.

    Float32 throughout, filtered in place (scipy's separable filter buffers each line):
    two grids besides the input (the weights only when there is nodata)."""
    truncate = 5.0 / sigma
    nan = np.isnan(z)
    if not nan.any():
        return ndimage.gaussian_filter(z, sigma, mode="nearest", truncate=truncate,
                                       output=np.float32)
    values = np.where(nan, np.float32(0), z)
    ndimage.gaussian_filter(values, sigma, mode="nearest", truncate=truncate, output=values)
    weights = (~nan).astype(np.float32)
    ndimage.gaussian_filter(weights, sigma, mode="nearest", truncate=truncate, output=weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(values, weights, out=values)
    values[nan] = np.nan
    return values


def _fill_nodata_nearest(coarse: np.ndarray) -> np.ndarray:
    """Coarse nodata takes its nearest valid value, so resampling near nodata stays defined."""
    nan = np.isnan(coarse)
    if nan.any() and not nan.all():
        idx = ndimage.distance_transform_edt(nan, return_distances=False, return_indices=True)
        return coarse[tuple(idx)]
    return coarse


def mrvbf(elevation_m: np.ndarray, res_m: float, params: MrvbfParameters | None = None,
          *, n_levels: int | None = None) -> np.ndarray:
    """Multi-Resolution Valley Bottom Flatness index (Gallant and Dowling 2003).

    With ``N(x; t, p) = 1 / (1 + (x/t)^p)`` (eq. 1), slope ``S`` in percent and the
    elevation percentile ``PCTL`` (share of lower cells in a circular window):

    * Step 1 (base resolution, radius 3 cells): flatness ``F1 = N(S; t_s,1, 4)`` (eq. 2),
      preliminary valley flatness ``PVF1 = F1 · N(PCTL1; 0.4, 3)`` (eq. 3), valley
      flatness ``VF1 = 1 - N(PVF1; 0.3, 4)`` (eq. 4).
    * Step 2 (base resolution, radius 6, ``t_s,2 = t_s,1 / 2``): ``F2``, ``PVF2``, ``VF2``
      as above (eqs. 5-7); weight ``W2 = 1 - N(VF2; 0.4, p2)`` (eq. 9) and
      ``MRVBF2 = W2 · (1 + VF2) + (1 - W2) · VF1`` (eq. 8); combined flatness
      ``CF2 = F1 · F2`` (eq. 10).
    * Steps L >= 3: the previous step's DEM is smoothed (Gaussian, σ = 3 cells, 11x11)
      and coarsened threefold (block mean); slope is taken on the smoothed DEM, the
      percentile (radius 6) on the coarsened one, both resampled bilinearly to the base
      grid; ``t_s,L = t_s,L-1 / 2``; ``CF_L = CF_L-1 · N(S_L; t_s,L, 4)``,
      ``PVF_L = CF_L · N(PCTL_L; 0.4, 3)``, ``VF_L = 1 - N(PVF_L; 0.3, 4)``,
      ``W_L = 1 - N(VF_L; 0.4, p_L)``, ``MRVBF_L = W_L (L - 1 + VF_L) + (1 - W_L) MRVBF_L-1``,
      with ``p_L = log((L - 0.5) / 0.1) / log(1.5)``.

    Steps stop at ``params.max_steps`` or when the coarsened grid's short side drops
    below ``params.min_coarse_cells``. Values below 0.5 are not valley bottom; each unit
    above marks valley bottoms at a coarser scale (1: steep small valleys, ... ).

    The initial slope threshold is scaled to ``res_m`` (see :class:`MrvbfParameters`).

    Parameters
    ----------
    elevation_m : float array (m), NaN = nodata (fill voids first).
    res_m : cell size (m).
    params : MrvbfParameters, default the paper's values.
    n_levels : number of steps; default :func:`mrvbf_levels` of the grid's shape (a
        window of a larger grid passes the whole grid's, see :mod:`footprint.terrain.tiles`).

    Returns
    -------
    float32 MRVBF (dimensionless, >= 0), NaN on nodata.

    Memory: four float32 grids of the input's shape at the peak (step 3: MRVBF,
    combined flatness, the smoothed DEM and its slope), two after it; the per-cell steps
    are fused in compiled kernels (:mod:`footprint.terrain.mrvbf_kernels`).
    """
    p = params or MrvbfParameters()
    z = np.asarray(elevation_m, dtype=np.float32)
    levels = mrvbf_levels(z.shape, p) if n_levels is None else int(n_levels)
    t_slope = p.initial_slope_threshold_pct(res_m)
    z = np.ascontiguousarray(z)
    result, flatness = fine_steps(z, np.float32(res_m), _offsets(p.radius_step1_cells),
                                  _offsets(p.radius_cells), np.float32(t_slope),
                                  np.float32(t_slope / 2.0), _shapes(p, 2))
    t_slope /= 2.0
    dem_prev, factor_prev = z, 1
    for level in range(3, levels + 1):
        t_slope /= 2.0
        smoothed = _nan_gaussian(dem_prev, p.smoothing_sigma_cells)
        slope_l = slope_percent(smoothed, res_m * factor_prev)
        if factor_prev > 1:
            slope_l = _fill_nodata_nearest(slope_l)
        dem_prev = block_mean(smoothed, 3)
        del smoothed
        pctl_l = _fill_nodata_nearest(elevation_percentile(dem_prev, p.radius_cells))
        coarse_step(result, flatness, slope_l, factor_prev, pctl_l, factor_prev * 3, level,
                    np.float32(t_slope), _shapes(p, level))
        factor_prev *= 3
    result[np.isnan(z)] = np.nan
    return result


def mrvbf_levels(shape: tuple[int, int], params: MrvbfParameters | None = None) -> int:
    """Number of MRVBF steps for a grid of ``shape``: up to ``max_steps``, while the
    coarsened grid's short side stays at least ``min_coarse_cells``."""
    p = params or MrvbfParameters()
    side, levels = min(shape), 2
    while levels < p.max_steps and side // 3 >= p.min_coarse_cells:
        levels += 1
        side = -(-side // 3)
    return levels


def _shapes(p: MrvbfParameters, level: int) -> np.ndarray:
    return np.array([p.p_slope, p.t_pctl, p.p_pctl, p.t_vf, p.t_weight, weight_shape(level)],
                    dtype=np.float32)
