"""DEM tiles → one grid in the field's UTM zone.

SRTM ``.hgt`` tiles (GDAL's SRTMHGT driver) and GeoTIFF tiles are mosaicked with windowed
reads limited to the area of interest plus a small margin (never more of a tile than the
area needs), reprojected with bilinear resampling to the field's projected CRS at ``res_m``
(default 90 m, the SRTM3 cell), and masked to NaN outside the AOI. Voids stay NaN: filling
them is a terrain step (:mod:`footprint.terrain`), so it is done once and documented there.

Memory: the mosaic holds the AOI's bounding box in geographic cells (int16 → float32) plus
the reprojected grid: for gh-birim (0.7° x 0.5°) about 0.5 M cells, ~4 MB each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import geometry_mask
from rasterio.merge import merge
from rasterio.warp import Resampling, calculate_default_transform, reproject
from shapely import Polygon

from footprint.crs import reproject_geometry
from footprint.io import require_dir
from footprint.errors import DataMissingError, InvalidLayerError
from footprint.io.raster import Grid

DEFAULT_RES_M = 90.0
#: margin around the AOI read from the tiles, in degrees (~2 km), so edge cells interpolate.
MARGIN_DEG = 0.02


def find_tiles(names: Iterable[str], data_dir: Path, cache_dir: Path | None = None) -> dict[str, Path | None]:
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


def load_dem(aoi_4326: Polygon, dst_crs: CRS | str | int, paths: Iterable[Path],
             res_m: float | None = None) -> Grid:
    """Mosaic ``paths`` over ``aoi_4326``, reproject to ``dst_crs`` at ``res_m``, mask to the AOI.

    Parameters
    ----------
    aoi_4326 : shapely Polygon in lon/lat.
    dst_crs : a projected CRS (metres).
    paths : DEM files (``.hgt`` or GeoTIFF), any CRS GDAL can read; all must share one CRS.
    res_m : output cell size in metres (default 90).

    Returns
    -------
    Grid : float32 heights in metres, NaN outside the AOI and in voids.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataMissingError("no DEM tiles given for this area",
                               hint="pass --dem FILE or run `footprint data check`")
    res_m = float(res_m or DEFAULT_RES_M)
    dst_crs = dst_crs if isinstance(dst_crs, CRS) else CRS.from_user_input(dst_crs)
    datasets = []
    try:
        for path in paths:
            if not path.is_file():
                raise DataMissingError(f"DEM file not found: {path}")
            try:
                datasets.append(rasterio.open(path))
            except rasterio.errors.RasterioIOError as exc:
                raise InvalidLayerError(f"cannot read DEM {path.name}: not a raster GDAL can open") from exc
        src_crs = datasets[0].crs
        if src_crs is None:
            raise InvalidLayerError(f"DEM {paths[0].name} has no CRS")
        if src_crs != CRS.from_epsg(4326):
            raise InvalidLayerError(f"DEM {paths[0].name} is in {src_crs}; tiles must be lon/lat (EPSG:4326)",
                                    hint="upload a lon/lat tile or reproject it first")
        west, south, east, north = aoi_4326.bounds
        bounds = (west - MARGIN_DEG, south - MARGIN_DEG, east + MARGIN_DEG, north + MARGIN_DEG)
        nodata = datasets[0].nodata if datasets[0].nodata is not None else -32768
        mosaic, src_transform = merge(datasets, bounds=bounds, nodata=nodata)
    finally:
        for ds in datasets:
            ds.close()
    heights = mosaic[0].astype("float32")
    heights[mosaic[0] == nodata] = np.nan
    if not np.isfinite(heights).any():
        raise InvalidLayerError("the DEM tiles hold no values over this area",
                                hint="check that the tiles cover the field")
    height, width = heights.shape
    dst_transform, dst_width, dst_height = calculate_default_transform(
        CRS.from_epsg(4326), dst_crs, width, height, *rasterio.transform.array_bounds(height, width, src_transform)[::1],
        resolution=res_m)
    out = np.full((dst_height, dst_width), np.nan, dtype="float32")
    reproject(heights, out, src_transform=src_transform, src_crs=CRS.from_epsg(4326),
              src_nodata=np.nan, dst_transform=dst_transform, dst_crs=dst_crs, dst_nodata=np.nan,
              resampling=Resampling.bilinear)
    grid = Grid(data=out, transform=dst_transform, crs=dst_crs)
    return crop_to_aoi(grid, aoi_4326)


def crop_to_aoi(grid: Grid, aoi_4326: Polygon) -> Grid:
    """Set cells outside the AOI to NaN and trim the all-NaN margin."""
    aoi = reproject_geometry(aoi_4326, 4326, grid.crs)
    outside = geometry_mask([aoi], out_shape=grid.shape, transform=grid.transform, all_touched=False)
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
