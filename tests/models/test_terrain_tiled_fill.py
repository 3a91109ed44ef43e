"""Filling and D8 directions by tiles: the whole grid's fill bit for bit, directions the
same for every tiling.

References: :func:`footprint.terrain.flood.flood_network` (fill, and the directions of
cells with a lower neighbour) and a brute-force Dijkstra over the whole grid in plain
Python (the directions on flats).
"""

from __future__ import annotations

import heapq
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import ndimage

from footprint.terrain.flood import D8_DC, D8_DR, flood_network
from footprint.terrain.tiled_fill import fill_and_direct

TILINGS = [2, 3, 7, None]


def pitted_terrain(rows: int, cols: int, seed: int) -> np.ndarray:
    """Whole-metre noise over a tilt (pits, flats and ties everywhere), with nodata holes
    and, for odd seeds, a nodata border."""
    rng = np.random.default_rng(seed)
    z = ndimage.gaussian_filter(rng.standard_normal((rows, cols)), 1.5) * 12
    z += rng.normal(0.0, 1.0, (rows, cols)) + np.linspace(0, 6, cols)[None, :]
    z = np.round(z).astype(np.float32)
    z[rng.random((rows, cols)) < 0.03] = np.nan
    if seed % 2:
        z[:, :2] = np.nan
        z[-1, :] = np.nan
    return z


def neighbours(shape, r, c):
    for k in range(8):
        rr, cc = r + int(D8_DR[k]), c + int(D8_DC[k])
        if 0 <= rr < shape[0] and 0 <= cc < shape[1]:
            yield rr, cc, 1.0  # every D8 step of the flat rule costs w(c), diagonals too


def is_outlet(filled, r, c):
    rows, cols = filled.shape
    return (r in (0, rows - 1) or c in (0, cols - 1)
            or any(np.isnan(filled[rr, cc]) for rr, cc, _ in neighbours(filled.shape, r, c)))


def has_lower(filled, r, c):
    return any(filled[rr, cc] < filled[r, c] for rr, cc, _ in neighbours(filled.shape, r, c))


def reference_flat_directions(z: np.ndarray, filled: np.ndarray) -> dict[int, int]:
    """Downstream cell of every flat cell by the documented rule, by one Dijkstra over
    the whole grid (heapq)."""
    rows, cols = filled.shape
    depth = filled.astype(np.float64) - z.astype(np.float64)
    weight = 1.0 / ((1.0 + depth) * (1.0 + depth))
    dist = np.full(filled.shape, np.inf)
    heap = []
    for r in range(rows):
        for c in range(cols):
            if not np.isnan(filled[r, c]) and (has_lower(filled, r, c) or is_outlet(filled, r, c)):
                dist[r, c] = 0.0
                heap.append((0.0, r, c))
    heapq.heapify(heap)
    while heap:
        d, r, c = heapq.heappop(heap)
        if d > dist[r, c]:
            continue
        for rr, cc, step in neighbours(filled.shape, r, c):
            if filled[rr, cc] == filled[r, c] and d + step * weight[rr, cc] < dist[rr, cc]:
                dist[rr, cc] = d + step * weight[rr, cc]
                heapq.heappush(heap, (dist[rr, cc], rr, cc))
    down = {}
    for r in range(rows):
        for c in range(cols):
            if np.isnan(filled[r, c]) or dist[r, c] == 0.0:
                continue
            options = [(dist[rr, cc] + step * weight[r, c], rr * cols + cc)
                       for rr, cc, step in neighbours(filled.shape, r, c)
                       if filled[rr, cc] == filled[r, c]]
            down[r * cols + c] = min(options, key=lambda option: option[0])[1]  # first on ties
    return down


def check_network(z: np.ndarray, filled: np.ndarray, idxs_ds: np.ndarray) -> None:
    """Properties every direction grid must have, against flood_network."""
    ref_filled, ref_ds, _ = flood_network(z)
    rows, cols = z.shape
    flat = idxs_ds.ravel()
    valid = ~np.isnan(ref_filled.ravel())
    assert np.all(flat[~valid] == -1)
    for i in np.flatnonzero(valid):
        r, c = divmod(int(i), cols)
        if has_lower(ref_filled, r, c):
            assert flat[i] == ref_ds[i]
        elif is_outlet(ref_filled, r, c):
            assert flat[i] == i
        else:
            assert flat[i] != i and ref_filled.ravel()[flat[i]] == ref_filled[r, c]
    cells = np.flatnonzero(valid)
    for _ in range(cells.size):  # every path reaches an outlet in fewer than n steps
        cells = cells[flat[cells] != cells]
        cells = flat[cells]
    assert cells.size == 0


@pytest.mark.parametrize(("rows", "cols", "seed"), [(23, 31, 0), (29, 17, 1), (40, 41, 2),
                                                    (15, 44, 3)])
