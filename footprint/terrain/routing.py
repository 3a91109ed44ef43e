"""Flow routing: depression filling, D8 directions, upstream area, streams and HAND."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyflwdir
from affine import Affine
from numba import njit

from footprint.errors import InvalidParameterError
from footprint.terrain.flood import D8_DC, D8_DR, flood_network, pit_indices, upstream_cells

_NODATA = -9999.0


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

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the grid."""
        return self.flwdir.shape

    @property
    def idxs_ds(self) -> np.ndarray:
        """Flat index of each cell's downstream cell (itself at outlets, -1 on nodata)."""
        return self.flwdir.idxs_ds


def route_flow(elevation_m: np.ndarray, res_m: float, *, max_depth_m: float = -1.0,
               transform: Affine | None = None) -> FlowRouting:
    """Condition a DEM and compute D8 flow directions and upstream area.

    Depressions are filled with the Priority-Flood algorithm (Wang and Liu 2006; Barnes,
    Lehman and Mulla 2014, Computers & Geosciences 62:117), flooding from the grid edge
    and nodata rims in order of rising elevation, first-in first-out among equal
    elevations, and each depression from its spill point in order of its original
    elevation (:func:`footprint.terrain.flood.flood_network`). The filled DEM is
    identical to ``pyflwdir.dem.fill_depressions``'s (a test checks it); the order drains
    flats from their outlets inwards and depressions along their low ground, as GRASS
    ``r.watershed``'s search does, which raises stream agreement with it
    (``benchmarks/terrain.py``). Each cell then drains to its steepest-descent D8
    neighbour on the filled DEM (O'Callaghan and Mark 1984, as GRASS ``r.watershed -s``
    and TauDEM do); cells with no lower neighbour (flats left by the filling) drain to
    the cell they were flooded from, which drains each flat to its outlet without loops.
    Edge cells and cells next to nodata with no lower neighbour are outlets. Upstream
    areas are cell counts accumulated along the flood order (exact integers) times the
    cell area. pyflwdir's filling is used when ``max_depth_m >= 0`` asks for deep pits
    to be kept.

    Parameters
    ----------
    elevation_m : float array (m), NaN = nodata; voids should be filled first.
    res_m : square cell size in metres (projected CRS).
    max_depth_m : depressions deeper than this (m) are kept as pits; -1 fills all.
    transform : affine transform of the grid; default a north-up grid of ``res_m`` cells
        at the origin (only the cell size matters for areas).

    Returns
    -------
    FlowRouting; its ``flwdir`` holds int32 indices below 2^31 cells.

    Memory: 16 bytes per cell on top of the input (filled DEM, downstream indices, flood
    order, upstream area), plus the flood's queues.
    """
    if res_m <= 0:
        raise InvalidParameterError(f"cell size must be positive, got {res_m} m")
    if transform is None:
        transform = Affine(res_m, 0.0, 0.0, 0.0, -res_m, 0.0)
    if max_depth_m >= 0:  # pyflwdir can keep deep depressions as pits
        return _route_keeping_pits(elevation_m, res_m, max_depth_m, transform)
    filled, idxs_ds, seq = flood_network(elevation_m)
    area = _counts_to_km2(upstream_cells(idxs_ds, seq), abs(transform.a * transform.e) / 1e6)
    flw = pyflwdir.FlwdirRaster(idxs_ds, filled.shape, "d8", idxs_pit=pit_indices(idxs_ds, seq),
                                idxs_seq=seq, nnodes=seq.size, transform=transform,
                                latlon=False)
    return FlowRouting(conditioned_m=filled, flwdir=flw,
                       upstream_area_km2=area.reshape(filled.shape), res_m=float(res_m))


def _counts_to_km2(counts: np.ndarray, cell_km2: float) -> np.ndarray:
    """Upstream areas (float32 km², NaN where no cell drains: nodata) from cell counts;
    int32 counts are converted in place (the float32 array shares their memory)."""
    area = counts.view(np.float32) if counts.dtype == np.int32 else np.empty(counts.size,
                                                                           np.float32)
    _scale_counts(counts, area, np.float32(cell_km2))
    return area


@njit(cache=True, nogil=True)
def _scale_counts(counts, area, cell_km2):  # pragma: no cover - compiled
    for i in range(counts.size):
        count = counts[i]  # read before area[i], which may share its memory, is written
        area[i] = np.float32(count) * cell_km2 if count > 0 else np.float32(np.nan)


def _route_keeping_pits(elevation_m, res_m: float, max_depth_m: float,
                        transform: Affine) -> FlowRouting:
    """pyflwdir's filling with deep depressions kept as pits, steepest-descent D8."""
    elevation = np.asarray(elevation_m, dtype=np.float32)
    nodata = np.isnan(elevation)
    dem = np.where(nodata, np.float32(_NODATA), elevation)
    filled, flood_d8 = pyflwdir.dem.fill_depressions(dem, outlets="edge", nodata=_NODATA,
                                                     max_depth=max_depth_m)
    del dem
    filled = filled.astype(np.float32)
    filled[nodata] = np.nan
    d8 = _steepest_d8(filled, flood_d8)
    flw = pyflwdir.from_array(d8, ftype="d8", transform=transform, latlon=False,
                              check_ftype=False)
    area = flw.upstream_area(unit="km2").astype(np.float32)
    area[nodata | (area < 0)] = np.nan
    return FlowRouting(conditioned_m=filled, flwdir=flw, upstream_area_km2=area,
                       res_m=float(res_m))


