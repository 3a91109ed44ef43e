"""Flow accumulation and the first downstream seed of each cell, computed by tiles.

Input is a D8 network as :func:`footprint.terrain.flood.flood_network` returns it, as a
``(rows, cols)`` grid: the global flat index (``row * cols + col``) of each cell's
downstream cell, the cell itself at an outlet, -1 on nodata. Each tile runs alone, in two
passes (Barnes 2017, "Parallel non-divergent flow accumulation for trillion cell digital
elevation models on desktops or clusters", Environmental Modelling & Software 92:202):

1. per tile (:func:`count_perimeter`, :func:`seed_perimeter`): a topological order of
   the tile's cells by Kahn's algorithm on in-degrees within the tile; its *exit cells*
   (whose downstream cell lies in another tile) with their targets; and for each *entry
   cell* (a core cell into which a cell of the one-cell ring around the tile drains) the
   exit cell its path reaches, or what the path met inside the tile (a seed, an outlet).
   Only these perimeter summaries come back to the caller.
2. the caller joins them: exit -> its target, an entry cell of another tile -> the exit
   that entry reaches, in topological order: the whole grid's count at every exit (so the
   inflow at every entry), and the first seed of every path that leaves a tile without
   meeting one.
3. per tile again (:func:`tile_counts`, :func:`tile_first_downstream`): accumulation with
   the inflows added at the entry cells; the first seed of the cells whose path leaves
   the tile, from the exit it leaves through.

Counts are exact integers, equal to :func:`footprint.terrain.flood.upstream_cells` for
any tiling; tasks are frozen dataclasses of numpy arrays and task functions are
module-level, so ``map_windows`` may be a thread pool's or a dask client's map.

Memory per tile, on top of its inputs: about 25 bytes a cell for accumulation (the local
network, order and first exits, int32; in-degrees, uint8; counts, int64) and about 40 for
first seeds (with the int64 indices and float32 carry it returns). The caller holds the
perimeter summaries (a few int64 per perimeter cell of every tile) and writes each tile's
result into grids made by ``new_grid`` (:mod:`footprint.terrain.tilegrid`).
``map_windows`` is handed a generator of tasks: the built-in ``map`` reads one tile at a
time; an executor's ``map`` reads and submits them all at once.

``benchmarks/tiled_flow.py`` on 2000 x 2000 SRTM3 cells (2026-12-01, shared 2-core
machine): ``flood.upstream_cells`` along the flood order 0.03 s, 5 bytes a cell above
the inputs (it needs the flood order, which the tiles build for themselves); by tiles,
one tile 0.28 s and 29 bytes a cell, 500-cell tiles 0.18 s and 10 bytes a cell, 8 of
which are the in-memory int64 output grid; :func:`first_downstream` of the streams with
the filled DEM carried, one tile 0.33 s and 50 bytes a cell, 500-cell tiles 0.21 s and 17
bytes a cell (12 of them the output grids). Resident peaks above the inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from footprint.errors import InvalidParameterError
from footprint.terrain import tiled_flow_kernels as kernels
from footprint.terrain.tilegrid import GridFactory, TileGrid, memory_grids, plan_tiles
from footprint.terrain.tiles import Window, WindowMap

__all__ = ["CountPerimeter", "CountTask", "FlowTile", "SeedPerimeter", "SeedTask",
           "TileProgress", "count_perimeter", "first_downstream", "seed_perimeter",
           "tile_counts", "tile_first_downstream", "upstream_counts"]

#: progress(step, tiles done, tiles in the step), called after each tile of each pass.
TileProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FlowTile:
    """One tile's inputs.

    Attributes
    ----------
    window : the tile (``core``) and the tile with its one-cell ring (``outer``).
    shape : (rows, cols) of the whole grid.
    idxs_ds : global downstream indices on the outer window (int32 or int64).
    seeds : bool seeds on the core (None for accumulation).
    carry : float values on the core carried from the first seed (None: nothing carried).
    """

    window: Window
    shape: tuple[int, int]
    idxs_ds: np.ndarray
    seeds: np.ndarray | None = None
    carry: np.ndarray | None = None

    @property
    def core_shape(self) -> tuple[int, int]:
        """(rows, cols) of the tile."""
        rows, cols = self.window.core
        return rows.stop - rows.start, cols.stop - cols.start

    def to_global(self, local: np.ndarray) -> np.ndarray:
        """Global flat indices (int64) of tile-local flat indices."""
        rows, cols = self.window.core
        local = np.asarray(local, dtype=np.int64)
        width = self.core_shape[1]
        return (local // width + rows.start) * self.shape[1] + local % width + cols.start

    def to_local(self, index: np.ndarray) -> np.ndarray:
        """Tile-local flat indices (int64) of global flat indices inside the tile."""
        rows, cols = self.window.core
        index = np.asarray(index, dtype=np.int64)
        return ((index // self.shape[1] - rows.start) * self.core_shape[1]
                + index % self.shape[1] - cols.start)

    def network(self) -> tuple[np.ndarray, np.ndarray]:
        """The tile's flat local network (``tiled_flow_kernels``) and its upstream-first
        order; raises InvalidParameterError unless it is a D8 network without loops."""
        core_in_outer = self.window.core_in_outer
        (rows, cols) = self.window.core
        local_type = np.int32 if self.core_shape[0] * self.core_shape[1] < 2**31 else np.int64
        grid = np.empty(self.core_shape, local_type)
        bad = kernels.tile_network(self.idxs_ds, core_in_outer[0].start, core_in_outer[1].start,
                                   rows.start, cols.start, *self.shape, grid)
        if bad:
            raise InvalidParameterError(f"{bad} cells of tile {rows.start}:{rows.stop}, "
                                        f"{cols.start}:{cols.stop} do not drain to a D8 "
                                        "neighbour")
        down = grid.ravel()
        order = kernels.upstream_first(down, np.zeros(down.size, np.uint8))
        _no_loop(order, down)
        return down, order

    def targets(self, local: np.ndarray) -> np.ndarray:
        """Global downstream indices (int64) of tile-local cells."""
        rows, cols = self.window.core_in_outer
        r, c = np.divmod(np.asarray(local, dtype=np.int64), self.core_shape[1])
        return self.idxs_ds[r + rows.start, c + cols.start].astype(np.int64)

    def entries(self) -> np.ndarray:
        """Tile-local indices (ascending) of the cells where flow enters the tile."""
        core_in_outer = self.window.core_in_outer
        (rows, cols) = self.window.core
        return kernels.entry_cells(self.idxs_ds, core_in_outer[0].start,
                                   core_in_outer[1].start, *self.core_shape, rows.start,
                                   cols.start, self.shape[1])


def _no_loop(order: np.ndarray, down: np.ndarray) -> None:
    if order.size != np.count_nonzero(down != kernels.NODATA):
        raise InvalidParameterError("the downstream indices hold a loop")


@dataclass(frozen=True)
class CountPerimeter:
    """A tile's accumulation summary (global flat indices, int64).

    Attributes
    ----------
    exits, targets : exit cells and the cell each drains to (in another tile).
    exit_counts : cells of the tile draining through each exit, itself included.
    entries : entry cells; reaches : the exit each entry's path reaches (-1: none, it
        ends at an outlet in the tile).
    """

    exits: np.ndarray
    targets: np.ndarray
    exit_counts: np.ndarray
    entries: np.ndarray
    reaches: np.ndarray


@dataclass(frozen=True)
class CountTask:
    """Second pass of a tile: ``inflow`` cells from other tiles enter at ``entries``
    (tile-local indices)."""

    tile: FlowTile
    entries: np.ndarray
    inflow: np.ndarray


def _exits_reached(tile: FlowTile, down: np.ndarray, met: np.ndarray,
                   entries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exit cells that are not seeds, tile-local; their targets and the exit each
    entry's path reaches or -1, global flat indices)."""
    exits = np.flatnonzero(down == kernels.EXIT)
    exits = exits[met[exits] < -1]
    reached = met[entries]
    reaches = np.where(reached < -1, tile.to_global(-2 - reached), -1)
    return exits, tile.targets(exits), reaches


