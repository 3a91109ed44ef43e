"""DEM tiles → one grid in the field's UTM zone.

SRTM ``.hgt`` tiles (GDAL's SRTMHGT driver) and GeoTIFF tiles are mosaicked with windowed
reads limited to the area of interest plus a small margin (never more of a tile than the
area needs). Files that share a pixel lattice are merged on that lattice with bounds
snapped to whole source cells (unsnapped bounds put each SRTM tile at a different whole
pixel offset: RMSE 6.1 m, issue 12), then warped once, bilinearly, to the field's
projected CRS at ``res_m`` (default 90 m, the SRTM3 cell), and masked to NaN outside
the AOI. Several sources (bundled tiles, uploads) are stacked in priority order: an
upload wins where it has data, the tiles fill the rest, and nothing is extrapolated
beyond any source. Voids stay NaN: filling them is a terrain step
(:mod:`footprint.terrain`), so it is done once and documented there.

Memory: each group's window of the AOI (a fine upload is read decimated to half the
output cell, never at full resolution) plus the reprojected grid: for gh-birim
(0.7° x 0.5°) about 0.5 M cells, ~4 MB each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import geometry_mask
from rasterio.merge import merge
from rasterio.warp import Resampling, reproject, transform_bounds
from shapely import Polygon

from footprint.crs import reproject_geometry
from footprint.errors import DataMissingError, InvalidLayerError
from footprint.io import require_dir
from footprint.io.raster import Grid

DEFAULT_RES_M = 90.0
#: margin around the AOI read from the tiles, in degrees (~2 km), so edge cells interpolate.
MARGIN_DEG = 0.02


def find_tiles(names: Iterable[str], data_dir: Path,
               cache_dir: Path | None = None) -> dict[str, Path | None]:
    """Where each named tile is: the data directory (``dem/srtm3/<name>.hgt`` or any
    ``dem/**/<name>.tif``) first, then the download cache; None when absent."""
    found: dict[str, Path | None] = {}
    roots = [p for p in (data_dir / "dem", cache_dir / "dem" if cache_dir else None) if p]
    for name in names:
        found[name] = None
        for root in roots:
            for pattern in (f"**/{name}.hgt", f"**/{name}.tif", f"**/{name}*.tif"):
                hits = sorted(root.glob(pattern)) if root.is_dir() else []
                if hits:
                    found[name] = hits[0]
                    break
            if found[name]:
                break
    return found


@dataclass(frozen=True)
class DemSource:
    """One group of DEM files that share a CRS and a pixel lattice, merged as one.

    Attributes
    ----------
    paths : the files (SRTM tiles of one lattice, or one uploaded GeoTIFF).
    label : what the coverage report calls it (``bundled`` or ``upload:<id>``).
    """

    paths: tuple[Path, ...]
    label: str = "bundled"


def _lattice_key(src) -> tuple:
    """Datasets with the same key share one pixel lattice and merge without resampling."""
    t = src.transform
    rx, ry = abs(t.a), abs(t.e)
    phase_x = round(((t.c / rx) % 1.0) * 1000) % 1000
    phase_y = round(((t.f / ry) % 1.0) * 1000) % 1000
    return (src.crs.to_wkt() if src.crs else None, round(rx, 12), round(ry, 12), phase_x, phase_y)


def _snap_bounds(bounds, transform: Affine) -> tuple[float, float, float, float]:
    """Grow ``bounds`` outwards to whole cells of ``transform``'s lattice, so a merge puts
    every tile at an integer pixel offset (the misregistration of issue 12)."""
    rx, ry = abs(transform.a), abs(transform.e)
    x0, y0 = transform.c, transform.f
    west, south, east, north = bounds
    west = x0 + math.floor((west - x0) / rx + 1e-9) * rx
    east = x0 + math.ceil((east - x0) / rx - 1e-9) * rx
    north = y0 - math.floor((y0 - north) / ry + 1e-9) * ry
    south = y0 - math.ceil((y0 - south) / ry - 1e-9) * ry
    return west, south, east, north


def _read_group(datasets, bounds_4326, dst_res_m: float):
    """Merge one lattice group over ``bounds_4326`` (grown by :data:`MARGIN_DEG`) in its
    own CRS, reading only that window. A group much finer than ``dst_res_m`` is read
    decimated (average) to about half the output cell, so memory follows the output
    grid, not the upload (issue 11 row 4). Returns (float32 heights, NaN nodata;
    transform; CRS) or None when the group does not reach the bounds."""
    first = datasets[0]
    crs = first.crs
    west, south, east, north = bounds_4326
    grown = (west - MARGIN_DEG, south - MARGIN_DEG, east + MARGIN_DEG, north + MARGIN_DEG)
    wanted = (grown if crs == CRS.from_epsg(4326)
              else transform_bounds(CRS.from_epsg(4326), crs, *grown))
    cover = [ds.bounds for ds in datasets]
    lo_x = max(wanted[0], min(b.left for b in cover))
    lo_y = max(wanted[1], min(b.bottom for b in cover))
    hi_x = min(wanted[2], max(b.right for b in cover))
    hi_y = min(wanted[3], max(b.top for b in cover))
    if lo_x >= hi_x or lo_y >= hi_y:
        return None
    native = (abs(first.transform.a), abs(first.transform.e))
    metres_per_unit = 111_320.0 if crs.is_geographic else 1.0
    target = dst_res_m / 2.0 / metres_per_unit
    nodata = first.nodata if first.nodata is not None else -32768
    if native[0] >= target:
        bounds = _snap_bounds((lo_x, lo_y, hi_x, hi_y), first.transform)
        mosaic, transform = merge(datasets, bounds=bounds, nodata=nodata, dtype="float32")
    else:  # finer than needed: decimated read, never the full-resolution array
        mosaic, transform = merge(datasets, bounds=(lo_x, lo_y, hi_x, hi_y), res=(target, target),
                                  nodata=nodata, dtype="float32", resampling=Resampling.average)
    heights = mosaic[0]
    heights[(heights == nodata) | ~np.isfinite(heights)] = np.nan
    return heights, transform, crs


def load_dem(aoi_4326: Polygon, dst_crs: CRS | str | int, paths: Iterable[Path] | None = None,
             res_m: float | None = None, *, sources: Sequence[DemSource] | None = None,
             coverage: dict[str, float] | None = None) -> Grid:
    """Mosaic DEM files over ``aoi_4326``, warp to ``dst_crs`` at ``res_m``, mask to the AOI.

    Files are grouped by CRS and pixel lattice; each group is merged on its own lattice
    (bounds snapped to whole source cells, so SRTM tiles keep their registration) and
    warped once, bilinearly, from its own grid to the output grid: the result is the
    bilinear interpolation of the source samples (RMSE < 0.5 m against an exact
    bilinear resampling of the SRTM3 samples on the Birim tiles, ``tests/io/test_dem.py``).
    Groups finer than half the output cell are averaged down on reading. With several
    ``sources``, later ones win where they have data; cells no source covers stay NaN
    (nothing is extrapolated).

    Parameters
    ----------
    aoi_4326 : shapely Polygon in lon/lat.
    dst_crs : a projected CRS (metres).
    paths : DEM files (``.hgt`` or GeoTIFF), any CRS GDAL can read; one source.
    res_m : output cell size in metres (default 90).
    sources : instead of ``paths``, DEM sources in rising priority (bundled tiles first,
        uploads after, newest last).
    coverage : if given, filled with the share (0-1) of the AOI's cells whose height
        comes from each source's ``label``.

    Returns
    -------
    Grid : float32 heights in metres, NaN outside the AOI, in voids and where no source
    reaches. Memory: the output grid plus each group's window at its (capped) resolution.
    """
    if sources is None:
        sources = [DemSource(tuple(Path(p) for p in (paths or ())))]
    if not any(s.paths for s in sources):
        raise DataMissingError("no DEM tiles given for this area",
                               hint="pass --dem FILE or run `footprint data check`")
    res_m = float(res_m or DEFAULT_RES_M)
    dst_crs = dst_crs if isinstance(dst_crs, CRS) else CRS.from_user_input(dst_crs)
    aoi_dst = reproject_geometry(aoi_4326, 4326, dst_crs)
    left, bottom, right, top = aoi_dst.bounds
    left, bottom = math.floor(left / res_m) * res_m, math.floor(bottom / res_m) * res_m
    right, top = math.ceil(right / res_m) * res_m, math.ceil(top / res_m) * res_m
    width, height = round((right - left) / res_m), round((top - bottom) / res_m)
    dst_transform = Affine(res_m, 0.0, left, 0.0, -res_m, top)
    out = np.full((height, width), np.nan, dtype="float32")
    owner = np.full((height, width), -1, dtype=np.int16)
    for number, source in enumerate(sources):
        for group in _open_groups(source.paths):
            try:
                read = _read_group(group, aoi_4326.bounds, res_m)
            finally:
                for ds in group:
                    ds.close()
            if read is None:
                continue
            heights, src_transform, src_crs = read
            warped = np.full_like(out, np.nan)
            reproject(heights, warped, src_transform=src_transform, src_crs=src_crs,
                      src_nodata=np.nan, dst_transform=dst_transform, dst_crs=dst_crs,
                      dst_nodata=np.nan, resampling=Resampling.bilinear)
            del heights
            have = np.isfinite(warped)
            out[have] = warped[have]
            owner[have] = number
    if not np.isfinite(out).any():
        raise InvalidLayerError("the DEM tiles hold no values over this area",
                                hint="check that the tiles cover the field")
    grid = Grid(data=out, transform=dst_transform, crs=dst_crs)
    cropped = crop_to_aoi(grid, aoi_4326)
    if coverage is not None:
        inside = ~geometry_mask([aoi_dst], out_shape=out.shape, transform=dst_transform)
        total = max(int(inside.sum()), 1)
        for number, source in enumerate(sources):
            share = float((inside & (owner == number)).sum()) / total
            coverage[source.label] = round(coverage.get(source.label, 0.0) + share, 4)
    return cropped


def _open_groups(paths: Iterable[Path]) -> list[list]:
    """Open ``paths`` and group them by :func:`_lattice_key` (each group is closed by the
    caller)."""
    groups: dict[tuple, list] = {}
    try:
        for path in paths:
            path = Path(path)
            if not path.is_file():
                raise DataMissingError(f"DEM file not found: {path.name}")
            try:
                ds = rasterio.open(path)
            except rasterio.errors.RasterioIOError as exc:
                raise InvalidLayerError(
                    f"cannot read DEM {path.name}: not a raster GDAL can open") from exc
            if ds.crs is None:
                ds.close()
                raise InvalidLayerError(f"DEM {path.name} has no CRS")
            groups.setdefault(_lattice_key(ds), []).append(ds)
    except Exception:
        for group in groups.values():
            for ds in group:
                ds.close()
        raise
    return list(groups.values())


def crop_to_aoi(grid: Grid, aoi_4326: Polygon) -> Grid:
    """Set cells outside the AOI to NaN and trim the all-NaN margin."""
    aoi = reproject_geometry(aoi_4326, 4326, grid.crs)
    outside = geometry_mask([aoi], out_shape=grid.shape, transform=grid.transform,
                            all_touched=False)
    data = grid.data.copy()
    data[outside] = np.nan
    inside = ~outside
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    transform = grid.transform @ Affine.translation(c0, r0)
    return Grid(data=np.ascontiguousarray(data[r0:r1, c0:c1]), transform=transform, crs=grid.crs)


def load_field_dem(field, *, data_dir: Path | None = None, paths: Iterable[Path] | None = None,
                   res_m: float | None = None, cache_dir: Path | None = None) -> Grid:
    """The DEM of a catalogue field in its UTM zone (see :func:`load_dem`).

    Without ``paths`` the field's tiles are looked up in the data directory and the
    download cache; a missing tile raises :class:`DataMissingError` naming it.
    """
    if paths is None:
        data_dir = Path(require_dir(data_dir, "data_dir"))
        found = find_tiles(field.dem_tiles, data_dir, cache_dir)
        missing = [name for name, path in found.items() if path is None]
        if len(missing) == len(found):
            raise DataMissingError(
                f"no DEM tile for {field.id} in {data_dir} (needs {', '.join(field.dem_tiles)})",
                hint=f"run `footprint data fetch {field.id}` with internet, or pass --dem FILE")
        if missing:
            raise DataMissingError(f"DEM tiles missing for {field.id}: {', '.join(missing)}",
                                   hint=f"run `footprint data fetch {field.id}` or pass --dem FILE")
        paths = [p for p in found.values() if p is not None]
    return load_dem(field.aoi_4326, field.crs_epsg, paths, res_m=res_m)
