"""Exact depression filling and D8 directions by tiles, each tile computed alone.

Parallel Priority-Flood (Barnes 2016, "Parallel Priority-Flood depression filling for
trillion cell digital elevation models", Computers & Geosciences 96:56; after Barnes,
Lehman and Mulla 2014, Computers & Geosciences 62:117):

1. Each tile (its cells plus a one-cell ring, to tell the whole grid's outlets) is
   flooded from its border cells at their own height, each border cell with its own
   label, except the whole grid's outlets (on the grid's edge or next to nodata, as
   :func:`footprint.terrain.flood.flood_network`), which all carry the label OCEAN (0).
   A cell takes the label of the cell it is flooded from; where two labels meet, the
   lowest spill (the higher of the two cells' local fill) is kept per pair of labels.
2. The caller joins the labels' graph: those edges, plus one between every two adjacent
   border cells of neighbouring tiles (8-connected) at the higher of their heights. A
   minimax Dijkstra from OCEAN gives each label its water level.
3. Each tile's filled DEM is the higher of its local fill and its label's water level:
   exactly the whole grid's Priority-Flood fill, bit for bit, for every tiling.

D8 directions then follow on the filled DEM (:mod:`footprint.terrain.tiled_flats`).

Memory: a tile task holds its outer window (float32) and its local fill, labels and heap
(about 24 bytes a tile cell); the caller holds the border table (about 50 bytes per border
cell, 4 per tile side) and the labels' graph. The whole-tile results go to grids made by
``new_grid``: the filled DEM (float32), the labels (int32, 4 bytes a cell, a scratch
grid) and the downstream indices (int64).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from footprint.errors import InvalidParameterError
from footprint.terrain.flood import _MIN_QUEUE, _OPEN, D8_DC, D8_DR, _key, _pop, _push, _room
from footprint.terrain.tiled_flats import direct_by_tiles
from footprint.terrain.tilegrid import GridFactory, TileGrid, memory_grids, plan_tiles
from footprint.terrain.tilerim import Rims, TilePlace, border_positions, is_grid_outlet
from footprint.terrain.tiles import Window, WindowMap

__all__ = ["FillTask", "RaiseTask", "TileFlood", "fill_and_direct", "flood_tile", "raise_tile"]

OCEAN = 0  #: label of the whole grid's outlets and of every cell flooded from them
_NO_LABEL = -1  # nodata
Progress = Callable[[float, str], Any]


@dataclass(frozen=True)
class FillTask:
    """One tile for the first stage: its outer window of the DEM (float32 m, NaN =
    nodata) and its place in the grid."""

    elevation_m: np.ndarray
    place: TilePlace


@dataclass(frozen=True)
class TileFlood:
    """A tile flooded from its border (labels local to the tile: OCEAN, 1 + border
    position of the border cell flooded from, -1 on nodata).

    Attributes
    ----------
    fill_m : (rows, cols) float32 local fill of the tile (m), NaN on nodata.
    labels : (rows, cols) int32 labels.
    border_m : float32 height of each border cell (m), in border order.
    border_labels : int32 label of each border cell.
    edges : (n, 2) int32 pairs of labels that meet in the tile (lower label first).
    spill_m : float32 lowest spill between each pair (m).
    """

    fill_m: np.ndarray
    labels: np.ndarray
    border_m: np.ndarray
    border_labels: np.ndarray
    edges: np.ndarray
    spill_m: np.ndarray


@dataclass(frozen=True)
class RaiseTask:
    """One tile for the last stage: its local fill (float32 m), labels (int32) and the
    water level (float32 m) of each of its local labels."""

    fill_m: np.ndarray
    labels: np.ndarray
    levels_m: np.ndarray


def flood_tile(task: FillTask) -> TileFlood:
    """Priority-Flood of one tile from its border cells (stage 1 of Barnes 2016)."""
    outer = np.ascontiguousarray(task.elevation_m, dtype=np.float32)
    place = task.place
    r0, r1, c0, c1 = place.core
    fill = outer[r0:r1, c0:c1].copy().ravel()  # never the caller's array
    labels = np.full(fill.size, _OPEN, dtype=np.int32)
    a, b, spill = _flood_tile(outer, r0, r1, c0, c1, place.row0, place.col0, place.grid_rows,
                              place.grid_cols, fill, fill.view(np.uint32), labels)
    keep = _cheapest(a, b, spill)
    border = border_positions(r1 - r0, c1 - c0)
    return TileFlood(fill.reshape(r1 - r0, c1 - c0), labels.reshape(r1 - r0, c1 - c0),
                     fill[border], labels[border], np.stack((a[keep], b[keep]), axis=1),
                     spill[keep])


def raise_tile(task: RaiseTask) -> np.ndarray:
    """Filled DEM of a tile (float32 m, NaN on nodata): the higher of its local fill and
    its label's water level."""
    valid = task.labels >= 0
    filled = np.full(task.fill_m.shape, np.nan, dtype=np.float32)
    filled[valid] = np.maximum(task.fill_m[valid], task.levels_m[task.labels[valid]])
    return filled


