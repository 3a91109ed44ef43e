"""Placer-bearing drainages: the source-connected network and channel widths."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import ndimage

from footprint.terrain.routing import FlowRouting, at_least

#: Birim placers 10-120 m wide (mining encyclopaedia entry on the Birim field, DOMAIN.md 5).
_BIRIM_WIDTHS = "Birim placers 10-120 m wide (mining encyclopaedia; DOMAIN.md 5)"


class PlacerParameters(BaseModel):
    """Which drainages carry placer gravel, and how wide their channel is.

    **Rule (source-connected envelope).** Diamonds reach a placer only by being carried
    down the drainage from a source, so deposits lie only along drainages downstream of
    known sources (DOMAIN.md 3.1): USGS diamond deposit and facility points, uploaded
    deposits, mined areas and bulk samples with carats > 0. A stream cell (contributing
    area >= ``min_placer_area_km2``) is *source-connected* when it lies within
    ``source_radius_km`` of a source, or downstream of such a cell by at most
    ``max_transport_km`` along the D8 path. A known point stands for workings around it,
    not one pit: the radius is assumed (9 km: a circle of the 240 km² over which GCD's
    proven reserve lies, DOMAIN.md 5). Valley-bottom cells count only where the first
    stream their flow path meets is source-connected.

    **Channel width (hydraulic geometry).** ``W = a · A^b`` with contributing area ``A``
    (km²), clipped to ``[min_width_m, max_width_m]``. ``b = 0.5``: Leopold and Maddock
    (1953, USGS Prof. Paper 252) downstream width-discharge exponent, with discharge
    proportional to area (assumption). ``a = 2.2 m/km`` is an assumption calibrated so
    that the Birim where it leaves the gh-birim AOI (~2,600 km² of contributing area) is
    about 110 m wide, near the top of the published range; the clip is the published
    Birim placer range, 10-120 m.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_connected: bool = Field(True, description="Restrict deposits to drainages "
                                   "downstream of known sources (needs sources).")
    source_radius_km: float = Field(9.0, ge=0, le=100, description=(
        "Drainages within this distance of a source are source-connected (km); assumption: "
        "radius of the 240 km2 of GCD's proven reserve."))
    max_transport_km: float = Field(150.0, gt=0, le=5000, description=(
        "Greatest distance downstream of a source-connected cell (km); assumption."))
    min_placer_area_km2: float = Field(5.0, gt=0, le=100_000, description=(
        "Smallest contributing area of a placer-bearing stream (km2); assumption, the "
        "stream threshold."))
    width_coefficient_m: float = Field(2.2, gt=0, le=1000, description=(
        "a in W = a A^b (m at 1 km2); assumption: ~110 m for the Birim's 2,600 km2."))
    width_exponent: float = Field(0.5, gt=0, le=1, description=(
        "b in W = a A^b; Leopold and Maddock (1953) width-discharge exponent."))
    min_width_m: float = Field(10.0, gt=0, le=10_000, description=_BIRIM_WIDTHS + ", lower end.")
    max_width_m: float = Field(120.0, gt=0, le=10_000, description=_BIRIM_WIDTHS + ", upper end.")

    @model_validator(mode="after")
    def _widths(self) -> PlacerParameters:
        if self.min_width_m > self.max_width_m:
            raise ValueError("min_width_m must not exceed max_width_m")
        return self

    def channel_width_m(self, upstream_area_km2: np.ndarray) -> np.ndarray:
        """Active-channel width (m) from contributing area (km²), hydraulic geometry."""
        area = np.nan_to_num(np.asarray(upstream_area_km2, dtype=np.float64), nan=0.0)
        width = self.width_coefficient_m * np.power(np.maximum(area, 0.0), self.width_exponent)
        return np.clip(width, self.min_width_m, self.max_width_m)


