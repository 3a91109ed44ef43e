"""Terrain models: where a DEM says the valley bottoms and channels are.

Pure functions on numpy arrays. Every elevation array is ``float32`` in metres with
``NaN`` as nodata, on a square-celled grid in a projected CRS (the field's UTM zone) of
cell size ``res_m``. Nothing here reads files; :mod:`footprint.pipeline.delineate` does.

The chain (DOMAIN.md section 3.1, terrain mode):

1. :func:`fill_voids` - inverse-distance interpolation of SRTM voids (GDAL FillNodata).
2. :func:`route_flow` - depression filling and flat resolution (priority flood, Wang and
   Liu 2006, as implemented by pyflwdir), D8 flow directions, upstream area in km².
3. :func:`extract_streams` - stream cells where the upstream area reaches a threshold
   given in km², so it means the same at any resolution.
4. :func:`mrvbf` - Multi-Resolution Valley Bottom Flatness, Gallant and Dowling (2003),
   *Water Resources Research* 39(12):1347, doi:10.1029/2002WR001426.
5. :func:`height_above_drainage` - HAND (Nobre et al. 2011/2016): the drop from a cell to
   the first stream cell along its D8 flow path.
6. :func:`classify_valley_bottoms` - valley-bottom cells split into ``active_channel``,
   ``floodplain``, ``low_terrace`` and ``high_terrace`` by HAND, with thresholds held in a
   validated :class:`ValleyClassParameters`.

Memory
------
The whole chain holds about a dozen float32/int32/uint8 grids of the input's shape plus
pyflwdir's int32 network arrays; measured peak (tracemalloc, whole delineation of
gh-birim incl. polygonisation) is about 90-110 MB per million cells, so a field at 90 m
(0.5-1 M cells) fits comfortably in memory and is processed whole. Larger grids should be
split by basin (``FlowRouting.flwdir.basins()``) before calling these functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pyflwdir
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field, model_validator
from numba import njit
from scipy import ndimage

from footprint.errors import InvalidParameterError

__all__ = [
    "DepositClass",
    "DEPOSIT_CLASS_NAMES",
    "FlowRouting",
    "MrvbfParameters",
    "ValleyClassParameters",
    "classify_valley_bottoms",
    "elevation_percentile",
    "extract_streams",
    "fill_voids",
    "height_above_drainage",
    "mrvbf",
    "route_flow",
    "slope_percent",
    "stream_length_km",
]

_NODATA = -9999.0


class DepositClass(IntEnum):
    """Raster codes of the valley-bottom classes (0 = not a deposit)."""

    NONE = 0
    ACTIVE_CHANNEL = 1
    FLOODPLAIN = 2
    LOW_TERRACE = 3
    HIGH_TERRACE = 4


#: Names used in vector outputs (``deposit_class`` column), by raster code.
DEPOSIT_CLASS_NAMES: dict[int, str] = {
    DepositClass.ACTIVE_CHANNEL: "active_channel",
    DepositClass.FLOODPLAIN: "floodplain",
    DepositClass.LOW_TERRACE: "low_terrace",
    DepositClass.HIGH_TERRACE: "high_terrace",
}


# --------------------------------------------------------------------------- voids


def fill_voids(elevation_m: np.ndarray, *, max_search_cells: int = 100,
               fill_mask: np.ndarray | None = None) -> np.ndarray:
    """Fill nodata voids by inverse-distance interpolation from the void's rim.

    Uses GDAL's FillNodata (``rasterio.fill.fillnodata``) on the array: each void cell
    takes an inverse-distance weighted mean of valid cells found within
    ``max_search_cells`` in four directions, followed by no smoothing. SRTM3 voids in the
    study tiles are a few cells wide, so the search distance is never the limit.

    Parameters
    ----------
    elevation_m : (rows, cols) float array, metres, NaN = nodata.
    max_search_cells : how far (cells) to look for valid values.
    fill_mask : optional bool array; only NaN cells where it is True are filled (e.g. the
        area of interest, so that cells outside it stay nodata). Default: every NaN cell.

    Returns
    -------
    float32 array, same shape; cells that could not be reached stay NaN.
    """
    from rasterio.fill import fillnodata

    elevation = np.asarray(elevation_m, dtype=np.float32)
    voids = np.isnan(elevation)
    if not voids.any() or voids.all():
        return elevation.copy()
    valid = (~voids).astype(np.uint8)
    work = np.where(voids, np.float32(0), elevation)
    filled = fillnodata(work, mask=valid, max_search_distance=float(max_search_cells),
                        smoothing_iterations=0)
    filled = filled.astype(np.float32)
    # fillnodata leaves unreachable cells at their input value (0 here): restore NaN.
    unreached = voids & (filled == 0)
    filled[unreached] = np.nan
    if fill_mask is not None:
        filled[voids & ~np.asarray(fill_mask, dtype=bool)] = np.nan
    return filled


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class FlowRouting:
    """Hydrologically conditioned DEM and its D8 flow network.

    Attributes
    ----------
    conditioned_m : float32 DEM with depressions filled (metres, NaN = nodata).
    flwdir : pyflwdir.FlwdirRaster, D8, in the grid's projected CRS.
    upstream_area_km2 : float32 contributing area of each cell incl. itself (km²),
        NaN on nodata.
    res_m : cell size (m).
    """

    conditioned_m: np.ndarray
    flwdir: pyflwdir.FlwdirRaster
    upstream_area_km2: np.ndarray
    res_m: float


def route_flow(elevation_m: np.ndarray, res_m: float, *, max_depth_m: float = -1.0,
               transform: Affine | None = None) -> FlowRouting:
    """Condition a DEM and compute D8 flow directions and upstream area.

    Depressions are filled with the priority-flood algorithm of Wang and Liu (2006) as
    implemented in ``pyflwdir.dem.fill_depressions``, which also returns D8 directions
    that drain flats towards their outlet (flats are resolved by flood order). Cells on
    the grid edge or next to nodata are outlets.

    Parameters
    ----------
    elevation_m : float array (m), NaN = nodata; voids should be filled first.
    res_m : square cell size in metres (projected CRS).
    max_depth_m : depressions deeper than this (m) are kept as pits; -1 fills all.
    transform : affine transform of the grid; default a north-up grid of ``res_m`` cells
        at the origin (only the cell size matters for areas).

    Returns
    -------
    FlowRouting

    Memory: about 30 bytes per cell on top of the input.
    """
    if res_m <= 0:
        raise InvalidParameterError(f"cell size must be positive, got {res_m} m")
    elevation = np.asarray(elevation_m, dtype=np.float32)
    if transform is None:
        transform = Affine(res_m, 0.0, 0.0, 0.0, -res_m, 0.0)
    nodata = np.isnan(elevation)
    dem = np.where(nodata, np.float32(_NODATA), elevation)
    filled, d8 = pyflwdir.dem.fill_depressions(dem, outlets="edge", nodata=_NODATA,
                                               max_depth=max_depth_m)
    flw = pyflwdir.from_array(d8, ftype="d8", transform=transform, latlon=False,
                              check_ftype=False)
    area = flw.upstream_area(unit="km2").astype(np.float32)
    area[nodata | (area < 0)] = np.nan
    conditioned = filled.astype(np.float32)
    conditioned[nodata] = np.nan
    return FlowRouting(conditioned_m=conditioned, flwdir=flw, upstream_area_km2=area,
                       res_m=float(res_m))


def extract_streams(upstream_area_km2: np.ndarray, threshold_km2: float) -> np.ndarray:
    """Stream cells: contributing area (incl. the cell) at least ``threshold_km2``.

    Returns a bool array (False on nodata).
    """
    if not threshold_km2 > 0:
        raise InvalidParameterError(f"stream threshold must be > 0 km², got {threshold_km2}")
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(upstream_area_km2, nan=0.0) >= threshold_km2


def stream_length_km(routing: FlowRouting, streams: np.ndarray,
                     mask: np.ndarray | None = None) -> float:
    """Length (km) of the stream network: sum of D8 steps from stream cell to next cell.

    A step is ``res_m`` (orthogonal) or ``res_m·√2`` (diagonal); outlets count half a
    cell. ``mask`` (bool) restricts the count to cells inside it (e.g. the AOI).
    """
    flw = routing.flwdir
    rows, cols = flw.shape
    selected = streams if mask is None else (streams & mask)
    idxs = np.flatnonzero(selected.ravel())
    if idxs.size == 0:
        return 0.0
    ds = flw.idxs_ds[idxs]
    dr = ds // cols - idxs // cols
    dc = ds % cols - idxs % cols
    step_m = np.hypot(dr, dc) * routing.res_m
    step_m[ds == idxs] = 0.5 * routing.res_m
    return float(step_m.sum() / 1000.0)


def height_above_drainage(routing: FlowRouting, streams: np.ndarray) -> np.ndarray:
    """HAND: drop (m) from each cell to the first stream cell on its D8 flow path.

    Computed on the conditioned DEM with ``pyflwdir.FlwdirRaster.hand`` (Nobre et al.
    2016, Hydrol. Process. 30:320). Stream cells are 0; cells whose path never reaches a
    stream (drain off the grid first) and nodata cells are NaN. float32, metres.
    """
    dem = np.where(np.isnan(routing.conditioned_m), np.float32(_NODATA), routing.conditioned_m)
    hand = routing.flwdir.hand(drain=streams.astype(bool), elevtn=dem).astype(np.float32)
    # pyflwdir leaves cells that never reach a drain at 0: they are unknown, not channel.
    reaches = _reaches_drain(routing.flwdir, streams)
    hand[~reaches | np.isnan(routing.conditioned_m)] = np.nan
    return np.maximum(hand, 0, where=~np.isnan(hand), out=hand)


def _reaches_drain(flw: pyflwdir.FlwdirRaster, streams: np.ndarray) -> np.ndarray:
    """Bool grid: the cell's D8 path passes a stream cell (stream cells are True)."""
    reach = streams.ravel().astype(bool).copy()
    _propagate_upstream(flw.idxs_seq, flw.idxs_ds, reach)
    return reach.reshape(flw.shape)


