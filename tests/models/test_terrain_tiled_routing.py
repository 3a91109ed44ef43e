"""The tiled routing chain (:func:`footprint.terrain.route_flow_by_tiles`): fill, directions,
upstream areas, HAND, "drains to" and the source-connected streams are the same for every
tiling, and each equals an independent reference on the same directions.

References: :func:`footprint.terrain.route_flow` for the filled DEM and the float32 area
arithmetic; a brute-force walk down every cell's D8 path for the counts, HAND and "drains
to"; the whole-grid :class:`FlowRouting` kernels (``source_connected_streams``,
``stream_length_km``) given the tiled directions.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from footprint import terrain
from footprint.errors import InvalidParameterError
from footprint.terrain.flood import pit_indices
from footprint.terrain.tiled_routing import TiledRouting

RES_M = 90.0
CELL_KM2 = np.float32(RES_M * RES_M / 1e6)


def terrain_grid(seed: int, shape=(41, 37)) -> np.ndarray:
    """Whole-metre relief over a tilt (pits, flats, ties), with a nodata hole."""
    rng = np.random.default_rng(seed)
    z = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0) * 30
    z += np.linspace(40, 0, shape[1])[None, :] + rng.normal(0, 0.7, shape)
    z = np.round(z).astype(np.float32)
    z[18:21, 10:13] = np.nan
    return z


def walk(idxs_ds: np.ndarray, cell: int):
    """The cells of ``cell``'s D8 path, itself first, down to its outlet."""
    while True:
        yield cell
        down = int(idxs_ds[cell])
        if down == cell:
            return
        cell = down


@pytest.fixture(scope="module", params=[0, 1])
def routed(request):
    z = terrain_grid(request.param)
    by_tiling = {tiles: terrain.route_flow_by_tiles(z, RES_M, tile_cells=tiles)
                 for tiles in (5, 12, 100)}
    return z, by_tiling


def test_every_tiling_gives_the_same_network(routed):
    _, by_tiling = routed
    reference = by_tiling[100]  # one tile
    for routing in by_tiling.values():
        assert np.array_equal(routing.conditioned_m, reference.conditioned_m, equal_nan=True)
        assert np.array_equal(routing.idxs_ds, reference.idxs_ds)
        assert np.array_equal(routing.upstream_area_km2, reference.upstream_area_km2,
                              equal_nan=True)


def test_fill_and_areas_match_the_whole_grid_and_a_path_walk(routed):
    z, by_tiling = routed
    routing = by_tiling[5]
    whole = terrain.route_flow(z, RES_M)
    assert np.array_equal(routing.conditioned_m, whole.conditioned_m, equal_nan=True)
    idxs_ds = routing.idxs_ds
    counts = np.zeros(idxs_ds.size, dtype=np.int64)
    for cell in np.flatnonzero(idxs_ds >= 0):
        for down in walk(idxs_ds, int(cell)):
            counts[down] += 1
    expected = np.where(counts > 0, counts.astype(np.float32) * CELL_KM2, np.float32(np.nan))
    assert np.array_equal(routing.upstream_area_km2.ravel(), expected, equal_nan=True)


def test_hand_and_drains_to_follow_each_path_to_its_first_stream(routed):
    _, by_tiling = routed
    routing = by_tiling[5]
    streams = terrain.extract_streams(routing.upstream_area_km2, 0.1)
    targets = streams & (np.arange(streams.size).reshape(streams.shape) % 3 == 0)
    hand = terrain.height_above_drainage(routing, streams)
    drains = terrain.drains_to(routing, streams, targets)
    filled, flat_streams = routing.conditioned_m.ravel(), streams.ravel()
    expected_hand = np.full(filled.size, np.nan, dtype=np.float32)
    expected_drains = np.zeros(filled.size, dtype=bool)
    for cell in np.flatnonzero(routing.idxs_ds >= 0):
        first = next((c for c in walk(routing.idxs_ds, int(cell)) if flat_streams[c]), None)
        if first is not None:
            expected_hand[cell] = max(filled[cell] - filled[first], np.float32(0))
            expected_drains[cell] = targets.ravel()[first]
    assert np.isfinite(expected_hand).sum() > 100 and expected_drains.any()
    assert np.array_equal(hand.ravel(), expected_hand, equal_nan=True)
    assert np.array_equal(drains.ravel(), expected_drains)
    for other in by_tiling.values():
        assert np.array_equal(terrain.height_above_drainage(other, streams), hand,
                              equal_nan=True)


