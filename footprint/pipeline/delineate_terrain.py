"""Terrain mode of a delineation: DEM in, source-connected deposits and rasters out.

Without windows, MRVBF (which needs only the DEM) runs in a thread beside flow routing,
streams and HAND: both are compiled kernels that release the GIL, so on two cores the
two overlap; the ``MRVBF`` step's timing is then only the wait for that thread.

See :mod:`footprint.pipeline.delineate` for the outputs and :mod:`footprint.terrain` for
the models.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rasterio.features import geometry_mask, rasterize
from rasterio.transform import xy

from footprint import deposits as dep
from footprint import terrain
from footprint.errors import InvalidLayerError
from footprint.io.dem import load_dem
from footprint.io.raster import Grid
from footprint.pipeline.delineate_outputs import Clock
from footprint.pipeline.delineate_sources import grow_aoi_4326
from footprint.pipeline.windows import mapped_grids
from footprint.provenance import input_name, sha256_file
from footprint.terrain.tiles import WindowMap

#: Smallest tile or window side (cells): each tile's driver-side work (its border, its
#: edges, a check per round of the flat distances) is per tile, so tiny tiles cost more
#: than they save.
MIN_WINDOW_CELLS = 16

TERRAIN_STEPS = ("load DEM", "fill voids", "route flow", "streams and HAND", "MRVBF",
                  "classify and polygonise", "mined ground", "write outputs")


class TerrainParameters(BaseModel):
    """Terrain-mode parameters (validated; units in the names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_threshold_km2: float = Field(5.0, gt=0, le=10_000,
                                        description="Contributing area that starts a stream (km²).")
    res_m: float = Field(90.0, ge=10, le=1000,
                         description="DEM cell size in the field's UTM zone (m).")
    margin_m: float = Field(5000.0, ge=0, le=50_000,
                            description="Hydrology runs on the AOI grown by this (m).")
    max_void_search_cells: int = Field(100, ge=1, le=10_000)
    mrvbf: terrain.MrvbfParameters = Field(default_factory=terrain.MrvbfParameters)
    classes: terrain.ValleyClassParameters = Field(default_factory=terrain.ValleyClassParameters)
    placers: terrain.PlacerParameters = Field(default_factory=terrain.PlacerParameters)
    window_cells: int = Field(0, ge=0, le=100_000, description=(
        "Side (cells) of the tiles flow is routed on (footprint.terrain.tiled_routing) "
        "and of the windows MRVBF and the classes are computed on, each with a halo "
        "(footprint.terrain.tiles); 0 = the whole grid at once, else at least "
        f"{MIN_WINDOW_CELLS}."))

    @field_validator("window_cells")
    @classmethod
    def _window_size(cls, value: int) -> int:
        if 0 < value < MIN_WINDOW_CELLS:
            raise ValueError(f"window_cells must be 0 (the whole grid) or at least "
                             f"{MIN_WINDOW_CELLS}, got {value}")
        return value


def _crop_window(mask: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


@dataclass
class PreparedDem:
    """The void-filled DEM of a field and its masks (what routing sees)."""

    grid: Grid
    elevation_m: np.ndarray
    in_aoi: np.ndarray
    in_aoi_with_data: np.ndarray
    coverage: dict[str, float]
    void_cells: int


def prepare_dem(field, sources, params: TerrainParameters,
                clock: Clock | None = None) -> PreparedDem:
    """Load the field's DEM sources over the AOI grown by the margin and fill the voids
    enclosed by data (never the no-data beyond the sources: that stays NaN, masked)."""
    grown_4326 = grow_aoi_4326(field, params.margin_m).union(field.aoi_4326)
    coverage: dict[str, float] = {}
    grid = load_dem(grown_4326, field.crs_epsg, res_m=params.res_m, sources=sources,
                    coverage=coverage)
    aoi = field.aoi_projected()
    in_aoi = geometry_mask([aoi], out_shape=grid.shape, transform=grid.transform, invert=True)
    if not in_aoi.any():
        raise InvalidLayerError(f"{field.id}: the DEM does not reach the area of interest")
    to_utm = pyproj.Transformer.from_crs(4326, field.crs_epsg, always_xy=True)
    grown_utm = shapely.transform(
        grown_4326, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    grown = geometry_mask([grown_utm], out_shape=grid.shape, transform=grid.transform,
                          invert=True)
    voids = terrain.enclosed_voids(grid.data, within=grown)
    if clock is not None:
        clock.step("fill voids")
    elevation = terrain.fill_voids(grid.data, max_search_cells=params.max_void_search_cells,
                                   fill_mask=voids)
    grid = Grid(elevation, grid.transform, grid.crs)  # the raw DEM is not kept
    in_aoi_with_data = in_aoi & ~np.isnan(elevation)
    if not in_aoi_with_data.any():
        raise InvalidLayerError(f"{field.id}: the DEM holds no height inside the area of interest")
    return PreparedDem(grid, elevation, in_aoi, in_aoi_with_data, coverage, int(voids.sum()))


@dataclass
class PlacerNetwork:
    """Streams, HAND and the source-connected (placer) part of the network of a grid."""

    streams: np.ndarray
    hand_m: np.ndarray
    placer_streams: np.ndarray
    eligible: np.ndarray
    restricted: bool
    length_km: float
    all_length_km: float


def run_terrain(field, sources, params: TerrainParameters, clock: Clock, inputs: list[dict],
                known_sources: gpd.GeoDataFrame | None = None, *,
                map_windows: WindowMap = map,
                on_rasters: Callable[[dict[str, Grid]], object] | None = None,
                scratch_root: Path | None = None):
    """Terrain mode: (deposits, placer stream length km, rasters, summary entries).

    With ``params.window_cells`` > 0, flow is routed by tiles
    (:func:`footprint.terrain.route_flow_by_tiles`, its grids in files mapped from a new
    directory under ``scratch_root``, default ``TMPDIR``, removed at the end) and MRVBF
    and the classes are computed by windows with halos
    (:func:`footprint.terrain.classify_by_windows`), all run by ``map_windows``.
    ``on_rasters(rasters)`` is called as soon as the rasters are final, before the
    polygons are made (the caller starts writing them).
    """
    clock.step("load DEM")
    for source in sources:
        inputs.extend({"role": "dem", "source": source.label, "path": input_name(path),
                       "sha256": sha256_file(path)} for path in source.paths)
    prepared = prepare_dem(field, sources, params, clock)
    grid = prepared.grid
    with (ThreadPoolExecutor(max_workers=1, thread_name_prefix="mrvbf") as pool,
          _scratch(scratch_root) as scratch):
        # MRVBF needs only the DEM: it runs beside routing (both compiled without the GIL)
        pending = None if params.window_cells else pool.submit(
            terrain.mrvbf, prepared.elevation_m, grid.res_m, params.mrvbf)
        clock.step("route flow")
        routing = _route(prepared, params, map_windows, Path(scratch))
        clock.step("streams and HAND")
        network = placer_network(routing, prepared, params,
                                 _rasterise_sources(known_sources, grid))
        clock.step("MRVBF")
        mrvbf_index, classes, class_params, evidence = _valley_classes(
            prepared, network, params, known_sources, map_windows,
            None if pending is None else pending.result())
    clock.step("classify and polygonise")
    window = _crop_window(prepared.in_aoi)
    transform = grid.transform @ Affine.translation(window[1].start, window[0].start)
    channel = _channel_belts(routing, network.placer_streams, grid, params.placers,
                             field.aoi_projected())
    extra = _terrain_summary(prepared, network, routing, params, known_sources,
                             class_params, evidence)
    rasters = _rasters(routing, network, mrvbf_index, classes, prepared.in_aoi, window,
                       transform, grid.crs)
    crs = grid.crs
    # the network's index arrays and the DEM are not needed for the polygons and COGs
    del routing, prepared, grid
    if on_rasters is not None:
        on_rasters(rasters)
    # classes are already 0 outside the AOI (cell centres), so no polygon clip is needed
    valley = dep.polygonize_classes(classes[window], transform, crs)
    return dep.with_channel(channel, valley), network.length_km, rasters, extra


def _scratch(root: Path | None) -> tempfile.TemporaryDirectory[str]:
    """A new scratch directory under ``root`` (created if missing; default ``TMPDIR``)."""
    if root is not None:
        Path(root).mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix="footprint-routing-", dir=root)


def _route(prepared: PreparedDem, params: TerrainParameters, map_windows: WindowMap,
           scratch: Path):
    """The whole grid's routing, or with ``window_cells`` the tiled one (its grids are
    files in ``scratch``, which stay mapped after the directory is removed)."""
    grid = prepared.grid
    if not params.window_cells:
        return terrain.route_flow(prepared.elevation_m, grid.res_m, transform=grid.transform)
    return terrain.route_flow_by_tiles(prepared.elevation_m, grid.res_m,
                                       tile_cells=params.window_cells,
                                       transform=grid.transform, map_windows=map_windows,
                                       new_grid=mapped_grids(scratch))


def _rasters(routing, network: PlacerNetwork, mrvbf_index: np.ndarray, classes: np.ndarray,
             in_aoi: np.ndarray, window: tuple[slice, slice], transform: Affine,
             crs) -> dict[str, Grid]:
    """The run's grids cropped to the AOI's window, NaN outside the AOI; the classes
    raster shows the placer streams as channel."""
    layers = {"elevation": routing.conditioned_m, "mrvbf": mrvbf_index, "hand": network.hand_m,
              "streams": network.streams, "placer_streams": network.placer_streams,
              "classes": classes, "upstream_area_km2": routing.upstream_area_km2}
    rasters = {name: Grid(_cropped(array, window, in_aoi), transform, crs)
               for name, array in layers.items()}
    rasters["classes"].data[network.placer_streams[window]] = terrain.DepositClass.ACTIVE_CHANNEL
    return rasters


def placer_network(routing, prepared: PreparedDem, params: TerrainParameters,
                   source_cells: np.ndarray) -> PlacerNetwork:
    """Streams, HAND and the source-connected streams and the cells draining to them
    (every drainage with ``min_placer_area_km2`` when there is no known source)."""
    in_aoi = prepared.in_aoi
    streams = terrain.extract_streams(routing.upstream_area_km2, params.stream_threshold_km2)
    hand_m = terrain.height_above_drainage(routing, streams)
    placers = params.placers
    restricted = placers.source_connected and bool(source_cells.any())
    if restricted:
        placer_streams = terrain.source_connected_streams(routing, streams, source_cells, placers)
        eligible = terrain.drains_to(routing, streams, placer_streams)
    else:  # no known source: every drainage is permissive (DOMAIN.md 3.1)
        placer_streams = streams & terrain.at_least(routing.upstream_area_km2,
                                                    placers.min_placer_area_km2)
        eligible = np.ones_like(streams)
    placer_streams &= prepared.in_aoi_with_data
    return PlacerNetwork(streams, hand_m, placer_streams, eligible, restricted,
                         terrain.stream_length_km(routing, placer_streams, mask=in_aoi),
                         terrain.stream_length_km(routing, streams, mask=in_aoi))


def _valley_classes(prepared: PreparedDem, network: PlacerNetwork, params: TerrainParameters,
                    known_sources, map_windows, mrvbf_index: np.ndarray | None = None):
    """(MRVBF, classes, class parameters used, terrace evidence cells), whole or by windows
    (``mrvbf_index``: the whole grid's MRVBF when it is already computed).

    Channel cells are drawn as belts of their own width, not as whole cells, so the
    classes get no stream cells here."""
    mask = prepared.in_aoi_with_data & network.eligible
    grid, elevation = prepared.grid, prepared.elevation_m
    if params.window_cells:
        mrvbf_index, classes = terrain.classify_by_windows(
            elevation, network.hand_m, mask, grid.res_m, window_cells=params.window_cells,
            mrvbf_params=params.mrvbf, class_params=params.classes, map_windows=map_windows)
    else:
        if mrvbf_index is None:
            mrvbf_index = terrain.mrvbf(elevation, grid.res_m, params.mrvbf)
        classes = None
    class_params, evidence = _with_terrace_evidence(params.classes, known_sources, grid,
                                                    network.hand_m, mrvbf_index)
    if classes is None or class_params != params.classes:  # evidence turned a class on
        classes = terrain.classify_valley_bottoms(mrvbf_index, network.hand_m,
                                                  np.zeros_like(network.streams),
                                                  class_params, mask=mask)
    return mrvbf_index, classes, class_params, evidence


def _cropped(array: np.ndarray, window: tuple[slice, slice], in_aoi: np.ndarray) -> np.ndarray:
    """The AOI's window of a grid as float32, NaN outside the AOI. Float32 grids are
    masked in place and returned as a view (the run no longer needs them whole), which
    saves a copy of four grids at the run's memory peak."""
    if array.dtype == np.float32:
        array[~in_aoi] = np.nan
        return array[window]
    out = array[window].astype(np.float32)
    out[~in_aoi[window]] = np.nan
    return out


def _terrain_summary(prepared: PreparedDem, network: PlacerNetwork, routing, params,
                     known_sources, class_params, terrace_evidence: int) -> dict[str, Any]:
    grid, in_aoi = prepared.grid, prepared.in_aoi
    no_data_in_aoi = in_aoi & ~prepared.in_aoi_with_data
    rule = ("source-connected: drainages within source_radius_km of a known source and "
            "downstream of it up to max_transport_km; valley bottoms only where their first "
            "stream is one of them" if network.restricted else "no known source in reach: "
            "every drainage with at least min_placer_area_km2 is permissive")
    return {"routing": "tiles" if params.window_cells else "whole",
            "grid": {"res_m": grid.res_m, "rows": grid.shape[0], "cols": grid.shape[1],
                     "cells": int(grid.data.size), "cells_in_aoi": int(in_aoi.sum()),
                     "void_cells_filled": prepared.void_cells, "crs": grid.crs.to_string(),
                     "window_cells": params.window_cells},
            "dem_coverage": {"share_of_aoi_by_source": prepared.coverage,
                             "share_of_aoi_without_data": round(
                                 float(no_data_in_aoi.sum()) / max(int(in_aoi.sum()), 1), 4)},
            "stream_cells_in_aoi": int((network.streams & in_aoi).sum()),
            "placer_network": {
                "rule": rule, "source_connected": network.restricted,
                "sources": _describe_sources(known_sources),
                "placer_stream_length_km": round(network.length_km, 3),
                "all_stream_length_km": round(network.all_length_km, 3),
                "channel_width_m": _width_summary(routing, network.placer_streams,
                                                  params.placers),
                "high_terrace": {"included": class_params.include_high_terrace,
                                 "evidence_cells": terrace_evidence}}}


def _with_terrace_evidence(params, known: gpd.GeoDataFrame | None, grid: Grid,
                           hand_m: np.ndarray, mrvbf_index: np.ndarray):
    """Turn the high-terrace class on where evidence lies in it: uploaded deposits or
    bulk samples with carats > 0 on valley-bottom cells whose HAND is above the low
    terrace and at most ``high_terrace_max_m``. Returns (parameters, evidence cells)."""
    if known is None or known.empty:
        return params, 0
    evidence = known[known["kind"].isin(["uploaded_deposit", "bulk_sample"])]
    cells = _rasterise_sources(evidence, grid)
    with np.errstate(invalid="ignore"):
        in_band = ((hand_m > params.low_terrace_max_m) & (hand_m <= params.high_terrace_max_m)
                   & (np.nan_to_num(mrvbf_index, nan=-1.0) >= params.min_mrvbf))
    count = int((cells & in_band).sum())
    if count and not params.include_high_terrace:
        params = params.model_copy(update={"include_high_terrace": True})
    return params, count


def _rasterise_sources(known: gpd.GeoDataFrame | None, grid: Grid) -> np.ndarray:
    """Cells touched by the known sources (points and polygons, in the grid's CRS)."""
    if known is None or known.empty:
        return np.zeros(grid.shape, dtype=bool)
    geoms = [g for g in known.to_crs(grid.crs).geometry.values if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(grid.shape, dtype=bool)
    return rasterize(geoms, out_shape=grid.shape, transform=grid.transform, fill=0,
                     default_value=1, all_touched=True, dtype="uint8").astype(bool)


def _describe_sources(known: gpd.GeoDataFrame | None) -> list[dict[str, Any]]:
    if known is None or known.empty:
        return []
    return [{"kind": str(row["kind"]), "name": str(row["name"])}
            for _, row in known.iterrows()][:200]


def _width_summary(routing, placer_streams: np.ndarray, placers) -> dict[str, float] | None:
    widths = placers.channel_width_m(routing.upstream_area_km2[placer_streams])
    if widths.size == 0:
        return None
    return {"min": round(float(widths.min()), 1), "median": round(float(np.median(widths)), 1),
            "max": round(float(widths.max()), 1)}


def _channel_belts(routing, placer_streams: np.ndarray, grid: Grid, placers, aoi):
    """Belts of hydraulic-geometry width along each D8 step of the placer streams."""
    idxs = np.flatnonzero(placer_streams.ravel())
    if idxs.size == 0:
        return dep.empty_deposits(grid.crs)
    cols = grid.shape[1]
    down = routing.idxs_ds[idxs]
    x0, y0 = xy(grid.transform, idxs // cols, idxs % cols)
    x1, y1 = xy(grid.transform, down // cols, down % cols)
    width = placers.channel_width_m(routing.upstream_area_km2.ravel()[idxs])
    return dep.channel_belts(np.asarray(x0), np.asarray(y0), np.asarray(x1), np.asarray(y1),
                             width, grid.crs, aoi=aoi)

