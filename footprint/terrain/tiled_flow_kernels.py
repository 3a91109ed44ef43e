"""Compiled kernels of :mod:`footprint.terrain.tiled_flow`: one tile's network and orders.

A tile's network is held in tile-local flat indices (``row * tile_cols + col`` of the
tile's core): ``down[i]`` is the local index of the cell ``i`` drains to, ``i`` itself at
an outlet, :data:`NODATA` on nodata, and ``-2 - target`` (``target`` the global flat
index) at an *exit cell*, whose downstream cell lies outside the tile. The same
encoding, with outlets as terminals, serves the driver's graph of exit cells.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: ``down`` of a nodata cell
NODATA = -1


@njit(cache=True, nogil=True, inline="always")
def _local(target, cols, row0, col0, rows_in, cols_in):  # pragma: no cover - compiled
    """Tile-local index of global flat index ``target``; -1 when it is outside the tile."""
    r, c = target // cols - row0, target % cols - col0
    if r < 0 or r >= rows_in or c < 0 or c >= cols_in:
        return -1
    return r * cols_in + c


@njit(cache=True, nogil=True)
def tile_network(idxs_ds, core_r0, core_c0, rows_in, cols_in, row0, col0, rows,
                 cols):  # pragma: no cover - compiled
    """Local downstream indices of a tile's core (see the module) from ``idxs_ds`` of its
    outer window; the core starts at (``core_r0``, ``core_c0``) of the outer window and
    at global (``row0``, ``col0``). Returns (down, number of cells that do not drain to a
    D8 neighbour inside the ``rows`` x ``cols`` grid)."""
    down = np.empty(rows_in * cols_in, np.int64)
    bad = 0
    for r in range(rows_in):
        for c in range(cols_in):
            i = r * cols_in + c
            target = np.int64(idxs_ds[core_r0 + r, core_c0 + c])
            if target < 0:
                down[i] = NODATA
                continue
            tr, tc = target // cols, target % cols
            if target >= rows * cols or abs(tr - row0 - r) > 1 or abs(tc - col0 - c) > 1:
                bad += 1
            local = _local(target, cols, row0, col0, rows_in, cols_in)
            down[i] = local if local >= 0 else -2 - target
    return down, bad


@njit(cache=True, nogil=True)
def entry_cells(idxs_ds, core_r0, core_c0, rows_in, cols_in, row0, col0,
                cols):  # pragma: no cover - compiled
    """Local indices (ascending) of the core cells into which a cell of the outer
    window's ring drains: the cells where flow enters the tile."""
    entry = np.zeros(rows_in * cols_in, np.bool_)
    outer_rows, outer_cols = idxs_ds.shape
    for r in range(outer_rows):
        for c in range(outer_cols):
            if core_r0 <= r < core_r0 + rows_in and core_c0 <= c < core_c0 + cols_in:
                continue
            target = np.int64(idxs_ds[r, c])
            if target >= 0:
                local = _local(target, cols, row0, col0, rows_in, cols_in)
                if local >= 0:
                    entry[local] = True
    return np.flatnonzero(entry)


@njit(cache=True, nogil=True)
def upstream_first(down, indegree):  # pragma: no cover - compiled
    """Topological order of the cells that are not nodata, every cell before the cell it
    drains to (Kahn's algorithm on in-degrees counted in ``indegree``, zeros of a dtype
    wide enough). Shorter than the number of such cells when ``down`` holds a loop."""
    valid = 0
    for i in range(down.size):
        d = down[i]
        valid += d != NODATA
        if d >= 0 and d != i:
            indegree[d] += 1
    order = np.empty(valid, np.int64)
    head = 0
    for i in range(down.size):
        if down[i] != NODATA and indegree[i] == 0:
            order[head] = i
            head += 1
    done = 0
    while done < head:
        i = order[done]
        done += 1
        d = down[i]
        if d >= 0 and d != i:
            indegree[d] -= 1
            if indegree[d] == 0:
                order[head] = d
                head += 1
    return order[:head]


@njit(cache=True, nogil=True)
def accumulate(order, down, values):  # pragma: no cover - compiled
    """Add each cell's value to the cell it drains to, upstream first, in place."""
    for i in order:
        d = down[i]
        if d >= 0 and d != i:
            values[d] += values[i]


@njit(cache=True, nogil=True)
def first_met(order, down, seeds):  # pragma: no cover - compiled
    """Where each cell's path within the tile ends: the local index of the first cell
    of ``seeds`` on it (itself included); -1 at an outlet without a seed (and on
    nodata); ``-2 - exit`` when it leaves the tile through exit cell ``exit`` (local)
    without meeting a seed."""
    met = np.full(down.size, -1, np.int64)
    for j in range(order.size - 1, -1, -1):  # downstream first
        i = order[j]
        d = down[i]
        if seeds[i]:
            met[i] = i
        elif d < NODATA:
            met[i] = -2 - i
        elif d != i:
            met[i] = met[d]
    return met


@njit(cache=True, nogil=True)
def chain_ends(order, down):  # pragma: no cover - compiled
    """For each node, the node its chain of ``down`` ends at (a node draining to itself)."""
    ends = np.arange(down.size)
    for j in range(order.size - 1, -1, -1):  # downstream first
        i = order[j]
        ends[i] = ends[down[i]]
    return ends
