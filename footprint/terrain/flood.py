"""Depression filling by Priority-Flood, D8 on the filled DEM and upstream cell counts.

Compiled kernels (numba, ``nogil``: another thread, e.g. MRVBF, runs beside them) on
float32 grids; see :func:`footprint.terrain.route_flow`. The network is kept as pyflwdir
keeps it (linear index of each cell's downstream cell, the cell itself at an outlet,
-1 on nodata; and the valid cells ordered from downstream to upstream), in int32 below
2^31 cells.

Memory: the filled DEM (4 bytes a cell), the downstream indices and the order (4 bytes
each below 2^31 cells), the counts of upstream cells (4 bytes, turned into km² in
place); the heap of the open rim (8-byte key, 4-byte cell) and the queue of depression
cells grow as they fill (to a few per cent of the grid on SRTM terrain).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from footprint.errors import InvalidParameterError

# the eight neighbours (row offset, col offset), in pyflwdir's D8 order E, SE, S, ... NE
D8_DR = np.array([0, 1, 1, 1, 0, -1, -1, -1])
D8_DC = np.array([1, 1, 0, -1, -1, -1, 0, 1])
#: downstream index of a nodata cell (pyflwdir's missing value)
NODATA_INDEX = -1
_OPEN = -2  # not reached by the flood yet
_MIN_QUEUE = 1 << 16


def flood_network(elevation_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill every depression and route D8: (filled DEM, downstream index, order).

    Improved Priority-Flood (Barnes, Lehman and Mulla 2014, Computers & Geosciences
    62:117, algorithm 2): cells are flooded from the outlets (grid edge, cells next to
    nodata) in order of rising elevation, first-in first-out among equal elevations (so
    a flat reached from several outlets at once, a coastal plain or a flat along the grid
    edge, is shared among them). A neighbour lower than the cell it is reached from lies
    in a depression: it is raised to that level and queued apart, and the depression is
    explored from its spill point in order of its *original* elevation, as GRASS
    ``r.watershed``'s least-cost (A*) search does (Metz, Mitasova and Harmon 2011, HESS
    15:667), so the drainage across a filled depression follows its low ground instead
    of the shortest way to the spill point. Every cell first gets the cell it was
    flooded from as downstream cell (outlets themselves); then each cell with a strictly
    lower neighbour on the filled DEM drains to its steepest-descent neighbour (drop /
    distance, diagonals at √2; O'Callaghan and Mark 1984, as ``r.watershed -s``).

    Parameters
    ----------
    elevation_m : (rows, cols) float array (m), NaN = nodata.

    Returns
    -------
    filled : float32 DEM, depressions filled, NaN on nodata (a new array).
    idxs_ds : flat downstream index of each cell (itself at outlets, -1 on nodata).
    seq : flat indices of the valid cells in flood order, which runs from downstream to
        upstream (a cell's downstream cell always comes before it).
    """
    filled = np.array(elevation_m, dtype=np.float32, order="C", copy=True)
    if filled.ndim != 2:
        raise InvalidParameterError(f"a DEM must be two-dimensional, got shape {filled.shape}")
    if filled.size >= 2**32:  # the flood order is packed in 32 bits of the heap key
        raise InvalidParameterError(f"{filled.size:,} cells are too many to route at once",
                                    hint="delineate by windows or basins")
    index_type = np.int32 if filled.size < 2**31 - 1 else np.int64
    idxs_ds = np.full(filled.size, _OPEN, dtype=index_type)
    seq = np.empty(filled.size, dtype=index_type)
    flat = filled.ravel()
    n_valid = _flood(flat, flat.view(np.uint32), filled.shape[0], filled.shape[1], idxs_ds, seq)
    _steepest_descent(filled, idxs_ds)
    return filled, idxs_ds, seq[:n_valid]