def count_perimeter(tile: FlowTile) -> CountPerimeter:
    """First pass of accumulation on one tile (a task function)."""
    down, order = tile.network()
    counts = (down != kernels.NODATA).astype(np.int64)
    kernels.accumulate(order, down, counts)
    entries = tile.entries()
    met = kernels.first_met(order, down, np.zeros(0, np.bool_))
    exits, targets, reaches = _exits_reached(tile, down, met, entries)
    return CountPerimeter(exits=tile.to_global(exits), targets=targets,
                          exit_counts=counts[exits],
                          entries=tile.to_global(entries), reaches=reaches)


def tile_counts(task: CountTask) -> np.ndarray:
    """Second pass of accumulation on one tile (a task function): the whole grid's
    upstream cell counts on the tile, int64, 0 on nodata."""
    down, order = task.tile.network()
    counts = (down != kernels.NODATA).astype(np.int64)
    counts[task.entries] += task.inflow
    kernels.accumulate(order, down, counts)
    return counts.reshape(task.tile.core_shape)


@dataclass(frozen=True)
class SeedPerimeter:
    """A tile's first-seed summary (global flat indices, int64).

    Attributes
    ----------
    exits, targets : exit cells that are not seeds, and the cell each drains to.
    entries : entry cells; reaches : the exit each entry's path leaves through without
        meeting a seed (-1: its path ends in the tile).
    entry_seeds : the first seed on the entry's path in the tile (-1: none).
    entry_carry : float32 carry at that seed (NaN: none, or nothing carried).
    """

    exits: np.ndarray
    targets: np.ndarray
    entries: np.ndarray
    reaches: np.ndarray
    entry_seeds: np.ndarray
    entry_carry: np.ndarray


