"""Tiles of a grid for routing by tiles, and the grids their results are stitched into.

Tiled routing (:mod:`footprint.terrain.tiled_fill`, :mod:`footprint.terrain.tiled_flow`)
cuts the grid into square tiles (:func:`plan_tiles`: :class:`footprint.terrain.tiles.Window`
objects whose ``core`` is the tile and whose ``outer`` adds a ring of one cell, clipped to
the grid) and runs each tile alone through ``map_windows(function, tasks)``
(:data:`footprint.terrain.tiles.WindowMap`: the built-in ``map``, a thread pool's or a
dask client's). Only small per-tile summaries (the tile's perimeter) come back to the
caller, which joins them; the tiles' whole-tile results are written into grids made by a
:data:`GridFactory`:

- :func:`memory_grids` (the default): numpy arrays in this process;
- the pipeline's files mapped into memory (:func:`footprint.pipeline.windows.mapped_grids`),
  whose pages the system writes back and drops, so the caller holds no whole grid.

A grid made by a factory is read and written by windows: ``grid[rows, cols]`` returns a
numpy array, ``grid[rows, cols] = values`` writes one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from footprint.errors import InvalidParameterError
from footprint.terrain.tiles import Window, plan_windows

__all__ = ["GridFactory", "TileGrid", "memory_grids", "plan_tiles", "tile_slices"]


class TileGrid(Protocol):
    """A whole grid read and written by windows of (row slice, column slice)."""

    shape: tuple[int, ...]

    def __getitem__(self, key: Any) -> Any: ...

    def __setitem__(self, key: Any, values: Any) -> None: ...


#: new_grid(name, shape, dtype) -> TileGrid; ``name`` is unique within one routing.
GridFactory = Callable[[str, tuple[int, int], Any], TileGrid]


def memory_grids(name: str, shape: tuple[int, int], dtype: Any) -> TileGrid:
    """A :data:`GridFactory` of in-memory numpy grids (zero-filled)."""
    del name
    return np.zeros(shape, dtype=dtype)


def plan_tiles(shape: tuple[int, int], tile_cells: int) -> list[Window]:
    """Square tiles of ``tile_cells`` a side covering ``shape`` (row-major order), each
    with a one-cell ring (``outer``) clipped to the grid."""
    if tile_cells < 2:
        raise InvalidParameterError(f"tiles need at least 2 cells a side, got {tile_cells}")
    return plan_windows(shape, tile_cells, 1)


def tile_slices(window: Window) -> tuple[slice, slice]:
    """The tile (core) of a window, as slices of the whole grid."""
    return window.core
