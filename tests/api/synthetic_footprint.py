"""The synthetic footprint the service tests store: known deposits, draws and raster."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box

#: The synthetic deposits: a GRID x GRID lattice of squares of SIDE degrees, GAP apart,
#: south-west corner at ORIGIN (inside gh-birim's area of interest).
ORIGIN = (-1.0, 5.9)
SIDE = 0.01
GAP = 0.005
GRID = 5
#: Synthetic raster (EPSG:32630): RASTER_SHAPE pixels of RASTER_RES_M metres from RASTER_ORIGIN.
RASTER_ORIGIN = (600_000.0, 680_000.0)
RASTER_RES_M = 100.0
RASTER_SHAPE = (20, 30)
N_DRAWS = 500


def square(i: int, j: int):
    """The deposit square in column ``i``, row ``j`` (lon/lat)."""
    west = ORIGIN[0] + i * (SIDE + GAP)
    south = ORIGIN[1] + j * (SIDE + GAP)
    return box(west, south, west + SIDE, south + SIDE)


def raster_values() -> np.ndarray:
    """Pixel (row, col) holds row * 100 + col; the last row is nodata (NaN)."""
    rows, cols = np.indices(RASTER_SHAPE)
    values = (rows * 100 + cols).astype("float32")
    values[-1, :] = np.nan
    return values
