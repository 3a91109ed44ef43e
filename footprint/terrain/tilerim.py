"""The border cells of tiles and the ring around them, and the caller's table of borders.

Tiled routing (:mod:`footprint.terrain.tiled_fill`) hands each tile task its tile plus a
ring of one cell (``Window.outer``); a task returns per-cell values of its tile's *border*
(the tile's own cells on its edge) in border order, row-major within the tile. Every ring
cell of a tile lies on the border of a neighbouring tile, so the caller keeps one small
table of all borders (:class:`Rims`, 4 cells a side per tile) and gives each task its
ring's values from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from footprint.terrain.flood import D8_DC, D8_DR
from footprint.terrain.tiles import Window

__all__ = ["Rims", "TilePlace", "border_positions", "is_grid_outlet", "ring_positions"]


@dataclass(frozen=True)
class TilePlace:
    """Where a tile's outer window lies in the whole grid (all in cells).

    Attributes
    ----------
    row0, col0 : first row and column of the outer window in the grid.
    core : (first row, end row, first col, end col) of the tile within the outer window.
    grid_rows, grid_cols : shape of the whole grid.
    """

    row0: int
    col0: int
    core: tuple[int, int, int, int]
    grid_rows: int
    grid_cols: int

    @classmethod
    def of(cls, window: Window, shape: tuple[int, int]) -> TilePlace:
        """The place of ``window`` in a grid of ``shape``."""
        rows, cols = window.core_in_outer
        return cls(window.outer[0].start, window.outer[1].start,
                   (rows.start, rows.stop, cols.start, cols.stop), shape[0], shape[1])


def border_positions(rows: int, cols: int) -> np.ndarray:
    """Flat positions (int64, row-major within the tile) of the border cells of a tile of
    ``rows`` x ``cols`` cells."""
    edge = np.zeros((rows, cols), dtype=bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    return np.flatnonzero(edge)


def ring_positions(place: TilePlace, outer_shape: tuple[int, int]) -> np.ndarray:
    """Flat positions (int64, row-major within the outer window) of the ring cells."""
    r0, r1, c0, c1 = place.core
    ring = np.ones(outer_shape, dtype=bool)
    ring[r0:r1, c0:c1] = False
    return np.flatnonzero(ring)


@njit(cache=True, nogil=True)
def is_grid_outlet(outer, r, c, row0, col0, rows, cols):  # pragma: no cover - compiled
    """Whether cell (r, c) of a tile's outer window is an outlet of the whole grid: on
    the grid's edge or next to nodata (as :func:`footprint.terrain.flood.flood_network`)."""
    gr, gc = row0 + r, col0 + c
    if gr == 0 or gc == 0 or gr == rows - 1 or gc == cols - 1:
        return True
    for k in range(8):
        if np.isnan(outer[r + D8_DR[k], c + D8_DC[k]]):
            return True
    return False


def _global(positions: np.ndarray, frame: tuple[slice, slice], cols: int) -> np.ndarray:
    width = frame[1].stop - frame[1].start
    return (frame[0].start + positions // width) * cols + frame[1].start + positions % width


class Rims:
    """Every tile's border cells, in tile order then border order, looked up by global
    flat index; a per-border-cell value array is ``values[starts[t]:starts[t + 1]]`` for
    tile ``t``. Memory: 24 bytes per border cell."""

    def __init__(self, windows: list[Window], shape: tuple[int, int]) -> None:
        self.shape = shape
        borders = [self.border_global(window) for window in windows]
        self.starts = np.cumsum([0] + [b.size for b in borders])
        cells = np.concatenate(borders)
        self._order = np.argsort(cells, kind="stable")
        self._sorted = cells[self._order]

    @property
    def size(self) -> int:
        """Number of border cells of all tiles."""
        return int(self.starts[-1])

    def border_global(self, window: Window) -> np.ndarray:
        """Global flat indices of a tile's border cells, in border order."""
        rows, cols = window.core
        positions = border_positions(rows.stop - rows.start, cols.stop - cols.start)
        return _global(positions, window.core, self.shape[1])

    def ring_global(self, window: Window) -> np.ndarray:
        """Global flat indices of a tile's ring cells, in ring order."""
        rows, cols = window.outer
        outer_shape = (rows.stop - rows.start, cols.stop - cols.start)
        positions = ring_positions(TilePlace.of(window, self.shape), outer_shape)
        return _global(positions, window.outer, self.shape[1])

    def lookup(self, cells: np.ndarray) -> np.ndarray:
        """Positions in the border table of border cells given by global flat index."""
        return self._order[np.searchsorted(self._sorted, cells)]