@dataclass(frozen=True)
class SeedTask:
    """Second pass of a tile: cells leaving through ``exits`` (tile-local indices,
    ascending) first meet seed ``seeds`` (global, -1: none) carrying ``carry``."""

    tile: FlowTile
    exits: np.ndarray
    seeds: np.ndarray
    carry: np.ndarray


def _met_seeds(tile: FlowTile) -> tuple[np.ndarray, np.ndarray]:
    """The tile's local network and ``tiled_flow_kernels.first_met`` of its seeds."""
    down, order = tile.network()
    seeds = np.zeros(0, np.bool_) if tile.seeds is None else tile.seeds.ravel()
    return down, kernels.first_met(order, down, seeds)


def _carried(tile: FlowTile, met: np.ndarray) -> np.ndarray:
    """float32 carry at local seeds ``met`` (NaN where ``met`` < 0 or nothing carried)."""
    out = np.full(met.size, np.nan, np.float32)
    if tile.carry is not None:
        found = met >= 0
        out[found] = tile.carry.ravel()[met[found]]
    return out


def seed_perimeter(tile: FlowTile) -> SeedPerimeter:
    """First pass of :func:`first_downstream` on one tile (a task function)."""
    down, met = _met_seeds(tile)
    entries = tile.entries()
    exits, targets, reaches = _exits_reached(tile, down, met, entries)
    at_entries = met[entries]
    seeds = np.where(at_entries >= 0, tile.to_global(np.maximum(at_entries, 0)), -1)
    return SeedPerimeter(exits=tile.to_global(exits), targets=targets,
                         entries=tile.to_global(entries),
                         reaches=reaches, entry_seeds=seeds,
                         entry_carry=_carried(tile, at_entries))


def tile_first_downstream(task: SeedTask) -> tuple[np.ndarray, np.ndarray]:
    """Second pass of :func:`first_downstream` on one tile (a task function): (global
    index of the first seed, int64, -1 for none; float32 carry, NaN for none)."""
    tile = task.tile
    _, met = _met_seeds(tile)
    index = np.where(met >= 0, tile.to_global(np.maximum(met, 0)), -1)
    carry = _carried(tile, met)
    leaving = np.flatnonzero(met < -1)
    through = np.searchsorted(task.exits, -2 - met[leaving])
    index[leaving] = task.seeds[through]
    carry[leaving] = task.carry[through]
    return index.reshape(tile.core_shape), carry.reshape(tile.core_shape)