def fill_and_direct(elevation_m: Any, *, tile_cells: int | None = None,
                    map_windows: WindowMap = map, new_grid: GridFactory = memory_grids,
                    progress: Progress | None = None) -> tuple[TileGrid, TileGrid]:
    """Fill every depression and route D8, tile by tile.

    The filled DEM equals :func:`footprint.terrain.flood.flood_network`'s bit for bit; the
    directions are the same for every tiling and equal ``flood_network``'s on every cell
    with a strictly lower neighbour; cells on flats drain by least cost to the flat's
    exits, along its deepest filled ground (:mod:`footprint.terrain.tiled_flats`).

    Parameters
    ----------
    elevation_m : (rows, cols) DEM (m), NaN = nodata, indexable by ``[row slice, col
        slice]`` (a numpy array or ``np.memmap``); only tiles and their rings are read.
    tile_cells : side of a tile (cells, >= 2); None: one tile covering the grid.
    map_windows : runs the tile tasks (``map``, a thread pool's or a dask client's map);
        tasks are picklable dataclasses, task functions module-level.
    new_grid : makes the result and scratch grids (``memory_grids``: numpy arrays).
    progress : ``progress(fraction, message)`` after each stage, if given.

    Returns
    -------
    filled : float32 grid (m), depressions filled, NaN on nodata.
    idxs_ds : int64 grid of each cell's downstream cell as a global flat index (itself at
        an outlet, -1 on nodata).
    """
    shape = tuple(int(n) for n in elevation_m.shape)
    if len(shape) != 2:
        raise InvalidParameterError(f"a DEM must be two-dimensional, got shape {shape}")
    side = max(shape[0], shape[1], 2) if tile_cells is None else int(tile_cells)
    if min(side, shape[0]) * min(side, shape[1]) >= 2**32:  # flood order in 32 bits of a key
        raise InvalidParameterError(f"tiles of {side} cells a side are too large",
                                    hint="give a smaller tile_cells")
    report = progress or _silent
    windows = plan_tiles((shape[0], shape[1]), side)
    rims = Rims(windows, (shape[0], shape[1]))
    filled = new_grid("filled", (shape[0], shape[1]), np.float32)
    labels = new_grid("labels", (shape[0], shape[1]), np.int32)
    levels = _water_levels(elevation_m, windows, rims, filled, labels, map_windows)
    report(0.4, f"water levels of {levels.size - 1:,} border labels in {len(windows)} tiles")
    raised = map_windows(raise_tile, _raise_tasks(windows, rims, filled, labels, levels))
    for window, tile in zip(windows, raised, strict=True):
        filled[window.core] = tile
    report(0.5, "filled DEM written")
    idxs_ds = new_grid("idxs_ds", (shape[0], shape[1]), np.int64)
    rounds = direct_by_tiles(elevation_m, filled, idxs_ds, windows, rims, map_windows, report)
    report(1.0, f"D8 directions written; flat distances settled in {rounds} rounds")
    return filled, idxs_ds


def _silent(fraction: float, message: str) -> None:
    del fraction, message


