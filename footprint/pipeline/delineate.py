"""Deposit delineation of one catalogue field: data in, deposits and rasters out.

The I/O around the pure models of :mod:`footprint.terrain` and :mod:`footprint.deposits`:
it finds the DEM tiles, rivers and bundled polygons of a field, chooses the best mode the
data allow (DOMAIN.md 3.1: terrain > rivers > polygons, in the order the catalogue lists
for the field), runs it, subtracts mined ground, and (with ``out_dir``) writes

``deposits.gpkg``  layer ``deposits``, field's UTM CRS, :data:`footprint.deposits.DEPOSIT_COLUMNS`
``streams.tif``    uint8 COG, 1 stream / 0 not, 255 = nodata outside the AOI (terrain mode)
``mrvbf.tif``      float32 COG, MRVBF index, NaN outside the AOI (terrain mode)
``hand.tif``       float32 COG, height above nearest drainage (m), NaN outside (terrain mode)
``summary.json``   areas per class, parameters, input checksums, timings, code version

Hydrology is computed on the AOI grown by ``margin_m`` (default 5 km), so streams that
enter the AOI carry the area upstream of its edge; everything reported is then restricted
to the AOI: terrain-mode polygons are made of the 90 m cells whose centre lies in it
(cell-exact areas, no sliver clipping), river belts and mapped polygons are clipped to it.

Terrain mode keeps only source-connected ground (:class:`footprint.terrain.PlacerParameters`):
drainages near and downstream of the known sources of :func:`known_sources`, their
valley bottoms, and channel belts of hydraulic-geometry width; ``summary["placer_network"]``
gives the rule, the sources, the placer and total stream lengths and the channel widths.
DEM sources (bundled tiles, ``dem_paths``, ``dem_uploads``) stack in priority order
(:func:`footprint.io.dem.load_dem`); ``summary["dem_coverage"]`` gives each one's share of
the AOI and the share without data, which stays masked (only voids enclosed by data are
filled). ``placer_streams`` joins the rasters (in memory, not written).

Memory: the terrain mode peaks at about 77 MB per million DEM cells (tracemalloc, see
:mod:`footprint.terrain`); gh-birim at 90 m (0.71 M cells with the margin) peaks at about
55 MB, processed whole (no windows: delineation by basin or tile is not built yet).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field
from rasterio.features import geometry_mask
from rasterio.transform import xy

from footprint import deposits as dep
from footprint import terrain
from footprint.concepts import DELINEATION_MODES
from footprint.errors import DataMissingError, InvalidLayerError, InvalidParameterError
from footprint.io.dem import DemSource
from footprint.io.raster import Grid, write_cog
from footprint.provenance import code_version, sha256_bytes, sha256_file

log = logging.getLogger(__name__)

MODES = DELINEATION_MODES

#: progress(step, done, total): called before each step of the run.
ProgressCallback = Callable[[str, int, int], None]

_TERRAIN_STEPS = ("load DEM", "fill voids", "route flow", "streams and HAND", "MRVBF",
                  "classify and polygonise", "mined ground", "write outputs")
_VECTOR_STEPS = ("load layers", "build deposits", "mined ground", "write outputs")


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


class DelineationParameters(BaseModel):
    """All parameters of a delineation run (echoed in ``summary.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    terrain: TerrainParameters = Field(default_factory=TerrainParameters)
    rivers: dep.RiverBufferParameters = Field(default_factory=dep.RiverBufferParameters)
    river_source: str = Field("wdbii", pattern="^(wdbii|naturalearth)$")


@dataclass
class DelineationResult:
    """What a delineation produced.

    Attributes
    ----------
    field_id, mode : the field and the mode used (``terrain``, ``rivers``, ``polygons``).
    deposits : GeoDataFrame in the field's UTM CRS (:data:`footprint.deposits.DEPOSIT_COLUMNS`).
    stream_length_km : drainage length inside the AOI (terrain: D8 streams; rivers: mapped
        lines; polygons: mapped lines when available, else 0).
    summary : the content of ``summary.json``.
    rasters : terrain mode only: ``elevation`` (conditioned, m), ``mrvbf``, ``hand`` (m),
        ``streams`` (1/0, NaN outside), ``classes`` (terrain.DepositClass codes),
        ``upstream_area_km2`` (contributing area incl. the margin, km²) as
        :class:`footprint.io.raster.Grid`, cropped to the AOI's extent.
    files : paths written (empty without ``out_dir``).
    """

    field_id: str
    mode: str
    deposits: gpd.GeoDataFrame
    stream_length_km: float
    summary: dict[str, Any]
    rasters: dict[str, Grid] = dc_field(default_factory=dict)
    files: dict[str, Path] = dc_field(default_factory=dict)


class _Clock:
    """Step timer that also reports progress."""

    def __init__(self, steps: tuple[str, ...], progress: ProgressCallback | None) -> None:
        self.steps, self.progress = steps, progress
        self.timings_s: dict[str, float] = {}
        self._current: str | None = None
        self._start = 0.0

    def step(self, name: str) -> None:
        self._stop()
        self._current, self._start = name, time.perf_counter()
        if self.progress is not None:
            self.progress(name, self.steps.index(name), len(self.steps))
        log.info("delineation step: %s", name)

    def _stop(self) -> None:
        if self._current is not None:
            self.timings_s[self._current] = round(time.perf_counter() - self._start, 3)
            self._current = None

    def done(self) -> dict[str, float]:
        self._stop()
        if self.progress is not None:
            self.progress("done", len(self.steps), len(self.steps))
        self.timings_s["total"] = round(sum(self.timings_s.values()), 3)
        return self.timings_s


# --------------------------------------------------------------------------- inputs


def _settings(settings):
    if settings is not None:
        return settings
    from footprint.settings import get_settings

    return get_settings()


def _checksum_frame(frame: gpd.GeoDataFrame) -> str:
    return sha256_bytes(frame.to_json(sort_keys=True).encode())


def _as_frame(layer, role: str, inputs: list[dict]) -> gpd.GeoDataFrame | None:
    """A GeoDataFrame from a frame or a vector file path (recording its checksum)."""
    if layer is None:
        return None
    if isinstance(layer, (str, Path)):
        path = Path(layer)
        if not path.is_file():
            raise DataMissingError(f"{role} file not found: {path}")
        frame = gpd.read_file(path)
        inputs.append({"role": role, "path": str(path), "sha256": sha256_file(path)})
        return frame
    if not isinstance(layer, gpd.GeoDataFrame):
        raise InvalidLayerError(f"{role} must be a GeoDataFrame or a vector file path")
    inputs.append({"role": role, "path": None, "sha256": _checksum_frame(layer)})
    return layer


def _dem_paths(field, dem_paths, settings, margin_m: float) -> list[Path] | None:
    """The DEM files: ``dem_paths`` if given, else the field's tiles (all required) plus
    any tile of the hydrological margin that is present."""
    if dem_paths:
        missing = [str(p) for p in dem_paths if not Path(p).is_file()]
        if missing:
            raise DataMissingError(f"DEM file not found: {', '.join(missing)}")
        return [Path(p) for p in dem_paths]
    from footprint.catalogue import srtm_tile_names
    from footprint.io.dem import find_tiles

    found = find_tiles(field.dem_tiles, Path(settings.data_dir), Path(settings.cache_dir))
    if not found or any(p is None for p in found.values()):
        return None
    margin_tiles = [t for t in srtm_tile_names(_grow_aoi_4326(field, margin_m).bounds)
                    if t not in found]
    extra = find_tiles(margin_tiles, Path(settings.data_dir), Path(settings.cache_dir))
    return [p for p in [*found.values(), *extra.values()] if p is not None]


def known_sources(field, settings, *, deposit_polygons: gpd.GeoDataFrame | None = None,
                  mined_polygons: gpd.GeoDataFrame | None = None,
                  bulk_samples: gpd.GeoDataFrame | None = None,
                  margin_m: float = 0.0) -> gpd.GeoDataFrame:
    """Known diamond sources of a field (EPSG:4326; columns ``kind``, ``name``, geometry).

    The USGS diamond deposit and facility points of the catalogue and of the data
    directory (doi:10.5066/P97EQWXP) within the AOI grown by ``margin_m``, uploaded
    deposits, mined areas, and bulk samples with carats > 0 (DOMAIN.md 3.1).
    """
    rows: list[dict[str, Any]] = []
    for point in field.usgs_points:
        rows.append({"kind": f"usgs_{point.layer}", "name": point.name,
                     "geometry": shapely.Point(point.lon, point.lat)})
    grown = _grow_aoi_4326(field, margin_m)
    try:
        from footprint.io.vectors import load_usgs_points

        usgs = load_usgs_points(Path(settings.data_dir), grown.bounds,
                                layers=("deposits", "facilities"), diamond_only=True)
    except DataMissingError:
        usgs = None
    if usgs is not None:
        known_names = {row["name"] for row in rows}
        for _, point in usgs.iterrows():
            if point["name"] not in known_names and grown.intersects(point.geometry):
                rows.append({"kind": f"usgs_{point['layer']}", "name": str(point["name"]),
                             "geometry": point.geometry})
    for kind, frame in (("uploaded_deposit", deposit_polygons), ("mined_area", mined_polygons),
                        ("bulk_sample", bulk_samples)):
        if frame is None or frame.empty:
            continue
        frame = frame.to_crs(4326)
        if kind == "bulk_sample":
            carats = pd.to_numeric(frame.get("carats"), errors="coerce")
            frame = frame[carats.fillna(0).to_numpy() > 0]
        for number, geometry in enumerate(frame.geometry.values):
            if geometry is not None and not geometry.is_empty:
                rows.append({"kind": kind, "name": f"{kind} {number + 1}", "geometry": geometry})
    if not rows:
        return gpd.GeoDataFrame({"kind": [], "name": []}, geometry=[], crs=4326)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _river_lines(field, settings, params: DelineationParameters, inputs: list[dict]):
    from footprint.io import vectors

    layer = "rivers_wdbii" if params.river_source == "wdbii" else "rivers_naturalearth"
    region = vectors.region_for_bbox(field.bbox_4326)
    path = vectors.vector_path(layer, Path(settings.data_dir), region)
    rivers = vectors.load_rivers(Path(settings.data_dir), field.bbox_4326,
                                 source=params.river_source, region=region)
    inputs.append({"role": "rivers", "path": str(path), "sha256": sha256_file(path)})
    return rivers


def _bundled_polygons(field) -> gpd.GeoDataFrame | None:
    """The catalogue's bundled deposit polygon (zw-marange: the dispersion-halo AOI)."""
    bundle = field.bundled_deposits
    if not bundle:
        return None
    frame = gpd.GeoDataFrame({"deposit_class": [bundle.get("deposit_class", "mapped_deposit")],
                              "source": [bundle.get("method", "catalogue")]},
                             geometry=[field.aoi_4326], crs=4326)
    return frame


#: Largest area of interest ``--aoi`` accepts (km²): about 30 SRTM3 tiles at the equator;
#: beyond it delineate by basin or tiles (not yet built, issue 12 item 4).
MAX_AOI_KM2 = 250_000.0


def field_from_aoi(path: Path | str, name: str | None = None):
    """A field definition for any area of interest (a GeoJSON Polygon/MultiPolygon file
    in lon/lat, RFC 7946), so a new region can be assessed with the catalogue's rules.

    Its CRS is the UTM zone of the AOI's centroid, its DEM tiles the SRTM3 tiles of its
    bounding box; it has no catalogue points: known sources come from the USGS layers of
    the data directory. The id is ``aoi-`` and the first 8 hex digits of the file's
    sha256, so the same file always names the same field.

    Raises
    ------
    InvalidLayerError
        not a readable GeoJSON polygon in lon/lat, or larger than :data:`MAX_AOI_KM2`.
    """
    from footprint.catalogue import FieldDefinition, srtm_tile_names

    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"AOI file not found: {path.name}")
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InvalidLayerError(f"cannot read the AOI {path.name}: not a GeoJSON file") from exc
    if frame.empty or not frame.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise InvalidLayerError("the AOI must hold Polygon or MultiPolygon features")
    if frame.crs is not None and not frame.crs.is_geographic:
        frame = frame.to_crs(4326)
    aoi = shapely.union_all(shapely.make_valid(frame.geometry.values))
    west, south, east, north = aoi.bounds
    if not (-180 <= west < east <= 180 and -60 <= south < north <= 60):
        raise InvalidLayerError("the AOI must be in lon/lat within SRTM's 60 S - 60 N")
    if aoi.geom_type == "MultiPolygon":
        aoi = aoi.convex_hull if len(aoi.geoms) > 1 else aoi.geoms[0]
    centre = aoi.centroid
    zone = int((centre.x + 180) // 6) + 1
    epsg = (32600 if centre.y >= 0 else 32700) + zone
    field = FieldDefinition(
        id=f"aoi-{sha256_file(path)[:8]}", name=name or path.stem, country="",
        participant_iso3="XXX", crs_epsg=epsg, aoi_4326=aoi,
        aoi_method=f"user AOI from {path.name}", aoi_approximate="as given",
        delineation_modes=("terrain", "rivers"), dem_tiles=srtm_tile_names(aoi.bounds))
    if field.aoi_area_km2 > MAX_AOI_KM2:
        raise InvalidLayerError(f"the AOI is {field.aoi_area_km2:,.0f} km²; at most "
                                f"{MAX_AOI_KM2:,.0f} km² are delineated in memory")
    return field


def choose_mode(field, *, has_dem: bool, has_rivers: bool, has_polygons: bool,
                requested: str | None = None, dem_uploaded: bool = False) -> str:
    """The delineation mode: ``requested`` if the data allow it, else the first the data
    allow in this order: ``terrain`` when a DEM was given explicitly (an uploaded DEM is
    why a field leaves river-buffer mode, DOMAIN.md 2), then the field's catalogue
    modes, then the remaining modes best first (terrain, rivers, polygons). Raises
    DataMissingError when none is possible."""
    available = {"terrain": has_dem, "rivers": has_rivers, "polygons": has_polygons}
    if requested is not None:
        if requested not in MODES:
            raise InvalidParameterError(f"unknown delineation mode {requested!r}",
                                        hint=f"one of {', '.join(MODES)}")
        if not available[requested]:
            what = {"terrain": "DEM tiles (pass --dem FILE or run `footprint data fetch`)",
                    "rivers": "a river layer in the data directory",
                    "polygons": "deposit polygons (upload a deposits layer)"}[requested]
            raise DataMissingError(f"{field.id}: mode {requested!r} needs {what}")
        return requested
    preference = (["terrain"] if dem_uploaded else []) + list(field.delineation_modes) + list(MODES)
    for mode in preference:
        if available.get(mode):
            return mode
    raise DataMissingError(f"{field.id}: no delineation mode is possible with the data present",
                           hint="run `footprint data check`")


# --------------------------------------------------------------------------- modes


def _grow_aoi_4326(field, margin_m: float):
    """The AOI grown by ``margin_m`` (buffered in metres, returned in lon/lat)."""
    if margin_m <= 0:
        return field.aoi_4326
    to_4326 = pyproj.Transformer.from_crs(field.crs_epsg, 4326, always_xy=True)
    grown = field.aoi_projected().buffer(margin_m)
    return shapely.transform(
        grown, lambda xy: np.column_stack(to_4326.transform(xy[:, 0], xy[:, 1])))


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
                clock: _Clock | None = None) -> PreparedDem:
    """Load the field's DEM sources over the AOI grown by the margin and fill the voids
    enclosed by data (never the no-data beyond the sources: that stays NaN, masked)."""
    from footprint.io.dem import load_dem

    grown_4326 = _grow_aoi_4326(field, params.margin_m).union(field.aoi_4326)
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
    in_aoi_with_data = in_aoi & ~np.isnan(elevation)
    if not in_aoi_with_data.any():
        raise InvalidLayerError(f"{field.id}: the DEM holds no height inside the area of interest")
    return PreparedDem(grid, elevation, in_aoi, in_aoi_with_data, coverage, int(voids.sum()))


