"""Hillshade of an elevation grid with a fixed light and z-factor: no per-grid stretch.

One implementation for every hillshade of the project: the field's hillshade COG
(:mod:`footprint.services.field_rasters`) and the map's hillshade tiles
(:mod:`api.routers.tiles`).

The gradient is Horn's (1981, "Hill shading and the reflectance map", Proc. IEEE 69(1)):
a 3 × 3 window with weights 1-2-1 across each direction, as GDAL's ``gdaldem hillshade``
computes it. The shade of a cell is the cosine of the angle between its surface normal
and the direction of the sun (Lambertian reflectance), clipped at 0 for cells facing
away. It depends only on the cell and its eight neighbours, never on the rest of the
grid, so grids cut from one DEM (map tiles) shade alike where they meet, provided each is
computed with a halo wide enough for the gradient (and any smoothing) and then cropped.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import distance_transform_edt

#: The project's light and vertical exaggeration (fixed: a grid-dependent value would seam)
SUN_AZIMUTH_DEG = 315.0
SUN_ALTITUDE_DEG = 45.0
Z_FACTOR = 3.0


def _horn_gradient(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dz per column eastwards, dz per row southwards) by Horn's 3 × 3 weights, in
    elevation units per cell. The grid is extended by one cell linearly (odd reflection),
    so the outermost cells keep the slope of their neighbours (a plane stays exact)."""
    p = np.pad(z, 1, mode="reflect", reflect_type="odd")
    west = p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2]
    east = p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]
    north = p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:]
    south = p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]
    return (east - west) / 8.0, (south - north) / 8.0


def hillshade(elevation_m: np.ndarray, dx_m: ArrayLike, dy_m: ArrayLike, *,
              azimuth_deg: float = SUN_AZIMUTH_DEG, altitude_deg: float = SUN_ALTITUDE_DEG,
              z_factor: float = 1.0) -> np.ndarray:
    """Shade in [0, 1] of each cell of a north-up elevation grid.

    Parameters
    ----------
    elevation_m
        2-D elevation (m), rows from north to south, columns from west to east; no NaN
        (fill voids first, e.g. :func:`fill_voids_nearest`: a NaN spreads to the
        neighbours' gradients).
    dx_m
        Ground width of a cell (m): a scalar, or one value per row (shape ``(rows, 1)``)
        for grids whose cells narrow with latitude (Web Mercator, geographic).
    dy_m
        Ground height of a cell (m): a scalar or one value per row, as ``dx_m``.
    azimuth_deg, altitude_deg
        Direction of the sun: clockwise from north, and above the horizon (degrees).
    z_factor
        Vertical exaggeration (unitless, fixed: a grid-dependent value would seam).

    Returns
    -------
    numpy.ndarray
        float64, same shape; 1 where a cell faces the sun, 0 where it faces away.
        The outermost rows and columns see the grid
        extended linearly: crop a one-cell halo where the grid continues.
    """
    z = np.asarray(elevation_m, dtype="float64") * z_factor
    if z.ndim != 2:
        raise ValueError("elevation_m must be a 2-D grid")
    dcol, drow = _horn_gradient(z)
    dz_east = dcol / np.asarray(dx_m, dtype="float64")
    dz_north = -drow / np.asarray(dy_m, dtype="float64")  # rows run southwards
    az, alt = np.radians(azimuth_deg), np.radians(altitude_deg)
    sun = (np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt))
    # the unit normal of z = f(east, north) is (-dz_east, -dz_north, 1) / norm
    norm = np.sqrt(dz_east**2 + dz_north**2 + 1.0)
    shade = (-dz_east * sun[0] - dz_north * sun[1] + sun[2]) / norm
    return np.clip(shade, 0.0, 1.0)


def fill_voids_nearest(elevation_m: np.ndarray) -> np.ndarray:
    """``elevation_m`` with each NaN replaced by the nearest valid cell's elevation.

    The fill depends on the place, not on the grid (a grid mean would differ from one map
    tile to the next). A grid with no valid cell is returned unchanged.
    """
    voids = ~np.isfinite(elevation_m)
    if not voids.any() or voids.all():
        return elevation_m
    nearest = distance_transform_edt(voids, return_distances=False, return_indices=True)
    return elevation_m[tuple(nearest)]


def shade_uint8(shade: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Shade in [0, 1] as bytes 1-255 (``1 + 254 × shade``, as ``gdaldem hillshade``
    writes it), 0 (nodata) where ``valid`` is False."""
    out = (1.0 + np.round(np.clip(shade, 0.0, 1.0) * 254.0)).astype("uint8")
    if valid is not None:
        out[~valid] = 0
    return out