_D8_CODES = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=np.uint8)


@njit(cache=True, nogil=True)
def _steepest_d8(filled, flood_d8):  # pragma: no cover - compiled
    """pyflwdir D8 codes: the steepest lower neighbour where there is one, else the
    flood direction."""
    rows, cols = filled.shape
    out = flood_d8.copy()
    for r in range(rows):
        for c in range(cols):
            z, best, best_k = filled[r, c], np.float32(0.0), -1
            for k in range(8):
                rr, cc = r + D8_DR[k], c + D8_DC[k]
                if 0 <= rr < rows and 0 <= cc < cols:
                    drop = z - filled[rr, cc]
                    if D8_DR[k] != 0 and D8_DC[k] != 0:
                        drop = drop / np.float32(1.4142135623730951)
                    if drop > best:
                        best, best_k = drop, k
            if best_k >= 0:
                out[r, c] = _D8_CODES[best_k]
    return out


def extract_streams(upstream_area_km2: np.ndarray, threshold_km2: float) -> np.ndarray:
    """Stream cells: contributing area (incl. the cell) at least ``threshold_km2``.

    Returns a bool array (False on nodata).
    """
    if not threshold_km2 > 0:
        raise InvalidParameterError(f"stream threshold must be > 0 km², got {threshold_km2}")
    return at_least(upstream_area_km2, threshold_km2)


def at_least(upstream_area_km2: np.ndarray, area_km2: float) -> np.ndarray:
    """Cells whose upstream area is at least ``area_km2`` (False on NaN), computed without
    a copy of the areas; the relative slack absorbs float32 rounding of areas (10 cells
    of 0.01 km² = 0.1 km²)."""
    with np.errstate(invalid="ignore"):
        return np.greater_equal(upstream_area_km2, np.float32(area_km2 * (1 - 1e-6)))


def stream_length_km(routing: FlowRouting, streams: np.ndarray,
                     mask: np.ndarray | None = None) -> float:
    """Length (km) of the stream network: sum of D8 steps from stream cell to next cell.

    A step is ``res_m`` (orthogonal) or ``res_m·√2`` (diagonal); outlets count half a
    cell. ``mask`` (bool) restricts the count to cells inside it (e.g. the AOI).
    """
    cols = routing.shape[1]
    selected = streams if mask is None else (streams & mask)
    idxs = np.flatnonzero(selected.ravel())
    if idxs.size == 0:
        return 0.0
    ds = routing.idxs_ds[idxs]
    dr = ds // cols - idxs // cols
    dc = ds % cols - idxs % cols
    step_m = np.hypot(dr, dc) * routing.res_m
    step_m[ds == idxs] = 0.5 * routing.res_m
    return float(step_m.sum() / 1000.0)


def height_above_drainage(routing: FlowRouting, streams: np.ndarray) -> np.ndarray:
    """HAND: drop (m) from each cell to the first stream cell on its D8 flow path.

    Height Above the Nearest Drainage (Rennó et al. 2008, Remote Sens. Environ.
    112:3469; Nobre et al. 2011, J. Hydrol. 404:13): ``HAND(c) = z(c) - z(d)`` where
    ``d`` is the first stream cell met following D8 directions down from ``c``, on the
    conditioned DEM (so HAND >= 0). Same definition as ``pyflwdir.FlwdirRaster.hand``,
    computed here by a compiled pass over pyflwdir's downstream-to-upstream cell order
    (pyflwdir's own loop runs in Python: ~3 s against ~0.02 s per million cells).

    Returns float32 metres; stream cells are 0; cells whose path leaves the grid or ends
    in a pit without meeting a stream, and nodata cells, are NaN. A routing by tiles
    (:class:`footprint.terrain.tiled_routing.TiledRouting`) computes it by tiles.
    """
    if not isinstance(routing, FlowRouting):
        return routing.height_above_drainage(streams)
    flw = routing.flwdir
    elevation = routing.conditioned_m.ravel()
    hand = _hand_kernel(flw.idxs_seq, flw.idxs_ds, streams.ravel().astype(np.bool_), elevation)
    hand = hand.reshape(flw.shape)
    hand[np.isnan(routing.conditioned_m)] = np.nan
    return hand


@njit(cache=True, nogil=True)
def _hand_kernel(seq, idxs_ds, drain, elevation):  # pragma: no cover - compiled
    """The drain's elevation is carried up each path first (in ``hand``), then each cell's
    HAND is its elevation minus it: the same float32 difference as the tiled routing's."""
    hand = np.full(drain.size, np.nan, dtype=np.float32)
    # seq runs from outlets upstream, so a cell's downstream neighbour is done first.
    for cell in seq:
        if drain[cell]:
            hand[cell] = elevation[cell]
        else:
            down = idxs_ds[cell]
            if down != cell:
                hand[cell] = hand[down]
    for cell in seq:
        if not np.isnan(hand[cell]):
            hand[cell] = max(elevation[cell] - hand[cell], np.float32(0.0))
    return hand
