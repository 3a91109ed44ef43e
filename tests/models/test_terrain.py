"""Terrain models on small synthetic DEMs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from footprint import terrain
from footprint.errors import InvalidParameterError
from footprint.terrain import DepositClass

RES_M = 90.0


def v_valley(rows: int = 160, cols: int = 140, floor_half_width_m: float = 900.0,
             side_slope: float = 0.15, down_valley_slope: float = 0.002):
    """A straight valley running north to south: flat floor, planar sides."""
    x = (np.arange(cols) - cols / 2 + 0.5) * RES_M
    y = np.arange(rows) * RES_M
    xx, yy = np.meshgrid(x, y)
    z = 200.0 + side_slope * np.maximum(np.abs(xx) - floor_half_width_m, 0) \
        + down_valley_slope * (rows * RES_M - yy)
    return z.astype(np.float32), xx


def funnel(rows: int = 6, cols: int = 5) -> np.ndarray:
    """Sides fall 10 m per cell to the centre column, which falls 2 m per cell south."""
    r, c = np.mgrid[0:rows, 0:cols]
    return (100.0 + 10.0 * np.abs(c - cols // 2) + 2.0 * (rows - 1 - r)).astype(np.float32)


# --------------------------------------------------------------------------- MRVBF


def test_mrvbf_finds_the_flat_floor_of_a_v_valley_and_not_its_slopes():
    z, xx = v_valley()
    index = terrain.mrvbf(z, RES_M)
    interior = np.zeros(z.shape, bool)
    interior[10:-10, :] = True  # away from the grid's north and south edges
    floor = interior & (np.abs(xx) < 900.0 - RES_M)
    slopes = interior & (np.abs(xx) > 900.0 + 3 * RES_M)
    assert floor.sum() > 500 and slopes.sum() > 5000
    assert (index[floor] >= 0.5).all(), "every floor cell is valley bottom"
    assert (index[slopes] < 0.5).all(), "no slope cell is valley bottom"
    assert np.median(index[floor]) > 1.5  # flat at coarser scales too


def test_tilted_plane_has_no_valley_bottom():
    rows, cols = 120, 120
    yy, xx = np.mgrid[0:rows, 0:cols] * RES_M
    plane = (500.0 - 0.05 * xx - 0.03 * yy).astype(np.float32)
    index = terrain.mrvbf(plane, RES_M)
    interior = index[8:-8, 8:-8]  # the percentile window is cut at the grid's edges
    assert np.nanmax(interior) < 0.5


def test_mrvbf_keeps_nodata():
    z, _ = v_valley(rows=60, cols=60)
    z[:5, :5] = np.nan
    index = terrain.mrvbf(z, RES_M)
    assert np.isnan(index[:5, :5]).all()
    assert np.isfinite(index[10:, 10:]).all()


def test_initial_slope_threshold_halves_per_threefold_coarsening():
    params = terrain.MrvbfParameters()
    assert params.initial_slope_threshold_pct(25.0) == pytest.approx(16.0)
    assert params.initial_slope_threshold_pct(75.0) == pytest.approx(8.0)
    assert 6.5 < params.initial_slope_threshold_pct(90.0) < 7.5
    fixed = terrain.MrvbfParameters(adjust_for_resolution=False)
    assert fixed.initial_slope_threshold_pct(90.0) == 16.0


def test_elevation_percentile_ranks_the_centre_cell():
    z = np.arange(49, dtype=np.float32).reshape(7, 7)
    pctl = terrain.elevation_percentile(z, 3)
    assert pctl[6, 6] == pytest.approx(1.0)  # highest cell: every neighbour is lower
    assert pctl[0, 0] == 0.0  # lowest cell
    peak = np.zeros((7, 7), np.float32)
    peak[3, 3] = 10
    assert terrain.elevation_percentile(peak, 3)[3, 3] == pytest.approx(1.0)


# --------------------------------------------------------------------------- routing


def test_flow_accumulation_on_a_known_funnel():
    routing = terrain.route_flow(funnel(), 100.0)
    cells = np.rint(routing.upstream_area_km2 / 0.01).astype(int)  # 100 m cells = 0.01 km²
    # side columns drain straight to the centre column, which carries everything south
    assert (cells[:, 0] == 1).all() and (cells[:, 4] == 1).all()
    assert (cells[:, 1] == 2).all() and (cells[:, 3] == 2).all()
    assert cells[:, 2].tolist() == [5, 10, 15, 20, 25, 30]


def test_depression_is_filled_and_drained():
    z = funnel()
    z[2, 2] = 90.0  # a pit below its outlet at 104 m
    routing = terrain.route_flow(z, 100.0)
    assert routing.conditioned_m[2, 2] == pytest.approx(104.0)
    assert routing.upstream_area_km2[-1, 2] == pytest.approx(0.30, rel=1e-5)


def test_filled_dem_matches_pyflwdir_and_the_network_has_no_loops():
    import pyflwdir

    rng = np.random.default_rng(7)
    z = rng.normal(100.0, 5.0, (50, 60)).astype(np.float32)  # rough: many pits and flats
    z[10:14, 20:30] = np.nan
    routing = terrain.route_flow(z, 30.0)
    reference, _ = pyflwdir.dem.fill_depressions(np.where(np.isnan(z), -9999.0, z).astype(np.float32),
                                                 nodata=-9999.0)
    valid = ~np.isnan(z)
    assert np.allclose(routing.conditioned_m[valid], reference[valid])
    assert (routing.conditioned_m[valid] >= z[valid]).all()
    assert routing.flwdir.isvalid
    # every valid cell drains somewhere: total area at outlets equals the valid area
    pits = routing.flwdir.idxs_pit
    assert routing.upstream_area_km2.ravel()[pits].sum() == pytest.approx(valid.sum() * 0.0009, rel=1e-4)


def test_flood_order_runs_downstream_first_and_areas_count_every_upstream_cell():
    rng = np.random.default_rng(11)
    z = rng.normal(100.0, 3.0, (40, 50)).astype(np.float32)  # pits and flats everywhere
    z[5:9, 30:36] = np.nan
    routing = terrain.route_flow(z, 100.0)
    flw = routing.flwdir
    position = np.full(z.size, -1)
    position[flw.idxs_seq] = np.arange(flw.idxs_seq.size)
    assert flw.idxs_seq.size == np.isfinite(z).sum()
    down = flw.idxs_ds[flw.idxs_seq]
    assert (position[down] <= position[flw.idxs_seq]).all(), "a cell's outlet side comes first"
    # brute force: walk every cell's path to its outlet and count the cells passed
    counts = np.zeros(z.size, int)
    for cell in flw.idxs_seq:
        while True:
            counts[cell] += 1
            if flw.idxs_ds[cell] == cell:
                break
            cell = flw.idxs_ds[cell]
    valid = np.isfinite(z).ravel()
    area = routing.upstream_area_km2.ravel()
    assert np.array_equal(np.rint(area[valid] / 0.01).astype(int), counts[valid])
    assert np.isnan(area[~valid]).all() and (flw.idxs_ds[~valid] == -1).all()


def test_a_filled_depression_drains_along_its_low_ground_to_the_spill_point():
    # a closed basin (rim 110 m, floor 95 m) spilling at one east edge cell (100 m); a
    # trench at 90 m runs from the spill point north, then west to the far corner
    z = np.full((11, 15), 95.0, np.float32)
    z[0, :], z[-1, :], z[:, 0], z[:, -1] = 110.0, 110.0, 110.0, 110.0
    z[5, 14] = 100.0
    trench = np.zeros(z.shape, bool)
    trench[1:6, 13] = True
    trench[1, 1:14] = True
    z[trench] = 90.0
    routing = terrain.route_flow(z, 100.0)
    assert np.allclose(routing.conditioned_m[1:-1, 1:-1], 100.0)  # all filled to the spill
    cols = z.shape[1]
    cell, path = 1 * cols + 1, []
    while routing.flwdir.idxs_ds[cell] != cell:
        cell = int(routing.flwdir.idxs_ds[cell])
        path.append(cell)
    assert path[-1] == 5 * cols + 14
    # the far end follows the trench (a breadth-first flood would cut across the floor)
    assert trench.ravel()[path[:-1]].all()
    # the rim drains inwards too (edge cells with a lower neighbour are no outlets)
    assert routing.upstream_area_km2[5, 14] == pytest.approx(0.01 * z.size, rel=1e-5)


def test_slope_matches_numpy_central_differences():
    rng = np.random.default_rng(3)
    z = rng.normal(200.0, 20.0, (30, 40)).astype(np.float32)
    z[10, 10] = np.nan
    dzdy, dzdx = np.gradient(z.astype(np.float64), 90.0)
    expected = 100.0 * np.hypot(dzdx, dzdy)
    slope = terrain.slope_percent(z, 90.0)
    assert np.array_equal(np.isnan(slope), np.isnan(expected))
    assert np.allclose(slope, expected, rtol=1e-5, equal_nan=True)


def test_stream_threshold_in_km2_and_stream_length():
    routing = terrain.route_flow(funnel(), 100.0)
    streams = terrain.extract_streams(routing.upstream_area_km2, 0.10)  # 10 cells
    assert streams[:, 2].tolist() == [False, True, True, True, True, True]
    assert streams.sum() == 5
    # four orthogonal steps of 100 m plus half a cell at the outlet
    assert terrain.stream_length_km(routing, streams) == pytest.approx(0.45)
    with pytest.raises(InvalidParameterError):
        terrain.extract_streams(routing.upstream_area_km2, 0.0)


def test_hand_is_height_above_the_channel_along_the_flow_path():
    z = funnel()
    routing = terrain.route_flow(z, 100.0)
    streams = np.zeros(z.shape, bool)
    streams[:, 2] = True
    hand = terrain.height_above_drainage(routing, streams)
    # side cells drain east/west to the stream cell of the same row
    assert np.allclose(hand[:, 1], 10.0) and np.allclose(hand[:, 3], 10.0)
    assert np.allclose(hand[:, 0], 20.0) and np.allclose(hand[:, 4], 20.0)
    assert (hand[:, 2] == 0).all()


def test_hand_is_nan_where_no_stream_is_reached():
    z = funnel()
    routing = terrain.route_flow(z, 100.0)
    streams = np.zeros(z.shape, bool)  # no stream at all
    assert np.isnan(terrain.height_above_drainage(routing, streams)).all()


def test_fill_voids_interpolates_a_hole_and_respects_the_mask():
    yy, xx = np.mgrid[0:40, 0:40].astype(np.float32)
    plane = 100 + 0.5 * xx + 0.2 * yy
    holed = plane.copy()
    holed[18:22, 18:22] = np.nan
    filled = terrain.fill_voids(holed)
    assert np.isfinite(filled).all()
    assert np.abs(filled[18:22, 18:22] - plane[18:22, 18:22]).max() < 1.0
    mask = np.ones(plane.shape, bool)
    mask[18:20, :] = False
    partly = terrain.fill_voids(holed, fill_mask=mask)
    assert np.isnan(partly[18:20, 18:22]).all() and np.isfinite(partly[20:22, 18:22]).all()


def test_fill_voids_by_window_gives_the_whole_grid_fill():
    from rasterio.fill import fillnodata

    rng = np.random.default_rng(5)
    z = (100 + np.cumsum(rng.normal(0, 1, (120, 150)), axis=1)).astype(np.float32)
    holed = z.copy()
    holed[10:13, 10:14] = np.nan
    holed[100:104, 130:133] = np.nan
    holed[60, 70] = np.nan
    mask = np.isnan(holed)
    mask[60, 70] = False  # a void not to fill
    windowed = terrain.fill_voids(holed, max_search_cells=20, fill_mask=mask)
    valid = ~np.isnan(holed)
    whole = fillnodata(np.where(valid, holed, 0), mask=valid.astype(np.uint8),
                       max_search_distance=20.0, smoothing_iterations=0)
    assert np.array_equal(windowed[mask], whole[mask])
    assert np.isnan(windowed[60, 70]) and np.array_equal(windowed[valid], holed[valid])


# --------------------------------------------------------------------------- classes


def test_classes_follow_height_above_channel():
    hand = np.array([[0.0, 0.5, 4.9, 5.1, 11.0, 29.0, 31.0]], np.float32)
    index = np.full(hand.shape, 2.0, np.float32)
    streams = np.zeros(hand.shape, bool)
    streams[0, 0] = True
    no_sieve = terrain.ValleyClassParameters(min_patch_cells=1, include_high_terrace=True)
    classes = terrain.classify_valley_bottoms(index, hand, streams, no_sieve)
    assert classes.tolist() == [[DepositClass.ACTIVE_CHANNEL, DepositClass.FLOODPLAIN,
                                 DepositClass.FLOODPLAIN, DepositClass.LOW_TERRACE,
                                 DepositClass.LOW_TERRACE, DepositClass.HIGH_TERRACE,
                                 DepositClass.NONE]]
    # without evidence of terrace gravel the high terrace is not a deposit (the default)
    default = terrain.classify_valley_bottoms(
        index, hand, streams, terrain.ValleyClassParameters(min_patch_cells=1))
    assert default[0, 5] == DepositClass.NONE and default[0, 4] == DepositClass.LOW_TERRACE
    not_valley = terrain.classify_valley_bottoms(np.zeros_like(index), hand, streams, no_sieve)
    assert not_valley[0, 0] == DepositClass.ACTIVE_CHANNEL  # streams are always channel
    assert (not_valley[0, 1:] == 0).all()
    masked = terrain.classify_valley_bottoms(index, hand, streams, no_sieve,
                                             mask=np.zeros(hand.shape, bool))
    assert (masked == 0).all()


def test_isolated_cells_are_sieved_but_streams_kept():
    index = np.zeros((9, 9), np.float32)
    index[1, 1] = 2.0              # one lonely valley cell
    index[5:8, 5] = 2.0            # a patch of three
    hand = np.full(index.shape, 2.0, np.float32)
    streams = np.zeros(index.shape, bool)
    streams[0, 8] = True           # a one-cell stream stays channel
    classes = terrain.classify_valley_bottoms(index, hand, streams)
    assert classes[1, 1] == DepositClass.NONE
    assert (classes[5:8, 5] == DepositClass.FLOODPLAIN).all()
    assert classes[0, 8] == DepositClass.ACTIVE_CHANNEL


def test_class_parameters_are_validated():
    with pytest.raises(ValidationError):
        terrain.ValleyClassParameters(floodplain_max_m=10, low_terrace_max_m=8)
    with pytest.raises(ValidationError):
        terrain.ValleyClassParameters(high_terrace_max_m=-1)
    with pytest.raises(ValidationError):
        terrain.MrvbfParameters(t_slope_pct=0)
    custom = terrain.ValleyClassParameters(active_channel_max_m=1.0, min_patch_cells=1)
    hand = np.array([[0.5]], np.float32)
    classes = terrain.classify_valley_bottoms(np.ones_like(hand), hand, np.zeros(hand.shape, bool), custom)
    assert classes[0, 0] == DepositClass.ACTIVE_CHANNEL


def test_whole_chain_on_a_v_valley_puts_deposits_on_the_floor_only():
    z, xx = v_valley()
    routing = terrain.route_flow(z, RES_M)
    streams = terrain.extract_streams(routing.upstream_area_km2, 1.0)
    hand = terrain.height_above_drainage(routing, streams)
    classes = terrain.classify_valley_bottoms(terrain.mrvbf(z, RES_M), hand, streams)
    slopes = np.abs(xx) > 900.0 + 3 * RES_M
    assert (classes[slopes] == 0).sum() / slopes.sum() > 0.99
    floor = (np.abs(xx) < 900.0 - RES_M) & (hand <= 12.0)  # below the high terrace
    floor[:10], floor[-10:] = False, False
    assert floor.sum() > 100 and (classes[floor] > 0).all()
    assert (classes[streams] == DepositClass.ACTIVE_CHANNEL).all()


def test_enclosed_voids_are_holes_in_the_data_not_the_land_beyond_it():
    z = np.full((20, 20), 100.0, dtype=np.float32)
    z[5:8, 5:8] = np.nan        # a void enclosed by data
    z[:, 15:] = np.nan          # beyond the tile: open to the grid's edge
    z[12:14, 10:12] = np.nan    # enclosed, but reaching outside ``within``
    within = np.ones_like(z, dtype=bool)
    within[12:14, 11] = False
    voids = terrain.enclosed_voids(z, within=within)
    assert voids[5:8, 5:8].all() and voids.sum() == 9
    assert terrain.enclosed_voids(z).sum() == 9 + 4


def test_placer_network_runs_downstream_of_a_source_only():
    """Source-connected streams: within the radius of a source and downstream of it,
    never upstream beyond the radius; valley cells follow the stream they drain to."""
    z, _ = v_valley()
    routing = terrain.route_flow(z, RES_M)
    streams = terrain.extract_streams(routing.upstream_area_km2, 1.0)
    rows = np.nonzero(streams.any(axis=1))[0]
    # the valley drains towards one end: find it from the upstream area along the stream
    area_by_row = np.nanmax(np.where(streams, routing.upstream_area_km2, np.nan), axis=1)
    down_is_high_row = area_by_row[rows[-1]] > area_by_row[rows[0]]
    mid = rows[len(rows) // 2]
    sources = np.zeros_like(streams)
    sources[mid, np.nonzero(streams[mid])[0][0]] = True
    params = terrain.PlacerParameters(source_radius_km=0.3, min_placer_area_km2=1.0)
    placer = terrain.source_connected_streams(routing, streams, sources, params)
    placer_rows = np.nonzero(placer.any(axis=1))[0]
    assert placer.sum() > 5 and (placer <= streams).all()
    reach = int(np.ceil(300 / RES_M))
    if down_is_high_row:
        assert placer_rows.min() >= mid - reach and placer_rows.max() == rows[-1]
    else:
        assert placer_rows.max() <= mid + reach and placer_rows.min() == rows[0]
    eligible = terrain.drains_to(routing, streams, placer)
    assert eligible[placer].all() and 0 < eligible.mean() < 1
    none = terrain.source_connected_streams(routing, streams, np.zeros_like(streams), params)
    assert not none.any()


def test_channel_width_follows_hydraulic_geometry_within_the_published_range():
    params = terrain.PlacerParameters()
    widths = params.channel_width_m(np.array([1.0, 25.0, 400.0, 2500.0, 1e5]))
    assert widths[0] == 10.0 and widths[-1] == 120.0  # Birim placers 10-120 m
    assert widths[2] == pytest.approx(2.2 * 20.0)  # W = a A^0.5
    assert np.all(np.diff(widths) >= 0)