def source_connected_streams(routing: FlowRouting, streams: np.ndarray,
                             sources: np.ndarray,
                             params: PlacerParameters | None = None) -> np.ndarray:
    """Stream cells downstream of known sources (see :class:`PlacerParameters`).

    Parameters
    ----------
    routing : FlowRouting of the grid.
    streams : bool stream grid.
    sources : bool grid, True on the cells of known sources (points or polygons
        rasterised by the caller).
    params : PlacerParameters.

    Returns
    -------
    bool grid: source-connected stream cells (all False without sources).
    """
    p = params or PlacerParameters()
    placer = np.asarray(streams, dtype=bool) & at_least(routing.upstream_area_km2,
                                                         p.min_placer_area_km2)
    sources = np.asarray(sources, dtype=bool)
    if not sources.any() or not placer.any():
        return np.zeros(placer.shape, dtype=bool)
    radius_cells = p.source_radius_km * 1000 / routing.res_m
    seeds = np.flatnonzero((placer & _near(sources, radius_cells)).ravel())
    if seeds.size == 0:  # no placer stream within reach: the nearest one takes the source
        _, (rows, cols) = ndimage.distance_transform_edt(~placer, return_indices=True)
        src = np.flatnonzero(sources.ravel())
        seeds = np.unique(rows.ravel()[src] * placer.shape[1] + cols.ravel()[src])
    reached = _downstream_reach(seeds.astype(np.int64), np.asarray(routing.idxs_ds),
                                routing.shape[1], routing.res_m, p.max_transport_km * 1000.0,
                                placer.ravel())
    return reached.reshape(placer.shape)


def _near(cells: np.ndarray, radius_cells: float) -> np.ndarray:
    """Cells within ``radius_cells`` (Euclidean, centre to centre) of a True cell of
    ``cells``; the distance transform runs only on the window around them."""
    rows = np.flatnonzero(cells.any(axis=1))
    cols = np.flatnonzero(cells.any(axis=0))
    pad = int(np.ceil(radius_cells)) + 1
    window = (slice(max(rows[0] - pad, 0), rows[-1] + pad + 1),
              slice(max(cols[0] - pad, 0), cols[-1] + pad + 1))
    out = np.zeros(cells.shape, dtype=bool)
    out[window] = ndimage.distance_transform_edt(~cells[window]) <= radius_cells
    return out


@njit(cache=True, nogil=True)
def _downstream_reach(seeds, idxs_ds, cols, res_m, max_m, placer):  # pragma: no cover
    """Placer cells at most ``max_m`` along D8 below a seed (distance from the nearest).
    Distances are kept only for the cells the paths visit (a dict, not a grid)."""
    distance = Dict.empty(key_type=types.int64, value_type=types.float64)
    reached = np.zeros(idxs_ds.size, dtype=np.bool_)
    for seed in seeds:
        cell, d = seed, 0.0
        while d <= max_m and d < distance.get(cell, np.inf):
            distance[cell] = d
            if placer[cell]:
                reached[cell] = True
            down = idxs_ds[cell]
            if down == cell:
                break
            diagonal = (down // cols != cell // cols) and (down % cols != cell % cols)
            d += res_m * (1.4142135623730951 if diagonal else 1.0)
            cell = down
    return reached


def drains_to(routing: FlowRouting, streams: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cells whose D8 path first meets a stream cell that is in ``targets``.

    The same first-stream rule as :func:`height_above_drainage`, so a cell's HAND is
    measured to the stream it is a valley bottom of. Returns a bool grid. A routing by
    tiles (:class:`footprint.terrain.tiled_routing.TiledRouting`) computes it by tiles.
    """
    if not isinstance(routing, FlowRouting):
        return routing.drains_to(streams, targets)
    flw = routing.flwdir
    out = _drains_to_kernel(flw.idxs_seq, flw.idxs_ds, np.asarray(streams, bool).ravel(),
                            np.asarray(targets, bool).ravel())
    return out.reshape(flw.shape)


@njit(cache=True, nogil=True)
def _drains_to_kernel(seq, idxs_ds, drain, targets):  # pragma: no cover - compiled
    out = np.zeros(drain.size, dtype=np.bool_)
    for cell in seq:  # outlets first, so a cell's downstream neighbour is done
        if drain[cell]:
            out[cell] = targets[cell]
        else:
            down = idxs_ds[cell]
            if down != cell:
                out[cell] = out[down]
    return out
