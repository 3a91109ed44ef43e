"""Record of a delineation: step clock, result, summary and the files written."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from rasterio.transform import xy

from footprint import deposits as dep
from footprint.io.raster import Grid, write_cog
from footprint.provenance import code_version

log = logging.getLogger(__name__)

#: progress(step, done, total): called before each step of the run.
ProgressCallback = Callable[[str, int, int], None]


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


class Clock:
    """Step timer that also reports progress."""

    def __init__(self, steps: tuple[str, ...], progress: ProgressCallback | None) -> None:
        self.steps, self.progress = steps, progress
        self.timings_s: dict[str, float] = {}
        self._current: str | None = None
        self._start = 0.0

    def step(self, name: str) -> None:
        """Close the running step and start ``name`` (reported to ``progress``)."""
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
        """Close the last step; the timings (s) per step and their total."""
        self._stop()
        if self.progress is not None:
            self.progress("done", len(self.steps), len(self.steps))
        self.timings_s["total"] = round(sum(self.timings_s.values()), 3)
        return self.timings_s


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


def summarise(field, mode, deposits, length_km, params, inputs, extra, rasters) -> dict[str, Any]:
    """The content of ``summary.json`` (timings are added when the run ends)."""
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


def write_rasters(out_dir: Path, rasters: dict[str, Grid]) -> dict[str, Path]:
    """Write the terrain COGs (``streams``, ``mrvbf``, ``hand``) one after the other:
    each translation holds a few copies of its grid, so writing them at once would add
    those copies up at the run's memory peak."""
    written: dict[str, Path] = {}
    if not rasters:
        return written
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = rasters["streams"]
    codes = np.where(np.isnan(streams.data), 255, streams.data).astype(np.uint8)
    written["streams"] = write_cog(out_dir / "streams.tif", codes, streams.transform,
                                   streams.crs, nodata=255, dtype="uint8")
    del codes
    for name in ("mrvbf", "hand"):
        grid = rasters[name]
        written[name] = write_cog(out_dir / f"{name}.tif", grid.data, grid.transform,
                                  grid.crs, dtype="float32")
    return written


def write_outputs(out_dir: Path, result: DelineationResult,
                  rasters_written: Future[dict[str, Path]] | None = None) -> dict[str, Path]:
    """Write the GeoPackage and the COGs; the COGs in a thread beside it (GDAL releases
    the GIL), unless ``rasters_written`` says they are being written already (the
    terrain mode starts them as soon as its grids are final)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gpkg = out_dir / "deposits.gpkg"
    with ThreadPoolExecutor(max_workers=1) as pool:
        cogs = rasters_written or pool.submit(write_rasters, out_dir, result.rasters)
        if gpkg.exists():
            gpkg.unlink()
        result.deposits.to_file(gpkg, layer="deposits", driver="GPKG", engine="pyogrio")
        files = {"deposits": gpkg, **cogs.result()}
    files["summary"] = out_dir / "summary.json"
    return files


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """Write ``summary.json`` atomically (through a temporary file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