def _run_terrain(field, sources, params: TerrainParameters, clock: _Clock,
                 inputs: list[dict], known_sources: gpd.GeoDataFrame | None = None):
    clock.step("load DEM")
    for source in sources:
        for path in source.paths:
            inputs.append({"role": "dem", "source": source.label, "path": str(path),
                           "sha256": sha256_file(path)})
    prepared = prepare_dem(field, sources, params, clock)
    grid, elevation, in_aoi = prepared.grid, prepared.elevation_m, prepared.in_aoi
    in_aoi_with_data, coverage, void_cells = (prepared.in_aoi_with_data, prepared.coverage,
                                              prepared.void_cells)
    no_data_in_aoi = in_aoi & ~in_aoi_with_data

    clock.step("route flow")
    routing = terrain.route_flow(elevation, grid.res_m, transform=grid.transform)

    clock.step("streams and HAND")
    streams = terrain.extract_streams(routing.upstream_area_km2, params.stream_threshold_km2)
    hand_m = terrain.height_above_drainage(routing, streams)
    all_length_km = terrain.stream_length_km(routing, streams, mask=in_aoi)
    placers = params.placers
    source_cells = _rasterise_sources(known_sources, grid)
    restricted = placers.source_connected and bool(source_cells.any())
    if restricted:
        placer_streams = terrain.source_connected_streams(routing, streams, source_cells, placers)
        eligible = terrain.drains_to(routing, streams, placer_streams)
    else:  # no known source: every drainage is permissive (DOMAIN.md 3.1)
        area = np.nan_to_num(routing.upstream_area_km2, nan=0.0)
        placer_streams = streams & (area >= placers.min_placer_area_km2 * (1 - 1e-6))
        eligible = np.ones_like(streams)
    placer_streams &= in_aoi_with_data
    length_km = terrain.stream_length_km(routing, placer_streams, mask=in_aoi)

    clock.step("MRVBF")
    mrvbf_index = terrain.mrvbf(elevation, grid.res_m, params.mrvbf)

    clock.step("classify and polygonise")
    class_params, terrace_evidence = _with_terrace_evidence(params.classes, known_sources, grid,
                                                            hand_m, mrvbf_index)
    # channel cells are drawn as belts of their own width below, not as whole cells
    classes = terrain.classify_valley_bottoms(mrvbf_index, hand_m, np.zeros_like(streams),
                                              class_params, mask=in_aoi_with_data & eligible)
    window = _crop_window(in_aoi)
    transform = grid.transform @ Affine.translation(window[1].start, window[0].start)
    # classes are already 0 outside the AOI (cell centres), so no polygon clip is needed
    valley = dep.polygonize_classes(classes[window], transform, grid.crs)
    channel = _channel_belts(routing, placer_streams, grid, placers, field.aoi_projected())
    deposits = dep.with_channel(channel, valley)
    classes[placer_streams] = terrain.DepositClass.ACTIVE_CHANNEL

    def cropped(array: np.ndarray) -> np.ndarray:
        out = array[window].astype(np.float32)
        out[~in_aoi[window]] = np.nan
        return out

    rasters = {
        "elevation": Grid(cropped(routing.conditioned_m), transform, grid.crs),
        "mrvbf": Grid(cropped(mrvbf_index), transform, grid.crs),
        "hand": Grid(cropped(hand_m), transform, grid.crs),
        "streams": Grid(cropped(streams.astype(np.float32)), transform, grid.crs),
        "placer_streams": Grid(cropped(placer_streams.astype(np.float32)), transform, grid.crs),
        "classes": Grid(cropped(classes.astype(np.float32)), transform, grid.crs),
        "upstream_area_km2": Grid(cropped(routing.upstream_area_km2), transform, grid.crs),
    }
    extra = {"grid": {"res_m": grid.res_m, "rows": grid.shape[0], "cols": grid.shape[1],
                      "cells": int(grid.data.size), "cells_in_aoi": int(in_aoi.sum()),
                      "void_cells_filled": void_cells, "crs": grid.crs.to_string()},
             "dem_coverage": {"share_of_aoi_by_source": coverage,
                              "share_of_aoi_without_data": round(
                                  float(no_data_in_aoi.sum()) / max(int(in_aoi.sum()), 1), 4)},
             "stream_cells_in_aoi": int((streams & in_aoi).sum()),
             "placer_network": {
                 "rule": ("source-connected: drainages within source_radius_km of a known "
                          "source and downstream of it up to max_transport_km; valley "
                          "bottoms only where their first stream is one of them"
                          if restricted else "no known source in reach: every drainage "
                          "with at least min_placer_area_km2 is permissive"),
                 "source_connected": restricted,
                 "sources": _describe_sources(known_sources),
                 "placer_stream_length_km": round(length_km, 3),
                 "all_stream_length_km": round(all_length_km, 3),
                 "channel_width_m": _width_summary(routing, placer_streams, placers),
                 "high_terrace": {"included": class_params.include_high_terrace,
                                  "evidence_cells": terrace_evidence}}}
    return deposits, length_km, rasters, extra


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
    from rasterio.features import rasterize

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
    down = routing.flwdir.idxs_ds[idxs]
    x0, y0 = xy(grid.transform, idxs // cols, idxs % cols)
    x1, y1 = xy(grid.transform, down // cols, down % cols)
    width = placers.channel_width_m(routing.upstream_area_km2.ravel()[idxs])
    return dep.channel_belts(np.asarray(x0), np.asarray(y0), np.asarray(x1), np.asarray(y1),
                             width, grid.crs, aoi=aoi)


def _line_length_km(rivers: gpd.GeoDataFrame, aoi, crs_epsg: int) -> float:
    if rivers is None or rivers.empty:
        return 0.0
    lines = rivers.to_crs(crs_epsg).geometry.values
    return float(shapely.length(shapely.intersection(lines, aoi)).sum() / 1000.0)


# --------------------------------------------------------------------------- entry point


def delineate_field(field_id, out_dir: Path | None = None, *, mode: str | None = None,
                    dem_paths: list[Path] | None = None,
                    dem_uploads: list[tuple[str, Path]] | None = None, deposit_polygons=None,
                    mined_polygons=None, bulk_samples=None, settings=None,
                    progress: ProgressCallback | None = None,
                    parameters: DelineationParameters | None = None) -> DelineationResult:
    """Delineate the deposits of a catalogue field.

    Parameters
    ----------
    field_id : catalogue id (``gh-birim`` ...), or a field definition such as
        :func:`field_from_aoi` makes for any area of interest.
    out_dir : where to write the outputs (see module docstring); None writes nothing.
    mode : ``terrain``, ``rivers`` or ``polygons``; default the best the data allow, in
        the field's catalogue order.
    dem_paths : DEM files to use instead of the field's tiles in the data directory.
    dem_uploads : uploaded DEMs as ``(label, path)``, oldest first, stacked over the
        field's tiles (or ``dem_paths``): each wins where it has data, the tiles fill the
        rest, and ``summary["dem_coverage"]`` gives each source's share of the AOI.
    deposit_polygons : expert deposit polygons (GeoDataFrame or vector file) for the
        polygon mode; default the catalogue's bundled polygon where there is one.
    mined_polygons : mined pits/tailings (GeoDataFrame or vector file), subtracted; in
        terrain mode also known sources.
    bulk_samples : bulk samples (GeoDataFrame or vector file, ``carats``); those with
        carats > 0 are known sources in terrain mode.
    settings : footprint settings (data_dir, cache_dir); default ``get_settings()``.
    progress : ``progress(step, done, total)`` called at each step.
    parameters : DelineationParameters; default values documented there.

    Raises
    ------
    UnknownFieldError, DataMissingError, InvalidLayerError, InvalidParameterError
    """
    from footprint.catalogue import FieldDefinition, get_field

    field = field_id if isinstance(field_id, FieldDefinition) else get_field(field_id)
    settings = _settings(settings)
    params = parameters or DelineationParameters()
    inputs: list[dict] = []

    polygons = _as_frame(deposit_polygons, "deposit_polygons", inputs)
    bundled = polygons is None and field.bundled_deposits is not None
    if bundled:
        polygons = _bundled_polygons(field)
    mined = _as_frame(mined_polygons, "mined_polygons", inputs)
    samples = _as_frame(bulk_samples, "bulk_samples", inputs)
    paths = _dem_paths(field, dem_paths, settings, params.terrain.margin_m)
    sources = [DemSource(tuple(paths), "given" if dem_paths else "bundled")] if paths else []
    for label, path in dem_uploads or ():
        if not Path(path).is_file():
            raise DataMissingError(f"uploaded DEM {label} is missing from the state directory")
        sources.append(DemSource((Path(path),), str(label)))
    has_rivers = _rivers_present(field, settings, params)
    chosen = choose_mode(field, has_dem=bool(sources), has_rivers=has_rivers,
                         has_polygons=polygons is not None, requested=mode,
                         dem_uploaded=bool(dem_paths) or bool(dem_uploads))

    steps = _TERRAIN_STEPS if chosen == "terrain" else _VECTOR_STEPS
    clock = _Clock(steps, progress)
    aoi = field.aoi_projected()
    crs = pyproj.CRS.from_epsg(field.crs_epsg)
    rasters: dict[str, Grid] = {}
    extra: dict[str, Any] = {}
    if chosen == "terrain":
        found = known_sources(field, settings, deposit_polygons=None if bundled else polygons,
                              mined_polygons=mined, bulk_samples=samples,
                              margin_m=params.terrain.margin_m)
        deposits, length_km, rasters, extra = _run_terrain(field, sources, params.terrain,
                                                           clock, inputs, found)
    else:
        clock.step("load layers")
        rivers = _river_lines(field, settings, params, inputs) if has_rivers else None
        clock.step("build deposits")
        if chosen == "rivers":
            deposits = dep.buffer_rivers(rivers, aoi, crs, params.rivers)
        else:
            if bundled:
                inputs.append({"role": "deposit_polygons", "path": "catalogue:bundled_deposits",
                               "sha256": _checksum_frame(polygons)})
            deposits = dep.deposits_from_polygons(polygons, aoi, crs)
        length_km = _line_length_km(rivers, aoi, field.crs_epsg)

    clock.step("mined ground")
    deposits = dep.subtract_mined(deposits, mined)

    clock.step("write outputs")
    summary = _summary(field, chosen, deposits, length_km, params, inputs, extra, rasters)
    result = DelineationResult(field_id=field.id, mode=chosen, deposits=deposits,
                               stream_length_km=length_km, summary=summary, rasters=rasters)
    if out_dir is not None:
        result.files = _write_outputs(Path(out_dir), result)
    summary["timings_s"] = clock.done()
    if out_dir is not None:
        _write_summary(result.files["summary"], summary)
    return result


def _rivers_present(field, settings, params: DelineationParameters) -> bool:
    from footprint.io import vectors

    layer = "rivers_wdbii" if params.river_source == "wdbii" else "rivers_naturalearth"
    try:
        region = vectors.region_for_bbox(field.bbox_4326)
        vectors.vector_path(layer, Path(settings.data_dir), region)
    except (DataMissingError, InvalidParameterError):
        return False
    return True


def _point_distances(field, deposits: gpd.GeoDataFrame, rasters: dict[str, Grid]) -> list[dict]:
    """Distance (m) from each USGS point of the field to the nearest deposit polygon and,
    in terrain mode, to the nearest stream cell centre."""
    to_utm = pyproj.Transformer.from_crs(4326, field.crs_epsg, always_xy=True)
    tree = shapely.STRtree(deposits.geometry.values) if len(deposits) else None
    stream_xy = None
    if "streams" in rasters:
        grid = rasters["streams"]
        rows, cols = np.nonzero(grid.data == 1)
        if rows.size:
            xs, ys = xy(grid.transform, rows, cols)
            stream_xy = np.column_stack([xs, ys])
    out = []
    for point in field.usgs_points:
        x, y = to_utm.transform(point.lon, point.lat)
        entry = {"name": point.name, "layer": point.layer, "lon": point.lon, "lat": point.lat,
                 "distance_to_deposit_m": None, "distance_to_stream_m": None}
        if tree is not None:
            _, distance = tree.query_nearest(shapely.Point(x, y), return_distance=True)
            entry["distance_to_deposit_m"] = round(float(distance[0]), 1)
        if stream_xy is not None:
            entry["distance_to_stream_m"] = round(float(np.hypot(stream_xy[:, 0] - x,
                                                                  stream_xy[:, 1] - y).min()), 1)
        out.append(entry)
    return out


def _summary(field, mode, deposits, length_km, params, inputs, extra, rasters) -> dict[str, Any]:
    table = dep.area_by_class(deposits)
    areas = {name: {k: (int(v) if k == "n_polygons" else round(float(v), 1))
                    for k, v in row.items()}
             for name, row in table.iterrows()}
    return {
        "field_id": field.id,
        "mode": mode,
        "crs_epsg": field.crs_epsg,
        "aoi_area_m2": round(field.aoi_projected().area, 1),
        "areas_by_class": areas,
        "total_area_m2": round(float(deposits["area_m2"].sum()), 1) if len(deposits) else 0.0,
        "total_mined_area_m2": round(float(deposits["mined_area_m2"].sum()), 1)
        if len(deposits) else 0.0,
        "stream_length_km": round(length_km, 3),
        "n_polygons": int(len(deposits)),
        "usgs_points": _point_distances(field, deposits, rasters),
        "parameters": params.model_dump(mode="json"),
        "inputs": inputs,
        "code_version": code_version(),
        **extra,
    }


def _write_outputs(out_dir: Path, result: DelineationResult) -> dict[str, Path]:
    """Write the GeoPackage and the COGs (in threads: GDAL releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    out_dir.mkdir(parents=True, exist_ok=True)
    gpkg = out_dir / "deposits.gpkg"

    def write_gpkg() -> Path:
        if gpkg.exists():
            gpkg.unlink()
        result.deposits.to_file(gpkg, layer="deposits", driver="GPKG", engine="pyogrio")
        return gpkg

    jobs = {"deposits": write_gpkg}
    if result.rasters:
        streams = result.rasters["streams"]
        codes = np.where(np.isnan(streams.data), 255, streams.data).astype(np.uint8)
        jobs["streams"] = lambda: write_cog(out_dir / "streams.tif", codes, streams.transform,
                                            streams.crs, nodata=255, dtype="uint8")
        for name in ("mrvbf", "hand"):
            grid = result.rasters[name]
            jobs[name] = (lambda g=grid, n=name: write_cog(
                out_dir / f"{n}.tif", g.data, g.transform, g.crs, dtype="float32"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        files = {name: future.result() for name, future in futures.items()}
    files["summary"] = out_dir / "summary.json"
    return files


def _write_summary(path: Path, summary: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