def test_fill_matches_flood_network_and_directions_match_across_tilings(rows, cols, seed):
    z = pitted_terrain(rows, cols, seed)
    ref_filled = flood_network(z)[0]
    assert np.any(ref_filled > z)  # there are depressions to fill
    first = None
    for tile_cells in TILINGS:
        filled, idxs_ds = fill_and_direct(z, tile_cells=tile_cells)
        assert filled.dtype == np.float32 and idxs_ds.dtype == np.int64
        assert np.array_equal(filled, ref_filled, equal_nan=True), tile_cells
        if first is None:
            first = idxs_ds
            check_network(z, filled, idxs_ds)
        assert np.array_equal(idxs_ds, first), tile_cells


@pytest.mark.parametrize("seed", [4, 5])
def test_flat_directions_follow_the_least_cost_rule(seed):
    z = pitted_terrain(21, 26, seed)
    filled, idxs_ds = fill_and_direct(z, tile_cells=4)
    expected = reference_flat_directions(z, np.asarray(filled))
    assert len(expected) > 20  # flats abound
    for cell, down in expected.items():
        assert idxs_ds.ravel()[cell] == down, cell


def test_a_filled_basin_drains_along_its_trench():
    z = np.full((15, 15), 20.0, dtype=np.float32)
    z[1:-1, 1:-1] = 11.0  # the basin floor, filled to the spill at 12 m
    z[7, 0] = 12.0  # the spill, on the grid's edge
    trench = np.zeros(z.shape, dtype=bool)
    trench[3, 1:13] = True  # along the north of the basin ...
    trench[3:8, 1] = True  # ... and down to the spill
    z[trench] = 5.0
    for tile_cells in (3, 4, None):
        filled, idxs_ds = fill_and_direct(z, tile_cells=tile_cells)
        assert np.all(np.asarray(filled)[1:-1, 1:-1] == 12.0)
        cell, path = 3 * 15 + 12, []
        while idxs_ds.ravel()[cell] != cell:
            cell = idxs_ds.ravel()[cell]
            path.append(cell)
        assert path[-1] == 7 * 15  # the spill
        assert all(trench.ravel()[c] for c in path[:-1]), tile_cells


def test_tasks_run_in_threads_and_through_pickle():
    z = pitted_terrain(26, 19, 7)
    filled, idxs_ds = fill_and_direct(z, tile_cells=5)

    def pickled_map(function, tasks):
        function = pickle.loads(pickle.dumps(function))
        return (pickle.loads(pickle.dumps(function(pickle.loads(pickle.dumps(task)))))
                for task in tasks)

    with ThreadPoolExecutor(2) as pool:
        threaded = fill_and_direct(z, tile_cells=5, map_windows=pool.map)
    through_pickle = fill_and_direct(z, tile_cells=5, map_windows=pickled_map)
    for other_filled, other_ds in (threaded, through_pickle):
        assert np.array_equal(other_filled, filled, equal_nan=True)
        assert np.array_equal(other_ds, idxs_ds)


class Windowed:
    """A grid that can only be read and written by windows no larger than a tile and its
    ring (``values`` is the whole array, for the test to check afterwards)."""

    def __init__(self, values: np.ndarray, most_cells: int) -> None:
        self.values, self.most_cells, self.shape = values, most_cells, values.shape

    def __getitem__(self, key):
        window = self.values[key]
        assert window.size <= self.most_cells
        return window

    def __setitem__(self, key, window):
        assert np.size(window) <= self.most_cells
        self.values[key] = window


def test_only_tiles_and_rings_are_read_and_progress_is_reported(tmp_path):
    z = pitted_terrain(30, 33, 9)
    stored = np.memmap(tmp_path / "dem.f32", dtype=np.float32, mode="w+", shape=z.shape)
    stored[:] = z
    messages = []
    filled, idxs_ds = fill_and_direct(
        Windowed(stored, 8 * 8), tile_cells=6,
        new_grid=lambda name, shape, dtype: Windowed(np.zeros(shape, dtype), 8 * 8),
        progress=lambda f, m: messages.append((f, m)))
    whole_filled, whole_ds = fill_and_direct(z)
    assert np.array_equal(filled.values, whole_filled, equal_nan=True)
    assert np.array_equal(idxs_ds.values, whole_ds)
    assert messages[-1][0] == 1.0 and [f for f, _ in messages] == sorted(f for f, _ in messages)


@pytest.mark.slow
def test_a_real_srtm_window_by_tiles_equals_the_whole_grid():
    rasterio = pytest.importorskip("rasterio")
    from footprint.settings import get_settings

    path = get_settings().data_dir / "dem" / "srtm3" / "N06W001.hgt"
    if not path.is_file():
        pytest.skip("SRTM3 tiles not in the data directory")
    with rasterio.open(path) as src:
        z = src.read(1, window=((400, 700), (500, 800))).astype(np.float32)
    z[z == -32768] = np.nan
    ref_filled = flood_network(z)[0]
    whole_filled, whole_ds = fill_and_direct(z)
    assert np.array_equal(whole_filled, ref_filled, equal_nan=True)
    check_network(z, whole_filled, whole_ds)
    for tile_cells in (64, 37):
        filled, idxs_ds = fill_and_direct(z, tile_cells=tile_cells)
        assert np.array_equal(filled, ref_filled, equal_nan=True)
        assert np.array_equal(idxs_ds, whole_ds)
