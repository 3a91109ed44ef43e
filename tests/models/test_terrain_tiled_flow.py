"""Flow accumulation and first downstream seed by tiles equal the whole-grid kernels.

References, independent of the tiled code: ``flood.upstream_cells`` along the flood order
(counts), a brute-force walk down every cell's D8 path (first seeds),
``routing.height_above_drainage`` and ``placers.drains_to`` on the in-memory routing.

HAND tolerance: none. ``routing.height_above_drainage`` carries the first stream cell's
filled elevation up each path and subtracts once in float32 (``max(z - z_stream, 0)``),
and so does HAND from the tiled carry (``filled - carry``); the filled DEM never rises
down a D8 path, so the clamp at 0 never acts and the two are the same float32 operation
on the same operands, on whole-metre heights (SRTM) and on fractional ones alike. (Before
main's c4ecff8 the in-memory HAND summed the drops step by step, two roundings a step:
equal on whole metres, where every float32 operation is exact, and within (steps + 1)
ulps of the largest elevation on fractional heights.)
"""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import ndimage

from footprint.errors import InvalidParameterError
from footprint.terrain import flood, placers, routing, tiled_flow

RES_M = 90.0
TILINGS = (2, 3, 7, None)


def random_dem(shape: tuple[int, int], seed: int, whole_metres: bool = True) -> np.ndarray:
    """Smoothed noise over a tilt, with pits, nodata holes and a ragged nodata border."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    z = 40.0 * ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    z += np.linspace(0.0, 15.0, rows)[:, None] + 300.0
    pits = rng.random(shape) < 0.03
    z[pits] -= 25.0
    holes = ndimage.binary_dilation(rng.random(shape) < 0.01)
    z[holes] = np.nan
    z[0, : cols // 3] = np.nan  # part of the border is nodata, part is the grid edge
    z[:, -1][rng.random(rows) < 0.5] = np.nan
    return (np.round(z) if whole_metres else z).astype(np.float32)


def network(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(filled DEM, downstream indices as a (rows, cols) grid, flood order)."""
    filled, idxs_ds, seq = flood.flood_network(z)
    return filled, idxs_ds.reshape(z.shape), seq