@njit(cache=True)
def _propagate_upstream(seq, idxs_ds, flag):  # pragma: no cover - compiled
    # seq runs from outlets upstream, so a cell's downstream neighbour is final first.
    for cell in seq:
        down = idxs_ds[cell]
        if not flag[cell] and down != cell and flag[down]:
            flag[cell] = True


# --------------------------------------------------------------------------- MRVBF


def _logistic(x: np.ndarray, threshold: float, shape: float) -> np.ndarray:
    """Gallant and Dowling (2003) eq. 1: N(x; t, p) = 1 / (1 + (x / t)^p)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return (1.0 / (1.0 + np.power(np.maximum(x, 0) / threshold, shape))).astype(np.float32)


def slope_percent(elevation_m: np.ndarray, res_m: float) -> np.ndarray:
    """Slope (%) = 100·|∇z| by central differences (one-sided at edges and nodata)."""
    z = np.asarray(elevation_m, dtype=np.float32)
    if min(z.shape) < 2:
        return np.zeros_like(z)
    dzdy, dzdx = np.gradient(z, res_m)
    return (100.0 * np.hypot(dzdx, dzdy)).astype(np.float32)


def _disc_offsets(radius_cells: int) -> list[tuple[int, int]]:
    r = int(radius_cells)
    return [(i, j) for i in range(-r, r + 1) for j in range(-r, r + 1)
            if (i, j) != (0, 0) and i * i + j * j <= r * r]


def elevation_percentile(elevation_m: np.ndarray, radius_cells: int) -> np.ndarray:
    """Share (0-1) of cells in a circular neighbourhood lower than the centre cell.

    Gallant and Dowling (2003) section 2.2: the "ranking of the elevation" of a cell
    within a circular window (radius 3 cells at step 1, 6 cells after). Nodata
    neighbours are not counted; a cell with no valid neighbour gets 0.5. Memory: three
    grids of the input's shape (the loop shifts the array, it does not stack windows).
    """
    z = np.asarray(elevation_m, dtype=np.float32)
    r = int(radius_cells)
    padded = np.pad(z, r, mode="constant", constant_values=np.nan)
    lower = np.zeros(z.shape, dtype=np.float32)
    valid = np.zeros(z.shape, dtype=np.float32)
    rows, cols = z.shape
    for di, dj in _disc_offsets(r):
        neighbour = padded[r + di:r + di + rows, r + dj:r + dj + cols]
        ok = ~np.isnan(neighbour)
        valid += ok
        lower += ok & (neighbour < z)
    with np.errstate(invalid="ignore", divide="ignore"):
        pctl = np.where(valid > 0, lower / np.maximum(valid, 1), np.float32(0.5))
    pctl[np.isnan(z)] = np.nan
    return pctl.astype(np.float32)


class MrvbfParameters(BaseModel):
    """Parameters of MRVBF (Gallant and Dowling 2003; names follow the paper).

    The slope threshold ``t_slope_pct`` = 16 % is the paper's value for a 25 m DEM; it
    halves at every step while the resolution coarsens threefold (steps >= 3). For a DEM
    of another cell size the initial threshold is moved along the same law,
    ``t_s,1 = 16 % · 2^(-log3(res_m / 25 m))`` (≈ 7.1 % at 90 m SRTM3), see
    :meth:`initial_slope_threshold_pct`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    t_slope_pct: float = Field(16.0, gt=0, le=100, description="Initial slope threshold (%) at base_res_m.")
    base_res_m: float = Field(25.0, gt=0, description="Resolution (m) at which t_slope_pct is calibrated.")
    p_slope: float = Field(4.0, gt=0, description="Shape of the flatness transform (eq. 2).")
    t_pctl: float = Field(0.4, gt=0, lt=1, description="Lowness threshold on elevation percentile (eq. 3).")
    p_pctl: float = Field(3.0, gt=0, description="Shape of the lowness transform (eq. 3).")
    t_vf: float = Field(0.3, gt=0, lt=1, description="Threshold of the valley flatness transform (eq. 4).")
    t_weight: float = Field(0.4, gt=0, lt=1, description="Threshold of the step weight W_L (eq. 9).")
    radius_step1_cells: int = Field(3, ge=1, le=20, description="Percentile radius at step 1 (cells).")
    radius_cells: int = Field(6, ge=1, le=30, description="Percentile radius from step 2 on (cells).")
    smoothing_sigma_cells: float = Field(3.0, gt=0, le=10, description="Gaussian smoothing before coarsening (cells, 11x11 window).")
    max_steps: int = Field(6, ge=2, le=12, description="Largest number of steps.")
    min_coarse_cells: int = Field(13, ge=3, description="Stop when the coarsened grid's short side falls below this.")
    adjust_for_resolution: bool = Field(True, description="Scale t_slope_pct from base_res_m to the DEM's cell size.")

    def initial_slope_threshold_pct(self, res_m: float) -> float:
        """Step-1 slope threshold (%) for a DEM of cell size ``res_m``."""
        if not self.adjust_for_resolution:
            return self.t_slope_pct
        return self.t_slope_pct * 2.0 ** (-math.log(res_m / self.base_res_m, 3))


