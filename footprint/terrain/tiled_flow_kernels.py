"""Compiled kernels of :mod:`footprint.terrain.tiled_flow`: one tile's network and orders.

A tile's network is held in tile-local flat indices (``row * tile_cols + col`` of the
tile's core; int32 below 2^31 cells a tile): ``down[i]`` is the local index of the cell
``i`` drains to, ``i`` itself at an outlet, :data:`NODATA` on nodata and :data:`EXIT` at
an *exit cell*, whose downstream cell lies outside the tile. The same encoding, with
nodes that drain to themselves as terminals, serves the driver's graph of exit cells.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: ``down`` of a nodata cell
NODATA = -1
#: ``down`` of an exit cell
EXIT = -2


@njit(cache=True, nogil=True, inline="always")
def _local(target, cols, row0, col0, rows_in, cols_in):  # pragma: no cover - compiled
    """Tile-local index of global flat index ``target``; -1 when it is outside the tile."""
    r, c = target // cols - row0, target % cols - col0
    if r < 0 or r >= rows_in or c < 0 or c >= cols_in:
        return -1
    return r * cols_in + c


@njit(cache=True, nogil=True)
def tile_network(idxs_ds, core_r0, core_c0, row0, col0, rows, cols,
                 down):  # pragma: no cover - compiled
    """Fill ``down`` (see the module; its size is the tile's, ``(rows_in, cols_in)``
    cells) from ``idxs_ds`` of the tile's outer window; the core starts at
    (``core_r0``, ``core_c0``) of the outer window and at global (``row0``, ``col0``).
    Returns the number of cells that do not drain to a D8 neighbour inside the ``rows``
    x ``cols`` grid."""
    rows_in, cols_in = down.shape
    bad = 0
    for r in range(rows_in):
        for c in range(cols_in):
            target = np.int64(idxs_ds[core_r0 + r, core_c0 + c])
            if target < 0:
                down[r, c] = NODATA
                continue
            tr, tc = target // cols, target % cols
            if target >= rows * cols or abs(tr - row0 - r) > 1 or abs(tc - col0 - c) > 1:
                bad += 1
            local = _local(target, cols, row0, col0, rows_in, cols_in)
            down[r, c] = local if local >= 0 else EXIT
    return bad


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
    """Topological order of the nodes that are not nodata, every node before the node it
    drains to, of ``down``'s dtype; shorter than the number of such nodes when ``down``
    holds a loop. Kahn's algorithm on in-degrees counted in ``indegree`` (zeros of a
    dtype wide enough), its nodes of in-degree 0 taken depth first: from each source, in
    flat order, down its path while the in-degrees fall to 0, which keeps a tile's
    order near the flat order (cache-friendly) instead of jumping across it."""
    valid = 0
    for i in range(down.size):
        d = down[i]
        valid += d != NODATA
        if d >= 0 and d != i:
            indegree[d] += 1
    order = np.empty(valid, down.dtype)
    head = 0
    for i in range(down.size):
        if down[i] == NODATA or indegree[i] != 0:
            continue
        cell = i
        while True:
            order[head] = cell
            head += 1
            d = down[cell]
            if d < 0 or d == cell:
                break
            indegree[d] -= 1
            if indegree[d] != 0:
                break
            indegree[d] = 1  # taken here: not a source for the flat scan
            cell = d
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
    of ``seeds`` on it (itself included; ``seeds`` empty: none); -1 at an outlet without
    a seed (and on nodata); ``-2 - exit`` when it leaves the tile through exit cell
    ``exit`` (local) without meeting a seed."""
    met = np.full(down.size, -1, down.dtype)
    for j in range(order.size - 1, -1, -1):  # downstream first
        i = order[j]
        d = down[i]
        if seeds.size and seeds[i]:
            met[i] = i
        elif d == EXIT:
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