def walk(idxs_ds: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Brute force: step every cell down its path until a seed or an outlet; returns the
    first seed met (-1 for none)."""
    down = idxs_ds.ravel().astype(np.int64)
    seeds = seeds.ravel()
    cell = np.arange(down.size)
    first = np.full(down.size, -1)
    active = np.flatnonzero(down >= 0)
    while active.size:
        here = cell[active]
        met = seeds[here]
        first[active[met]] = here[met]
        going = ~met & (down[here] != here)
        active = active[going]
        cell[active] = down[here[going]]
    return first.reshape(idxs_ds.shape)


SHAPES = ((23, 31), (40, 17))


@pytest.mark.parametrize("tile_cells", TILINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_counts_equal_the_whole_grid_accumulation(shape, tile_cells):
    for seed in (0, 1):
        _, idxs_ds, seq = network(random_dem(shape, seed))
        expected = flood.upstream_cells(idxs_ds.ravel(), seq).reshape(shape)
        for idxs in (idxs_ds, idxs_ds.astype(np.int64)):
            counts = tiled_flow.upstream_counts(idxs, tile_cells=tile_cells)
            assert counts.dtype == np.int64
            assert np.array_equal(counts, expected)


@pytest.mark.parametrize("tile_cells", TILINGS)
def test_first_downstream_equals_a_walk_down_each_path(tile_cells):
    rng = np.random.default_rng(5)
    filled, idxs_ds, seq = network(random_dem((37, 26), 2))
    counts = flood.upstream_cells(idxs_ds.ravel(), seq).reshape(filled.shape)
    carry = rng.random(filled.shape)
    for seeds in (rng.random(filled.shape) < 0.04, counts >= 12, np.zeros(filled.shape, bool)):
        expected = walk(idxs_ds, seeds)
        index, carried = tiled_flow.first_downstream(idxs_ds, seeds, carry=carry,
                                                     tile_cells=tile_cells)
        assert np.array_equal(index, expected)
        found = expected >= 0
        assert np.array_equal(carried[found], carry.ravel()[expected[found]].astype(np.float32))
        assert np.isnan(carried[~found]).all()
        index_only, none = tiled_flow.first_downstream(idxs_ds, seeds, tile_cells=tile_cells)
        assert none is None and np.array_equal(index_only, expected)


def tiled_hand(idxs_ds, filled, streams, tile_cells):
    _, carried = tiled_flow.first_downstream(idxs_ds, streams, carry=filled,
                                             tile_cells=tile_cells)
    return filled - carried


@pytest.mark.parametrize("tile_cells", (3, 7))
def test_hand_and_drains_to_equal_the_in_memory_routing(tile_cells):
    rng = np.random.default_rng(8)
    z = random_dem((41, 35), 3)
    flow = routing.route_flow(z, RES_M)
    idxs_ds = flow.idxs_ds.reshape(z.shape)
    streams = np.asarray(tiled_flow.upstream_counts(idxs_ds, tile_cells=tile_cells)) >= 15
    expected = routing.height_above_drainage(flow, streams)
    hand = tiled_hand(idxs_ds, flow.conditioned_m, streams, tile_cells)
    assert np.array_equal(hand, expected, equal_nan=True)
    targets = rng.random(z.shape) < 0.5
    _, carried = tiled_flow.first_downstream(idxs_ds, streams, carry=targets.astype(np.float32),
                                             tile_cells=tile_cells)
    assert np.array_equal(carried == 1, placers.drains_to(flow, streams, targets))


def test_hand_on_fractional_heights_is_the_same_float32_difference():
    z = random_dem((41, 35), 4, whole_metres=False)
    flow = routing.route_flow(z, RES_M)
    idxs_ds = flow.idxs_ds.reshape(z.shape)
    streams = np.asarray(tiled_flow.upstream_counts(idxs_ds, tile_cells=5)) >= 15
    expected = routing.height_above_drainage(flow, streams)
    hand = tiled_hand(idxs_ds, flow.conditioned_m, streams, 5)
    assert np.array_equal(hand, expected, equal_nan=True)


def test_tasks_run_on_threads_and_survive_a_pickle_round_trip():
    filled, idxs_ds, seq = network(random_dem((30, 33), 6))
    expected = flood.upstream_cells(idxs_ds.ravel(), seq).reshape(filled.shape)
    seeds = expected >= 10
    first = walk(idxs_ds, seeds)

    def pickled_map(function, tasks):
        for task in tasks:
            yield pickle.loads(pickle.dumps(function(pickle.loads(pickle.dumps(task)))))

    with ThreadPoolExecutor(max_workers=2) as pool:
        for map_windows in (pool.map, pickled_map):
            counts = tiled_flow.upstream_counts(idxs_ds, tile_cells=4, map_windows=map_windows)
            assert np.array_equal(counts, expected)
            index, carried = tiled_flow.first_downstream(idxs_ds, seeds, carry=filled,
                                                         tile_cells=4, map_windows=map_windows)
            assert np.array_equal(index, first)
            assert np.array_equal(carried, np.where(first >= 0, filled.ravel()[first], np.nan),
                                  equal_nan=True)


def test_tiles_run_on_dask_distributed():
    distributed = pytest.importorskip("distributed")
    from footprint.pipeline.windows import dask_map

    filled, idxs_ds, seq = network(random_dem((30, 33), 10))
    expected = flood.upstream_cells(idxs_ds.ravel(), seq).reshape(filled.shape)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        counts = tiled_flow.upstream_counts(idxs_ds, tile_cells=8, map_windows=dask_map(client))
        index, _ = tiled_flow.first_downstream(idxs_ds, expected >= 10, tile_cells=8,
                                               map_windows=dask_map(client))
    assert np.array_equal(counts, expected)
    assert np.array_equal(index, walk(idxs_ds, expected >= 10))


class TileReads:
    """An array that refuses reads larger than a tile with its ring, and counts them."""

    def __init__(self, values: np.ndarray, tile_cells: int):
        self.values, self.shape, self.limit = values, values.shape, (tile_cells + 2) ** 2
        self.reads = 0

    def __getitem__(self, key):
        block = self.values[key]
        assert block.size <= self.limit
        self.reads += 1
        return block


def test_inputs_are_read_by_tiles_and_results_written_to_the_grids_made(tmp_path):
    filled, idxs_ds, seq = network(random_dem((29, 24), 7))
    expected = flood.upstream_cells(idxs_ds.ravel(), seq).reshape(filled.shape)
    on_disk = np.memmap(tmp_path / "idxs", dtype=idxs_ds.dtype, mode="w+", shape=idxs_ds.shape)
    on_disk[:] = idxs_ds
    made, calls = {}, []

    def disk_grids(name, shape, dtype):
        made[name] = np.memmap(tmp_path / name, dtype=dtype, mode="w+", shape=shape)
        return made[name]

    reads = TileReads(on_disk, 6)
    counts = tiled_flow.upstream_counts(reads, tile_cells=6, new_grid=disk_grids,
                                        progress=lambda *call: calls.append(call))
    assert counts is made["upstream_counts"] and np.array_equal(counts, expected)
    assert reads.reads == 2 * 20  # 5 x 4 tiles, read once in each pass
    assert calls[-1] == ("accumulation: tiles", 20, 20) and len(calls) == 40
    seeds = TileReads(expected >= 8, 6)
    index, carried = tiled_flow.first_downstream(reads, seeds, carry=TileReads(filled, 6),
                                                 tile_cells=6, new_grid=disk_grids)
    assert index is made["first_downstream"] and carried is made["first_downstream_carry"]
    assert np.array_equal(index, walk(idxs_ds, expected >= 8))


def test_loops_and_non_d8_steps_are_refused():
    idxs_ds = np.arange(16, dtype=np.int32).reshape(4, 4)  # every cell an outlet
    looped_in_tile = idxs_ds.copy()
    looped_in_tile[0, 0], looped_in_tile[0, 1] = 1, 0
    looped_across = idxs_ds.copy()
    looped_across[0, 1], looped_across[0, 2] = 2, 1  # tiles of 2 cells: two tiles
    jump = idxs_ds.copy()
    jump[0, 0] = 15
    for bad in (looped_in_tile, looped_across, jump):
        with pytest.raises(InvalidParameterError):
            tiled_flow.upstream_counts(bad, tile_cells=2)
        with pytest.raises(InvalidParameterError):
            tiled_flow.first_downstream(bad, np.zeros((4, 4), bool), tile_cells=2)
    assert np.array_equal(tiled_flow.upstream_counts(idxs_ds, tile_cells=2), np.ones((4, 4)))


@pytest.fixture(scope="module")
def srtm_window() -> np.ndarray:
    """300 x 300 cells of the SRTM3 tile N06W001 (Birim), whole metres, voids as NaN."""
    rasterio = pytest.importorskip("rasterio")
    from footprint.settings import get_settings

    path = get_settings().data_dir / "dem" / "srtm3" / "N06W001.hgt"
    if not path.is_file():
        pytest.skip("SRTM3 tiles not in the data directory")
    with rasterio.open(path) as src:
        z = src.read(1, window=((400, 700), (300, 600))).astype(np.float32)
    z[z <= -32768] = np.nan
    return z


@pytest.mark.slow
def test_real_srtm_window(srtm_window):
    flow = routing.route_flow(srtm_window, RES_M)
    idxs_ds = flow.idxs_ds.reshape(srtm_window.shape)
    expected = flood.upstream_cells(flow.idxs_ds, flow.flwdir.idxs_seq)
    for tile_cells in (7, 64, None):
        counts = tiled_flow.upstream_counts(idxs_ds, tile_cells=tile_cells)
        assert np.array_equal(counts.ravel(), expected)
    streams = counts >= 60
    hand = tiled_hand(idxs_ds, flow.conditioned_m, streams, 64)
    assert np.array_equal(hand, routing.height_above_drainage(flow, streams), equal_nan=True)
    seeds = np.random.default_rng(9).random(srtm_window.shape) < 0.001
    index, _ = tiled_flow.first_downstream(idxs_ds, seeds, tile_cells=7)
    assert np.array_equal(index, walk(idxs_ds, seeds))