def _windows(idxs_ds, tile_cells: int | None) -> list[Window]:
    if len(idxs_ds.shape) != 2:
        raise InvalidParameterError(f"downstream indices must be a (rows, cols) grid, got "
                                    f"shape {idxs_ds.shape}")
    shape = (int(idxs_ds.shape[0]), int(idxs_ds.shape[1]))
    return plan_tiles(shape, max(*shape, 2) if tile_cells is None else tile_cells)


def _tiles(windows: list[Window], idxs_ds, seeds=None, carry=None) -> Iterator[FlowTile]:
    """Each tile's inputs, read when the task is taken."""
    shape = (int(idxs_ds.shape[0]), int(idxs_ds.shape[1]))
    for window in windows:
        yield FlowTile(window=window, shape=shape, idxs_ds=np.array(idxs_ds[window.outer]),
                       seeds=None if seeds is None else np.array(seeds[window.core], bool),
                       carry=None if carry is None else np.array(carry[window.core]))


def _reported(results, step: str, total: int, progress: TileProgress | None):
    for done, result in enumerate(results, start=1):
        if progress is not None:
            progress(step, done, total)
        yield result


@dataclass(frozen=True)
class _Joined:
    """Perimeter summaries of all tiles joined: ``next_exit[i]`` is the exit that the
    path from exit ``i`` leaves its target's tile through (``i`` itself: none),
    ``entry_of[i]`` the position of exit ``i``'s target among the entries."""

    next_exit: np.ndarray
    entry_of: np.ndarray
    order: np.ndarray