def _nan_gaussian(z: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing that ignores NaN (normalised convolution), 11x11 at sigma 3."""
    nan = np.isnan(z)
    weights = ndimage.gaussian_filter((~nan).astype(np.float32), sigma, mode="nearest",
                                      truncate=5.0 / sigma)
    values = ndimage.gaussian_filter(np.where(nan, 0, z).astype(np.float32), sigma,
                                     mode="nearest", truncate=5.0 / sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = values / weights
    out[nan] = np.nan
    return out.astype(np.float32)


def _block_mean(z: np.ndarray, factor: int) -> np.ndarray:
    """NaN-aware mean over factor x factor blocks (edge blocks may be partial)."""
    rows, cols = z.shape
    pr, pc = (-rows) % factor, (-cols) % factor
    padded = np.pad(z, ((0, pr), (0, pc)), constant_values=np.nan)
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    valid = (~np.isnan(blocks)).sum(axis=(1, 3))
    total = np.nansum(blocks, axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid > 0, total / np.maximum(valid, 1), np.nan).astype(np.float32)


def _upsample(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of a block grid back to the base grid (cell-centre aligned)."""
    filled = coarse
    nan = np.isnan(coarse)
    if nan.any() and not nan.all():
        idx = ndimage.distance_transform_edt(nan, return_distances=False, return_indices=True)
        filled = coarse[tuple(idx)]
    rows = (np.arange(shape[0], dtype=np.float32) + 0.5) / factor - 0.5
    cols = (np.arange(shape[1], dtype=np.float32) + 0.5) / factor - 0.5
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return ndimage.map_coordinates(filled, [rr, cc], order=1, mode="nearest").astype(np.float32)


def mrvbf(elevation_m: np.ndarray, res_m: float,
          params: MrvbfParameters | None = None) -> np.ndarray:
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

    Returns
    -------
    float32 MRVBF (dimensionless, >= 0), NaN on nodata.

    Memory: about eight float32 grids of the input's shape.
    """
    p = params or MrvbfParameters()
    z = np.asarray(elevation_m, dtype=np.float32)
    nodata = np.isnan(z)
    shape = z.shape
    t_slope = p.initial_slope_threshold_pct(res_m)

    def valley_flatness(flatness: np.ndarray, pctl: np.ndarray) -> np.ndarray:
        pvf = flatness * _logistic(pctl, p.t_pctl, p.p_pctl)
        return 1.0 - _logistic(pvf, p.t_vf, p.p_slope)

    def combine(level: int, previous: np.ndarray, vf: np.ndarray) -> np.ndarray:
        shape_p = math.log((level - 0.5) / 0.1) / math.log(1.5)
        weight = 1.0 - _logistic(vf, p.t_weight, shape_p)
        return weight * (level - 1 + vf) + (1.0 - weight) * previous

    # step 1
    slope = slope_percent(z, res_m)
    f1 = _logistic(slope, t_slope, p.p_slope)
    vf1 = valley_flatness(f1, elevation_percentile(z, p.radius_step1_cells))
    # step 2
    t_slope /= 2.0
    f2 = _logistic(slope, t_slope, p.p_slope)
    vf2 = valley_flatness(f2, elevation_percentile(z, p.radius_cells))
    result = combine(2, vf1, vf2)
    combined_flatness = f1 * f2
    del f1, f2, vf1, vf2, slope
    # steps 3..
    dem_prev, factor_prev = z, 1
    for level in range(3, p.max_steps + 1):
        if min(dem_prev.shape) // 3 < p.min_coarse_cells:
            break
        t_slope /= 2.0
        smoothed = _nan_gaussian(dem_prev, p.smoothing_sigma_cells)
        slope_l = slope_percent(smoothed, res_m * factor_prev)
        if factor_prev > 1:
            slope_l = _upsample(slope_l, factor_prev, shape)
        dem_l = _block_mean(smoothed, 3)
        factor_l = factor_prev * 3
        pctl_l = _upsample(elevation_percentile(dem_l, p.radius_cells), factor_l, shape)
        combined_flatness = combined_flatness * _logistic(slope_l, t_slope, p.p_slope)
        vf_l = valley_flatness(combined_flatness, pctl_l)
        result = combine(level, result, vf_l)
        dem_prev, factor_prev = dem_l, factor_l
    result = result.astype(np.float32)
    result[nodata] = np.nan
    return result


# --------------------------------------------------------------------------- classes


class ValleyClassParameters(BaseModel):
    """How valley-bottom cells are split by height above the channel (HAND, metres).

    A cell is *valley bottom* when ``MRVBF >= min_mrvbf`` (Gallant and Dowling 2003:
    values < 0.5 are not valley bottom). Valley-bottom cells are then classed by HAND:
    ``[0, active_channel_max_m]`` active channel, ``(.., floodplain_max_m]`` floodplain,
    ``(.., low_terrace_max_m]`` low terrace, ``(.., high_terrace_max_m]`` high terrace;
    higher cells are not deposits. Stream cells are always active channel.

    Defaults suit SRTM3 (vertical noise of a few metres): the Birim gravels lie in the
    present channel and flats and in terraces a few to some tens of metres above it
    (DOMAIN.md section 5; Birim placers 10-120 m wide, gravel 0.2-1.0 m thick).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_mrvbf: float = Field(0.5, ge=0, le=10, description="Smallest MRVBF of a valley-bottom cell.")
    active_channel_max_m: float = Field(1.0, ge=0, le=20, description="Top of the active channel above the stream (m).")
    floodplain_max_m: float = Field(5.0, gt=0, le=50, description="Top of the floodplain (m).")
    low_terrace_max_m: float = Field(12.0, gt=0, le=100, description="Top of the low terrace (m).")
    high_terrace_max_m: float = Field(30.0, gt=0, le=200, description="Top of the high terrace (m).")

    @model_validator(mode="after")
    def _increasing(self) -> ValleyClassParameters:
        bounds = [self.active_channel_max_m, self.floodplain_max_m,
                  self.low_terrace_max_m, self.high_terrace_max_m]
        if any(lo >= hi for lo, hi in zip(bounds[:-1], bounds[1:])):
            raise ValueError("class heights must increase: active_channel_max_m < floodplain_max_m "
                             "< low_terrace_max_m < high_terrace_max_m")
        return self


def classify_valley_bottoms(mrvbf_index: np.ndarray, hand_m: np.ndarray, streams: np.ndarray,
                            params: ValleyClassParameters | None = None,
                            mask: np.ndarray | None = None) -> np.ndarray:
    """Class of each cell (:class:`DepositClass` codes, uint8; 0 = not a deposit).

    Parameters
    ----------
    mrvbf_index : MRVBF grid (NaN = nodata).
    hand_m : height above nearest drainage (m, NaN = unknown).
    streams : bool stream grid; stream cells are active channel.
    params : ValleyClassParameters.
    mask : optional bool grid (e.g. the area of interest); cells outside get 0.
    """
    p = params or ValleyClassParameters()
    with np.errstate(invalid="ignore"):
        valley = np.nan_to_num(mrvbf_index, nan=-1.0) >= p.min_mrvbf
        hand = np.nan_to_num(hand_m, nan=np.inf)
    classes = np.zeros(hand.shape, dtype=np.uint8)
    upper_bounds = [(DepositClass.HIGH_TERRACE, p.high_terrace_max_m),
                    (DepositClass.LOW_TERRACE, p.low_terrace_max_m),
                    (DepositClass.FLOODPLAIN, p.floodplain_max_m),
                    (DepositClass.ACTIVE_CHANNEL, p.active_channel_max_m)]
    for code, top_m in upper_bounds:  # paint from highest to lowest class
        classes[valley & (hand <= top_m)] = code
    classes[streams.astype(bool)] = DepositClass.ACTIVE_CHANNEL
    if mask is not None:
        classes[~np.asarray(mask, dtype=bool)] = DepositClass.NONE
    return classes