def _water_levels(elevation_m: Any, windows: list[Window], rims: Rims, filled: TileGrid,
                  labels: TileGrid, map_windows: WindowMap) -> np.ndarray:
    """Flood every tile (local fill and labels into the grids), join the labels' graph and
    return each global label's water level (float32 m; OCEAN -inf)."""
    shape = rims.shape
    tasks = (FillTask(np.array(elevation_m[w.outer], dtype=np.float32), TilePlace.of(w, shape))
             for w in windows)
    border_m = np.empty(rims.size, dtype=np.float32)
    border_labels = np.empty(rims.size, dtype=np.int64)
    pairs, spills = [], []
    for tile, (window, flood) in enumerate(zip(windows, map_windows(flood_tile, tasks),
                                               strict=True)):
        filled[window.core] = flood.fill_m
        labels[window.core] = flood.labels
        start, stop = rims.starts[tile], rims.starts[tile + 1]
        border_m[start:stop] = flood.border_m
        border_labels[start:stop] = _global_labels(flood.border_labels, start)
        pairs.append(_global_labels(flood.edges, start))
        spills.append(flood.spill_m)
        del flood  # one tile's results at a time
    cross_pairs, cross_spills = _cross_edges(windows, rims, border_m, border_labels)
    pairs.append(cross_pairs)
    spills.append(cross_spills)
    return _solve_levels(rims.size + 1, np.concatenate(pairs), np.concatenate(spills))


def _global_labels(local: np.ndarray, start: int) -> np.ndarray:
    """Tile labels as global labels: border label ``1 + j`` of the tile whose border
    cells start at ``start`` in the border table is ``1 + start + j``."""
    local = local.astype(np.int64)
    return np.where(local > OCEAN, local + start, local)