def _position(sorted_ids: np.ndarray, sorter: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in ``sorted_ids[sorter]``'s source array; all must be there."""
    at = np.searchsorted(sorted_ids, ids)
    if np.any(at >= sorted_ids.size) or np.any(sorted_ids[np.minimum(at, sorted_ids.size - 1)]
                                               != ids):
        raise InvalidParameterError("an exit cell's target is not an entry cell of its tile: "
                                    "not a D8 network")
    return sorter[at]


def _join(exits: np.ndarray, targets: np.ndarray, entries: np.ndarray,
          reaches: np.ndarray) -> _Joined:
    """Link every exit to the exit its target entry reaches, in topological order."""
    entry_sorter = np.argsort(entries, kind="stable")
    entry_of = _position(entries[entry_sorter], entry_sorter, targets)
    reached = reaches[entry_of]
    exit_sorter = np.argsort(exits, kind="stable")
    next_exit = np.arange(exits.size)
    leaves = reached >= 0
    next_exit[leaves] = _position(exits[exit_sorter], exit_sorter, reached[leaves])
    order = kernels.upstream_first(next_exit, np.zeros(exits.size, np.int64))
    _no_loop(order, next_exit)
    return _Joined(next_exit=next_exit, entry_of=entry_of, order=order)


def _split(values: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    return np.split(values, np.cumsum(sizes)[:-1])


def _concat(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.empty(0, dtype)


def upstream_counts(idxs_ds, *, tile_cells: int | None = None, map_windows: WindowMap = map,
                    new_grid: GridFactory = memory_grids,
                    progress: TileProgress | None = None) -> TileGrid:
    """Number of cells draining through each cell, itself included (int64; 0 on nodata).

    Parameters
    ----------
    idxs_ds : (rows, cols) grid of global flat downstream indices (int32 or int64; the
        cell itself at outlets, -1 on nodata), D8 and without loops; anything indexable by
        ``[row slice, col slice]`` (numpy array, ``np.memmap``), read tile by tile.
    tile_cells : side of a square tile (cells, >= 2); None: the whole grid in one tile.
    map_windows : runs the task functions over the tiles (``map``, a thread pool's or a
        dask client's map).
    new_grid : makes the output grid, named ``"upstream_counts"``.
    progress : ``progress(step, done, total)`` after each tile of each pass.

    Returns
    -------
    int64 grid made by ``new_grid``, equal to ``flood.upstream_cells`` for any tiling.
    """
    windows = _windows(idxs_ds, tile_cells)
    perimeters = list(_reported(map_windows(count_perimeter, _tiles(windows, idxs_ds)),
                                "accumulation: perimeters", len(windows), progress))
    entries = [p.entries for p in perimeters]
    joined = _join(_concat([p.exits for p in perimeters], np.int64),
                   _concat([p.targets for p in perimeters], np.int64),
                   _concat(entries, np.int64),
                   _concat([p.reaches for p in perimeters], np.int64))
    totals = _concat([p.exit_counts for p in perimeters], np.int64).copy()
    kernels.accumulate(joined.order, joined.next_exit, totals)
    inflow = np.zeros(sum(e.size for e in entries), np.int64)
    np.add.at(inflow, joined.entry_of, totals)
    del perimeters
    tasks = _count_tasks(windows, idxs_ds, entries, inflow)
    counts = new_grid("upstream_counts", (int(idxs_ds.shape[0]), int(idxs_ds.shape[1])),
                      np.int64)
    for window, tile in zip(windows, _reported(map_windows(tile_counts, tasks),
                                               "accumulation: tiles", len(windows),
                                               progress), strict=True):
        counts[window.core] = tile
    return counts


def _count_tasks(windows: list[Window], idxs_ds, entries: list[np.ndarray],
                 inflow: np.ndarray) -> Iterator[CountTask]:
    """Second-pass tasks: each tile's entries (global) and their inflow."""
    for tile, at, cells in zip(_tiles(windows, idxs_ds), entries,
                               _split(inflow, [e.size for e in entries]), strict=True):
        yield CountTask(tile=tile, entries=tile.to_local(at), inflow=cells)


def first_downstream(idxs_ds, seeds, *, carry=None, tile_cells: int | None = None,
                     map_windows: WindowMap = map, new_grid: GridFactory = memory_grids,
                     progress: TileProgress | None = None) -> tuple[TileGrid, TileGrid | None]:
    """The first seed on each cell's D8 path, and a value carried from it.

    Parameters
    ----------
    idxs_ds : as for :func:`upstream_counts`.
    seeds : bool grid of the same shape (anything indexable by slices), read by tiles.
    carry : float grid of the same shape, or None.
    tile_cells, map_windows, progress : as for :func:`upstream_counts`.
    new_grid : makes the output grids, named ``"first_downstream"`` and
        ``"first_downstream_carry"``.

    Returns
    -------
    (int64 grid: for each cell the global flat index of the first cell on its D8 path,
    itself included, where ``seeds`` is True; -1 where the path ends at an outlet without
    meeting one, and on nodata; float32 grid of ``carry`` at that seed, NaN where the
    index is -1, or None without ``carry``).
    """
    windows = _windows(idxs_ds, tile_cells)
    perimeters = list(_reported(map_windows(seed_perimeter, _tiles(windows, idxs_ds, seeds,
                                                                   carry)),
                                "first seeds: perimeters", len(windows), progress))
    exits = [p.exits for p in perimeters]
    joined = _join(_concat(exits, np.int64), _concat([p.targets for p in perimeters], np.int64),
                   _concat([p.entries for p in perimeters], np.int64),
                   _concat([p.reaches for p in perimeters], np.int64))
    # the chain of exits from exit i ends at the exit whose target entry's path meets a seed
    # (or an outlet) in its tile: that entry's result is exit i's
    ends = joined.entry_of[kernels.chain_ends(joined.order, joined.next_exit)]
    exit_seeds = _concat([p.entry_seeds for p in perimeters], np.int64)[ends]
    exit_carry = _concat([p.entry_carry for p in perimeters], np.float32)[ends]
    sizes = [e.size for e in exits]
    del perimeters
    shape = (int(idxs_ds.shape[0]), int(idxs_ds.shape[1]))
    index = new_grid("first_downstream", shape, np.int64)
    carried = None if carry is None else new_grid("first_downstream_carry", shape, np.float32)
    tasks = (SeedTask(tile=tile, exits=tile.to_local(e), seeds=s, carry=c)
             for tile, e, s, c in zip(_tiles(windows, idxs_ds, seeds, carry), exits,
                                      _split(exit_seeds, sizes), _split(exit_carry, sizes),
                                      strict=True))
    for window, (tile_index, tile_carry) in zip(
            windows, _reported(map_windows(tile_first_downstream, tasks),
                               "first seeds: tiles", len(windows), progress), strict=True):
        index[window.core] = tile_index
        if carried is not None:
            carried[window.core] = tile_carry
    return index, carried