def upstream_cells(idxs_ds: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Number of cells draining through each cell, itself included (0 on nodata), int32
    below 2^31 cells, by one pass from upstream to downstream along ``seq``."""
    counts = np.zeros(idxs_ds.size, dtype=idxs_ds.dtype)
    _accumulate(seq, idxs_ds, counts)
    return counts


def pit_indices(idxs_ds: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Flat indices of the outlets (cells that drain to themselves)."""
    return _pits(seq, idxs_ds)


@njit(cache=True, inline="always")
def _sortable(bits):  # pragma: no cover - compiled
    """float32 bit pattern as a uint64 whose order is the float's order."""
    value = np.uint64(bits)
    if value & np.uint64(0x80000000):
        return np.uint64(0xFFFFFFFF) - value
    return value | np.uint64(0x80000000)


@njit(cache=True, nogil=True)
def _room(keys, cells, size, more):  # pragma: no cover - compiled
    """The heap's arrays, doubled when ``more`` entries would not fit."""
    if size + more <= keys.size:
        return keys, cells
    grown = max(2 * keys.size, size + more)
    new_keys, new_cells = np.empty(grown, keys.dtype), np.empty(grown, cells.dtype)
    new_keys[:size], new_cells[:size] = keys[:size], cells[:size]
    return new_keys, new_cells


@njit(cache=True, nogil=True, inline="always")
def _push(keys, cells, size, key, cell):  # pragma: no cover - compiled
    """Push on a binary min-heap of (key, cell) with room for it; returns the size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if keys[parent] <= key:
            break
        keys[pos], cells[pos] = keys[parent], cells[parent]
        pos = parent
    keys[pos], cells[pos] = key, cell
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _pop(keys, cells, size):  # pragma: no cover - compiled
    top = cells[0]
    size -= 1
    key, cell = keys[size], cells[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if key <= keys[child]:
            break
        keys[pos], cells[pos] = keys[child], cells[child]
        pos = child
    keys[pos], cells[pos] = key, cell
    return top, size


@njit(cache=True, nogil=True)
def _is_outlet(flat, idx, rows, cols):  # pragma: no cover - compiled
    r, c = idx // cols, idx % cols
    if r == 0 or c == 0 or r == rows - 1 or c == cols - 1:
        return True
    for k in range(8):
        if np.isnan(flat[(r + D8_DR[k]) * cols + c + D8_DC[k]]):
            return True
    return False


@njit(cache=True, nogil=True)
def _flood(flat, bits, rows, cols, idxs_ds, seq):  # pragma: no cover - compiled
    """Priority-Flood of ``flat`` in place; fills ``idxs_ds`` (flood parents) and
    ``seq`` (processing order); returns the number of valid cells."""
    keys, cells, size, counter = _seed_outlets(flat, bits, rows, cols, idxs_ds)
    pit_keys, pit_cells = np.empty(_MIN_QUEUE, np.uint64), np.empty(_MIN_QUEUE, idxs_ds.dtype)
    pit_size, done = 0, 0
    while size > 0 or pit_size > 0:
        if pit_size > 0:  # a depression is explored to its end before the rim moves on
            idx, pit_size = _pop(pit_keys, pit_cells, pit_size)
        else:
            idx, size = _pop(keys, cells, size)
        seq[done] = idx
        done += 1
        if size + 8 > keys.size:
            keys, cells = _room(keys, cells, size, 8)
        if pit_size + 8 > pit_keys.size:
            pit_keys, pit_cells = _room(pit_keys, pit_cells, pit_size, 8)
        size, pit_size, counter = _open_neighbours(flat, bits, rows, cols, idxs_ds, idx, keys,
                                                   cells, size, pit_keys, pit_cells, pit_size,
                                                   counter)
    return done


@njit(cache=True, nogil=True)
def _seed_outlets(flat, bits, rows, cols, idxs_ds):  # pragma: no cover - compiled
    """Mark nodata; put the outlets (edge cells, cells next to nodata) on a new heap."""
    n = rows * cols
    for idx in range(n):
        if np.isnan(flat[idx]):
            idxs_ds[idx] = NODATA_INDEX
    keys, cells = np.empty(_MIN_QUEUE, np.uint64), np.empty(_MIN_QUEUE, idxs_ds.dtype)
    size = 0
    for idx in range(n):
        if idxs_ds[idx] == _OPEN and _is_outlet(flat, idx, rows, cols):
            idxs_ds[idx] = idx
            if size == keys.size:
                keys, cells = _room(keys, cells, size, 1)
            size = _push(keys, cells, size, _key(bits[idx], size), idx)
    return keys, cells, size, size


@njit(cache=True, inline="always")
def _key(bits, counter):  # pragma: no cover - compiled
    """Heap key: the elevation's order in the high 32 bits, the push order below."""
    return (_sortable(bits) << np.uint64(32)) | np.uint64(counter)


@njit(cache=True, nogil=True)
def _open_neighbours(flat, bits, rows, cols, idxs_ds, idx, keys, cells, size, pit_keys,
                     pit_cells, pit_size, counter):  # pragma: no cover - compiled
    """Flood the open neighbours of ``idx`` from it: those below its level are raised and
    go to the depression heap (keyed by their original height), the others to the rim."""
    level = flat[idx]
    r, c = idx // cols, idx % cols
    for k in range(8):
        rr, cc = r + D8_DR[k], c + D8_DC[k]
        if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
            continue
        nb = rr * cols + cc
        if idxs_ds[nb] != _OPEN:
            continue
        idxs_ds[nb] = idx
        key = _key(bits[nb], counter)  # taken before raising: depressions go by original height
        counter += 1
        if flat[nb] < level:
            flat[nb] = level
            pit_size = _push(pit_keys, pit_cells, pit_size, key, nb)
        else:
            size = _push(keys, cells, size, key, nb)
    return size, pit_size, counter


@njit(cache=True, nogil=True)
def _steepest_descent(filled, idxs_ds):  # pragma: no cover - compiled
    """Each cell with a strictly lower neighbour drains to the steepest one."""
    rows, cols = filled.shape
    for r in range(rows):
        for c in range(cols):
            z = filled[r, c]
            if np.isnan(z):
                continue
            best, best_nb = np.float32(0.0), -1
            for k in range(8):
                rr, cc = r + D8_DR[k], c + D8_DC[k]
                if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                    continue
                drop = z - filled[rr, cc]  # NaN (nodata) never compares greater
                if D8_DR[k] != 0 and D8_DC[k] != 0:
                    drop = drop / np.float32(1.4142135623730951)
                if drop > best:
                    best, best_nb = drop, rr * cols + cc
            if best_nb >= 0:
                idxs_ds[r * cols + c] = best_nb


@njit(cache=True, nogil=True)
def _accumulate(seq, idxs_ds, counts):  # pragma: no cover - compiled
    for i in range(seq.size - 1, -1, -1):  # upstream first
        cell = seq[i]
        counts[cell] += 1
        down = idxs_ds[cell]
        if down != cell:
            counts[down] += counts[cell]


@njit(cache=True, nogil=True)
def _pits(seq, idxs_ds):  # pragma: no cover - compiled
    count = 0
    for cell in seq:
        count += idxs_ds[cell] == cell
    out = np.empty(count, dtype=seq.dtype)
    j = 0
    for cell in seq:
        if idxs_ds[cell] == cell:
            out[j] = cell
            j += 1
    return out