def test_hand_and_drains_to_of_one_stream_grid_share_one_tiled_pass(routed, monkeypatch):
    from footprint.terrain import tiled_routing

    z, _ = routed
    routing = terrain.route_flow_by_tiles(z, RES_M, tile_cells=12)
    calls, original = [], tiled_routing.first_downstream

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(tiled_routing, "first_downstream", counted)
    streams = terrain.extract_streams(routing.upstream_area_km2, 0.1)
    hand = terrain.height_above_drainage(routing, streams)
    terrain.drains_to(routing, streams, streams)
    assert len(calls) == 1
    streams[np.flatnonzero(streams.ravel())[0] // streams.shape[1], :] = False  # changed
    other = terrain.height_above_drainage(routing, streams)
    assert len(calls) == 2 and not np.array_equal(other, hand, equal_nan=True)


def test_source_connected_streams_and_lengths_equal_the_whole_grid_kernels(routed):
    """The placer rules read only ``idxs_ds`` and the areas: on the tiled directions they
    give what the whole-grid FlowRouting built from the same directions gives."""
    import pyflwdir

    _, by_tiling = routed
    tiled = by_tiling[12]
    idxs_ds = tiled.idxs_ds.astype(np.int32)
    seq = _downstream_first(idxs_ds)
    flw = pyflwdir.FlwdirRaster(idxs_ds, tiled.shape, "d8", idxs_pit=pit_indices(idxs_ds, seq),
                                idxs_seq=seq, nnodes=seq.size, latlon=False)
    whole = terrain.FlowRouting(np.asarray(tiled.conditioned_m), flw,
                                np.asarray(tiled.upstream_area_km2), RES_M)
    streams = terrain.extract_streams(tiled.upstream_area_km2, 0.2)
    sources = np.zeros(tiled.shape, dtype=bool)
    sources[5, 30] = sources[33, 20] = True
    params = terrain.PlacerParameters(min_placer_area_km2=0.2, source_radius_km=0.5,
                                      max_transport_km=2.0)
    placer = terrain.source_connected_streams(tiled, streams, sources, params)
    assert placer.any() and not placer.all()
    assert np.array_equal(placer, terrain.source_connected_streams(whole, streams, sources,
                                                                   params))
    assert terrain.stream_length_km(tiled, streams) == terrain.stream_length_km(whole, streams)
    assert np.array_equal(terrain.height_above_drainage(tiled, streams),
                          terrain.height_above_drainage(whole, streams), equal_nan=True)
    assert np.array_equal(terrain.drains_to(tiled, streams, placer),
                          terrain.drains_to(whole, streams, placer))


def _downstream_first(idxs_ds: np.ndarray) -> np.ndarray:
    """Valid cells ordered so that each cell's downstream cell comes before it (by the
    length of the path to the outlet)."""
    valid = np.flatnonzero(idxs_ds >= 0)
    depth = {int(c): sum(1 for _ in walk(idxs_ds, int(c))) for c in valid}
    return np.array(sorted(valid, key=lambda c: depth[int(c)]), dtype=idxs_ds.dtype)


def test_a_tiled_routing_reports_its_shape_and_refuses_a_bad_cell_size():
    z = terrain_grid(3, (9, 11))
    routing = terrain.route_flow_by_tiles(z, RES_M, tile_cells=4)
    assert isinstance(routing, TiledRouting) and routing.shape == (9, 11)
    with pytest.raises(InvalidParameterError, match="cell size"):
        terrain.route_flow_by_tiles(z, 0.0, tile_cells=4)
