"""Hillshade of an elevation grid with a fixed light and z-factor: no per-grid stretch.

The shade of a cell is the cosine of the angle between its surface normal and the
direction of the sun (Lambertian reflectance; Horn 1981, "Hill shading and the
reflectance map", Proc. IEEE 69(1)), clipped at 0 for cells facing away. It depends only
on the cell's own slope and aspect, never on the other cells of the grid, so grids cut
from one DEM (map tiles) shade alike where they meet, provided each is computed with a
halo wide enough for the gradient (and any smoothing) and then cropped.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def hillshade(elevation_m: np.ndarray, dx_m: ArrayLike, dy_m: ArrayLike, *,
              azimuth_deg: float = 315.0, altitude_deg: float = 45.0,
              z_factor: float = 1.0) -> np.ndarray:
    """Shade in [0, 1] of each cell of a north-up elevation grid.

    Parameters
    ----------
    elevation_m
        2-D elevation (m), rows from north to south, columns from west to east; no NaN
        (fill voids first: a NaN spreads to the neighbours' gradients).
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
        The outermost rows and columns use one-sided differences: crop a halo.
    """
    z = np.asarray(elevation_m, dtype="float64") * z_factor
    if z.ndim != 2:
        raise ValueError("elevation_m must be a 2-D grid")
    drow, dcol = np.gradient(z)
    dz_east = dcol / np.asarray(dx_m, dtype="float64")
    dz_north = -drow / np.asarray(dy_m, dtype="float64")  # rows run southwards
    az, alt = np.radians(azimuth_deg), np.radians(altitude_deg)
    sun = (np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt))
    # the unit normal of z = f(east, north) is (-dz_east, -dz_north, 1) / norm
    norm = np.sqrt(dz_east**2 + dz_north**2 + 1.0)
    shade = (-dz_east * sun[0] - dz_north * sun[1] + sun[2]) / norm
    return np.clip(shade, 0.0, 1.0)
