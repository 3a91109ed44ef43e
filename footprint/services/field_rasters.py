"""The DEM and hillshade of a field as Cloud-Optimized GeoTIFFs, written once.

The bundled SRTM tiles of a field are mosaicked in the field's UTM zone
(:func:`footprint.io.dem.load_field_dem`, 1 arc-second, about 30 m) and written as a COG
under ``state_dir/rasters/<field>/dem.tif``; the hillshade beside it
(``hillshade-horn.tif``; :mod:`footprint.shading`, as the map's hillshade tiles: Horn's
gradient, sun at azimuth 315°, altitude 45°, vertical exaggeration 3; 1-255, 0 is
nodata). They depend only on the data directory, so every footprint version of the field
shares them; a file already there is served as it is. Both are written to a temporary
name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from footprint.catalogue import get_field
from footprint.io.dem import load_field_dem
from footprint.io.raster import write_cog
from footprint.settings import Settings
from footprint.shading import Z_FACTOR, fill_voids_nearest, hillshade, shade_uint8

#: the rasters of a field (not of a footprint version), by name
FIELD_RASTERS = ("dem", "hillshade")
#: their file names; a new name when the shading changes, so that an older state
#: directory does not keep serving the hillshade of the matplotlib stretch it once had
_FILE_NAMES = {"dem": "dem.tif", "hillshade": "hillshade-horn.tif"}
_LOCK = threading.Lock()


def hillshade_uint8(elevation_m: np.ndarray, res_m: float) -> np.ndarray:
    """Hillshade of ``elevation_m`` (NaN = nodata) on a ``res_m`` grid, as 1-255 with 0
    where the elevation is missing: :func:`footprint.shading.hillshade` with the project's
    fixed light and z-factor, voids filled with the nearest elevation first."""
    valid = np.isfinite(elevation_m)
    if not valid.any():
        return np.zeros(elevation_m.shape, dtype="uint8")
    shade = hillshade(fill_voids_nearest(elevation_m), res_m, res_m, z_factor=Z_FACTOR)
    return shade_uint8(shade, valid)


def field_raster_path(settings: Settings, field_id: str, name: str) -> Path:
    """The COG of the field's ``name`` raster (``dem`` or ``hillshade``), written first
    when missing.

    Raises
    ------
    UnknownFieldError
        for a field not in the catalogue.
    DataMissingError
        when the field's DEM tiles are not in the data directory.
    ValueError
        for a name not in :data:`FIELD_RASTERS`.
    """
    if name not in FIELD_RASTERS:
        raise ValueError(f"field rasters are {FIELD_RASTERS}, not {name!r}")
    field = get_field(field_id)
    directory = settings.state.rasters(field.id)
    path = directory / _FILE_NAMES[name]
    if path.exists():
        return path
    with _LOCK:
        if not path.exists():
            dem = load_field_dem(field, data_dir=settings.data_dir)
            dem_path = directory / _FILE_NAMES["dem"]
            if not dem_path.exists():
                write_cog(dem_path, dem.data, dem.transform, dem.crs)
            shade_path = directory / _FILE_NAMES["hillshade"]
            if not shade_path.exists():
                write_cog(shade_path, hillshade_uint8(dem.data, dem.res_m), dem.transform,
                          dem.crs, nodata=0, dtype="uint8")
    return path
