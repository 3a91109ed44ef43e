"""Delineation by windows with halos: identical to the whole-grid path, in process and on
dask.distributed.

How identical: MRVBF and the class raster are compared cell for cell (``array_equal``,
no tolerance); the deposit polygons of the birim run are compared by total area per
class, which then differs only by float rounding of polygon areas (< 1 m²).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from footprint import terrain
from footprint.pipeline.windows import dask_map
from footprint.terrain import tiles

RES_M = 90.0


def rough_terrain(rows: int = 520, cols: int = 470, seed: int = 3) -> np.ndarray:
    """Smoothed noise at several scales over a regional tilt: valleys, flats and ridges."""
    rng = np.random.default_rng(seed)
    z = np.zeros((rows, cols), dtype=np.float64)
    for sigma, amplitude in ((40, 120.0), (12, 30.0), (3, 6.0)):
        noise = ndimage.gaussian_filter(rng.standard_normal((rows, cols)), sigma)
        z += amplitude * noise / noise.std()
    z += np.linspace(0, 80, rows)[:, None]
    return np.round(z).astype(np.float32)  # whole metres, as SRTM: many ties and flats


def whole_grid(z: np.ndarray, params: terrain.MrvbfParameters):
    routing = terrain.route_flow(z, RES_M)
    streams = terrain.extract_streams(routing.upstream_area_km2, 2.0)
    hand = terrain.height_above_drainage(routing, streams)
    mask = ~np.isnan(z)
    mask[:, :40] = False  # an AOI edge that crosses windows
    index = terrain.mrvbf(z, RES_M, params)
    classes = terrain.classify_valley_bottoms(index, hand, np.zeros_like(streams), mask=mask)
    return hand, mask, index, classes


@pytest.mark.parametrize("max_steps", [4, 5])
def test_windows_with_halos_equal_the_whole_grid_cell_for_cell(max_steps):
    z = rough_terrain()
    params = terrain.MrvbfParameters(max_steps=max_steps)
    hand, mask, index, classes = whole_grid(z, params)
    levels = terrain.mrvbf.__globals__["mrvbf_levels"](z.shape, params)
    assert levels == max_steps  # the grid is large enough for every step
    windows = tiles.plan_windows(z.shape, 100, tiles.mrvbf_halo_cells(params, levels),
                                 tiles.window_alignment(levels))
    assert len(windows) > 4  # really split
    index_w, classes_w = terrain.classify_by_windows(z, hand, mask, RES_M, window_cells=100,
                                                     mrvbf_params=params)
    assert np.array_equal(index_w, index, equal_nan=True)
    assert np.array_equal(classes_w, classes)
    assert classes.any()


def test_a_halo_too_small_changes_the_answer():
    """The halo is needed: without it the seams differ (so the test above can fail)."""
    z = rough_terrain()
    params = terrain.MrvbfParameters(max_steps=4)
    index = terrain.mrvbf(z, RES_M, params)
    core = (slice(0, 162), slice(0, 162))
    cut = terrain.mrvbf(z[:170, :170], RES_M, params, n_levels=4)[core]
    assert not np.array_equal(cut, index[core])


def test_core_windows_cover_the_grid_once_and_are_aligned():
    windows = tiles.plan_windows((1000, 730), 250, 81, align=27)
    cover = np.zeros((1000, 730), dtype=int)
    for window in windows:
        cover[window.core] += 1
        assert window.core[0].start % 27 == 0 and window.core[1].start % 27 == 0
        assert window.outer[0].start % 27 == 0 and window.outer[1].start % 27 == 0
        inner = window.core_in_outer
        assert inner[0].stop - inner[0].start == window.core[0].stop - window.core[0].start
    assert (cover == 1).all()


def test_nodata_inside_the_grid_stays_nodata_and_away_from_it_nothing_changes():
    z = rough_terrain()
    z[200:260, 150:230] = np.nan  # a hole of no data (e.g. outside an uploaded DEM)
    params = terrain.MrvbfParameters(max_steps=4)
    index = terrain.mrvbf(z, RES_M, params)
    hand = np.zeros_like(z)
    mask = ~np.isnan(z)
    index_w, _ = terrain.classify_by_windows(z, hand, mask, RES_M, window_cells=100,
                                             mrvbf_params=params)
    assert np.array_equal(np.isnan(index_w), np.isnan(index))
    differ = ~np.isclose(index_w, index, equal_nan=True, rtol=0, atol=0)
    assert differ.sum() <= 0.001 * z.size  # at most a few cells next to the hole


def test_windows_run_on_dask_distributed_and_give_the_same_answer():
    distributed = pytest.importorskip("distributed")
    z = rough_terrain(400, 380)
    params = terrain.MrvbfParameters(max_steps=4)
    hand, mask, index, classes = whole_grid(z, params)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        index_w, classes_w = terrain.classify_by_windows(
            z, hand, mask, RES_M, window_cells=100, mrvbf_params=params,
            map_windows=dask_map(client))
        ran_on = client.run(lambda: True)
    assert len(ran_on) == 2
    assert np.array_equal(index_w, index, equal_nan=True)
    assert np.array_equal(classes_w, classes)


@pytest.mark.slow
def test_birim_by_windows_matches_the_whole_grid():
    from footprint.pipeline.delineate import (
        DelineationParameters,
        TerrainParameters,
        delineate_field,
    )
    from footprint.settings import get_settings

    if not (get_settings().data_dir / "dem" / "srtm3" / "N06W001.hgt").is_file():
        pytest.skip("SRTM3 tiles not in the data directory")
    whole = delineate_field("gh-birim", None)
    one_tile = delineate_field("gh-birim", None, parameters=DelineationParameters(
        terrain=TerrainParameters(window_cells=100_000)))
    tiled = delineate_field("gh-birim", None, parameters=DelineationParameters(
        terrain=TerrainParameters(window_cells=300)))
    assert tiled.summary["grid"]["window_cells"] == 300 and tiled.summary["routing"] == "tiles"
    # by tiles of 300 cells (3 x 3 tiles) = in one tile, cell for cell: seams change nothing
    for name in ("mrvbf", "classes", "hand", "streams", "upstream_area_km2"):
        assert np.array_equal(tiled.rasters[name].data, one_tile.rasters[name].data,
                              equal_nan=True), name
    for name, row in one_tile.summary["areas_by_class"].items():
        assert abs(tiled.summary["areas_by_class"][name]["area_m2"] - row["area_m2"]) < 1.0
    # against the whole grid's routing (flood order on flats): MRVBF needs only the DEM;
    # the envelope differs by the flat rule only (292.5 against 293.8 km2 on 2026-12-01)
    assert np.array_equal(tiled.rasters["mrvbf"].data, whole.rasters["mrvbf"].data,
                          equal_nan=True)
    assert abs(tiled.summary["total_area_m2"] / whole.summary["total_area_m2"] - 1) < 0.05