def _cross_edges(windows: list[Window], rims: Rims, border_m: np.ndarray,
                 border_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges between 8-adjacent border cells of neighbouring tiles, each pair once:
    ((n, 2) int64 global labels, float32 spill = the higher of the two heights, m)."""
    rows, cols = rims.shape
    pairs, spills = [], []
    for tile, window in enumerate(windows):
        cells = rims.border_global(window)
        mine = np.arange(rims.starts[tile], rims.starts[tile + 1])
        r, c = cells // cols, cells % cols
        for dr, dc in zip(D8_DR, D8_DC, strict=True):
            nr, nc = r + dr, c + dc
            outside = ((nr < window.core[0].start) | (nr >= window.core[0].stop)
                       | (nc < window.core[1].start) | (nc >= window.core[1].stop))
            keep = outside & (nr >= 0) & (nr < rows) & (nc >= 0) & (nc < cols)
            keep[keep] = nr[keep] * cols + nc[keep] > cells[keep]  # each pair once
            theirs = rims.lookup(nr[keep] * cols + nc[keep])
            a, b = border_labels[mine[keep]], border_labels[theirs]
            joined = (a >= 0) & (b >= 0) & (a != b)
            pairs.append(np.stack((a[joined], b[joined]), axis=1))
            spills.append(np.maximum(border_m[mine[keep]][joined], border_m[theirs][joined]))
    return np.concatenate(pairs), np.concatenate(spills)


def _solve_levels(n_labels: int, pairs: np.ndarray, spills: np.ndarray) -> np.ndarray:
    """Water level of each label (float32 m): the lowest, over paths from OCEAN in the
    labels' graph, of the highest spill on the path (minimax Dijkstra)."""
    src = np.concatenate((pairs[:, 0], pairs[:, 1]))
    dst = np.concatenate((pairs[:, 1], pairs[:, 0]))
    order = np.argsort(src, kind="stable")
    starts = np.zeros(n_labels + 1, dtype=np.int64)
    starts[1:] = np.cumsum(np.bincount(src, minlength=n_labels))
    return _minimax(starts, dst[order], np.concatenate((spills, spills))[order])


def _raise_tasks(windows: list[Window], rims: Rims, filled: TileGrid, labels: TileGrid,
                 levels: np.ndarray) -> Iterator[RaiseTask]:
    for tile, window in enumerate(windows):
        start, stop = rims.starts[tile], rims.starts[tile + 1]
        local = np.concatenate((levels[:1], levels[1 + start:1 + stop]))
        yield RaiseTask(np.asarray(filled[window.core]), np.asarray(labels[window.core]), local)


def _cheapest(a: np.ndarray, b: np.ndarray, spill: np.ndarray) -> np.ndarray:
    """Positions of the lowest spill of each pair of labels (one per pair)."""
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    pair = a.astype(np.int64) * (int(b.max()) + 1) + b
    order = np.lexsort((spill, pair))
    first = np.ones(order.size, dtype=bool)
    first[1:] = pair[order[1:]] != pair[order[:-1]]
    return order[first]


@njit(cache=True, nogil=True)
def _flood_tile(outer, r0, r1, c0, c1, row0, col0, rows, cols, fill, bits,
                labels):  # pragma: no cover - compiled
    """Priority-Flood of the tile ``outer[r0:r1, c0:c1]`` from its border cells and the
    grid's outlets, in place on ``fill`` and ``labels`` (the tile, flat); returns the
    labels' meetings (a, b, spill), lower label first, possibly repeated."""
    h, w = r1 - r0, c1 - c0
    keys, cells, size = _seed_tile(outer, r0, r1, c0, c1, row0, col0, rows, cols, fill, bits,
                                   labels)
    counter = size
    ea, eb = np.empty(_MIN_QUEUE, np.int32), np.empty(_MIN_QUEUE, np.int32)
    es = np.empty(_MIN_QUEUE, np.float32)
    n_edges = 0
    while size > 0:
        i, size = _pop(keys, cells, size)
        keys, cells = _room(keys, cells, size, 8)
        r, c = i // w, i % w
        for k in range(8):
            rr, cc = r + D8_DR[k], c + D8_DC[k]
            if rr < 0 or rr >= h or cc < 0 or cc >= w:
                continue
            nb = rr * w + cc
            if labels[nb] == _OPEN:
                labels[nb] = labels[i]
                fill[nb] = max(fill[nb], fill[i])
                size = _push(keys, cells, size, _key(bits[nb], counter), nb)
                counter += 1
            elif labels[nb] >= 0 and labels[nb] != labels[i]:
                if n_edges == es.size:
                    ea, eb, es = _grown(ea), _grown(eb), _grown(es)
                ea[n_edges] = min(labels[i], labels[nb])
                eb[n_edges] = max(labels[i], labels[nb])
                es[n_edges] = max(fill[i], fill[nb])
                n_edges += 1
    return ea[:n_edges], eb[:n_edges], es[:n_edges]


@njit(cache=True, nogil=True)
def _seed_tile(outer, r0, r1, c0, c1, row0, col0, rows, cols, fill, bits,
               labels):  # pragma: no cover - compiled
    """Label nodata; put the grid's outlets (OCEAN) and the border cells (1 + border
    position) of the tile on a new heap keyed by height; returns (keys, cells, size)."""
    h, w = r1 - r0, c1 - c0
    keys, cells = np.empty(_MIN_QUEUE, np.uint64), np.empty(_MIN_QUEUE, np.int64)
    size, border = 0, 0
    for i in range(h * w):
        r, c = i // w, i % w
        on_border = r == 0 or c == 0 or r == h - 1 or c == w - 1
        border += on_border
        if np.isnan(fill[i]):
            labels[i] = _NO_LABEL
            continue
        if is_grid_outlet(outer, r + r0, c + c0, row0, col0, rows, cols):
            labels[i] = OCEAN
        elif on_border:
            labels[i] = border
        else:
            continue
        keys, cells = _room(keys, cells, size, 1)
        size = _push(keys, cells, size, _key(bits[i], size), i)
    return keys, cells, size


@njit(cache=True, nogil=True)
def _grown(values):  # pragma: no cover - compiled
    """``values`` copied into an array twice as long."""
    out = np.empty(2 * values.size, values.dtype)
    out[:values.size] = values
    return out


@njit(cache=True, nogil=True)
def _minimax(starts, targets, spills):  # pragma: no cover - compiled
    """Minimax Dijkstra from label 0 over the graph in CSR form (``starts``, ``targets``,
    ``spills``); unreached labels (border cells that are outlets or nodata) stay +inf."""
    n = starts.size - 1
    level = np.full(n, np.inf, np.float32)
    level[0] = -np.inf
    keys, cells = np.empty(_MIN_QUEUE, np.float32), np.empty(_MIN_QUEUE, np.int64)
    size = _push(keys, cells, 0, level[0], 0)
    while size > 0:
        key = keys[0]
        u, size = _pop(keys, cells, size)
        if key > level[u]:
            continue  # a stale entry
        keys, cells = _room(keys, cells, size, starts[u + 1] - starts[u])
        for j in range(starts[u], starts[u + 1]):
            v = targets[j]
            through = max(key, spills[j])
            if through < level[v]:
                level[v] = through
                size = _push(keys, cells, size, through, v)
    return level
