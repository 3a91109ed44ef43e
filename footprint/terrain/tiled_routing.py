"""Flow routing by tiles: the whole chain of :func:`footprint.terrain.route_flow` with
each tile run alone, so no process holds the whole grid's network.

1. :func:`footprint.terrain.tiled_fill.fill_and_direct`: the filled DEM, exactly
   Priority-Flood's (Barnes 2016), and D8 directions: steepest descent where a cell has a
   lower neighbour, least-cost paths to the outlets of each flat otherwise (across a
   filled depression, along its deepest ground). Both are the same for every tiling.
2. :func:`footprint.terrain.tiled_flow.upstream_counts`: exact upstream cell counts with
   the flow across tile edges resolved on the tiles' perimeters (Barnes 2017), times the
   cell area.
3. HAND and "drains to" from the first stream cell down each path
   (:func:`footprint.terrain.tiled_flow.first_downstream`).

The grids are made by a :data:`footprint.terrain.tilegrid.GridFactory` (numpy arrays in
memory, or files mapped by the pipeline, which the operating system pages), the tiles run
through a :data:`footprint.terrain.tiles.WindowMap`. Memory per tile task: a few tens of
bytes per tile cell; the caller holds the tiles' perimeters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from affine import Affine

from footprint.errors import InvalidParameterError
from footprint.terrain.tiled_fill import fill_and_direct
from footprint.terrain.tiled_flow import first_downstream, upstream_counts
from footprint.terrain.tilegrid import GridFactory, TileGrid, memory_grids, plan_tiles
from footprint.terrain.tiles import WindowMap

__all__ = ["TiledRouting", "route_flow_by_tiles"]


@dataclass(frozen=True)
class TiledRouting:
    """The flow network of a grid routed by tiles (the fields :class:`FlowRouting` has,
    as grids of the factory that made them).

    Attributes
    ----------
    conditioned_m : float32 filled DEM (m, NaN = nodata).
    downstream : global flat index of each cell's downstream cell (int64; the cell itself
        at outlets, -1 on nodata).
    upstream_area_km2 : float32 contributing area incl. the cell (km², NaN on nodata).
    res_m : cell size (m).
    tile_cells, map_windows, new_grid : how later tiled passes (HAND) run.

    HAND and "drains to" of the same stream grid share one tiled pass to the first stream
    cell (the last one is kept, with a digest of the stream grid it was made for).
    """

    conditioned_m: Any
    downstream: Any
    upstream_area_km2: Any
    res_m: float
    tile_cells: int
    map_windows: WindowMap
    new_grid: GridFactory
    _first: list[tuple[bytes, TileGrid, TileGrid]] = field(
        default_factory=list, init=False, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the grid."""
        return tuple(self.conditioned_m.shape)  # type: ignore[return-value]

    @property
    def idxs_ds(self) -> np.ndarray:
        """Flat downstream indices as one array (a view of the grid, nothing copied)."""
        return np.asarray(self.downstream).reshape(-1)

    def first_stream(self, streams: np.ndarray) -> tuple[TileGrid, TileGrid]:
        """(global index of the first stream cell down each cell's path, -1 where none;
        the filled DEM at that cell, NaN where none), computed once per stream grid."""
        cells = np.ascontiguousarray(streams, dtype=bool)
        digest = hashlib.blake2b(cells.data.cast("B"), digest_size=16).digest()
        if self._first and self._first[0][0] == digest:
            return self._first[0][1], self._first[0][2]
        first, drain_m = first_downstream(self.downstream, cells, carry=self.conditioned_m,
                                          tile_cells=self.tile_cells,
                                          map_windows=self.map_windows, new_grid=self.new_grid)
        self._first[:] = [(digest, first, cast(TileGrid, drain_m))]  # a carry was given
        return self._first[0][1], self._first[0][2]

    def height_above_drainage(self, streams: np.ndarray) -> np.ndarray:
        """HAND (m, float32): the filled DEM minus the filled DEM at the first stream cell
        down the path; 0 on streams, NaN where no stream is met and on nodata (the
        definition of :func:`footprint.terrain.height_above_drainage`)."""
        _, drain_m = self.first_stream(streams)
        hand = self.new_grid("hand_m", self.shape, np.float32)
        for window in plan_tiles(self.shape, self.tile_cells):
            z = np.asarray(self.conditioned_m[window.core], dtype=np.float32)
            with np.errstate(invalid="ignore"):
                hand[window.core] = np.maximum(z - np.asarray(drain_m[window.core]),
                                               np.float32(0))
        return np.asarray(hand)

    def drains_to(self, streams: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Cells whose D8 path first meets a stream cell that is in ``targets`` (bool)."""
        first, _ = self.first_stream(streams)
        flat_targets = np.asarray(targets, dtype=bool).reshape(-1)
        out = np.zeros(self.shape, dtype=bool)
        for window in plan_tiles(self.shape, self.tile_cells):
            tile = np.asarray(first[window.core])
            hit = tile >= 0
            values = np.zeros(tile.shape, dtype=bool)
            values[hit] = flat_targets[tile[hit]]
            out[window.core] = values
        return out


def route_flow_by_tiles(elevation_m: Any, res_m: float, *, tile_cells: int,
                        transform: Affine | None = None, map_windows: WindowMap = map,
                        new_grid: GridFactory = memory_grids) -> TiledRouting:
    """Condition a DEM and route D8 flow by tiles of ``tile_cells`` a side.

    Parameters
    ----------
    elevation_m : float grid (m, NaN = nodata, voids filled first), read by windows.
    res_m : square cell size (m, projected CRS).
    tile_cells : side of a tile (cells), >= 2.
    transform : affine transform (only the cell area is used); default ``res_m`` cells.
    map_windows, new_grid : where the tiles run, where their results are kept.

    Returns
    -------
    TiledRouting.
    """
    if res_m <= 0:
        raise InvalidParameterError(f"cell size must be positive, got {res_m} m")
    if len(elevation_m.shape) != 2 or not elevation_m.shape[0] * elevation_m.shape[1]:
        raise InvalidParameterError(f"a DEM to route needs rows and columns, got shape "
                                    f"{tuple(elevation_m.shape)}")
    if transform is None:
        transform = Affine(res_m, 0.0, 0.0, 0.0, -res_m, 0.0)
    filled, downstream = fill_and_direct(elevation_m, tile_cells=tile_cells,
                                         map_windows=map_windows, new_grid=new_grid)
    counts = upstream_counts(downstream, tile_cells=tile_cells, map_windows=map_windows,
                             new_grid=new_grid)
    cell_km2 = np.float32(abs(transform.a * transform.e) / 1e6)
    shape = (int(filled.shape[0]), int(filled.shape[1]))
    area = new_grid("upstream_area_km2", shape, np.float32)
    for window in plan_tiles(shape, tile_cells):  # float32 products, as route_flow's
        tile = np.asarray(counts[window.core])
        area[window.core] = np.where(tile > 0, tile.astype(np.float32) * cell_km2,
                                     np.float32(np.nan))
    return TiledRouting(conditioned_m=filled, downstream=downstream, upstream_area_km2=area,
                        res_m=float(res_m), tile_cells=int(tile_cells),
                        map_windows=map_windows, new_grid=new_grid)
