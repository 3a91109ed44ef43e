"""The delineation pipeline in the modes that need no terrain data."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import box

from footprint.catalogue import get_field
from footprint.errors import DataMissingError, InvalidParameterError, UnknownFieldError
from footprint.pipeline.delineate import choose_mode, delineate_field
from footprint.settings import Settings


@pytest.fixture
def empty_data(tmp_path):
    """Settings whose data directory holds nothing (no DEM, no rivers)."""
    (tmp_path / "data").mkdir()
    return Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", state_dir=tmp_path / "state")


def test_marange_uses_the_bundled_halo_polygon(tmp_path, empty_data):
    steps = []
    result = delineate_field("zw-marange", tmp_path / "out", settings=empty_data,
                             progress=lambda step, done, total: steps.append((step, done, total)))
    assert result.mode == "polygons"
    # the bundled polygon is the 65,000 ha halo circle (DOMAIN.md 5: 60,000-70,000 ha)
    area_ha = result.deposits["area_m2"].sum() / 1e4
    assert 60_000 <= area_ha <= 70_000
    assert area_ha == pytest.approx(math.pi * 14_384 ** 2 / 1e4, rel=0.01)
    assert result.deposits.crs.to_epsg() == 32736
    assert steps[-1][1] == steps[-1][2]  # progress ends complete
    layer = gpd.read_file(result.files["deposits"], layer="deposits")
    assert {"deposit_class", "area_m2", "mined_area_m2", "mode"} <= set(layer.columns)
    assert pyogrio.list_layers(result.files["deposits"])[0][0] == "deposits"
    summary = json.loads(result.files["summary"].read_text())
    assert summary["mode"] == "polygons" and summary["field_id"] == "zw-marange"
    assert summary["total_area_m2"] == pytest.approx(result.deposits["area_m2"].sum(), rel=1e-6)
    assert any(i["role"] == "deposit_polygons" and len(i["sha256"]) == 64 for i in summary["inputs"])
    assert "total" in summary["timings_s"] and summary["code_version"]


def test_uploaded_polygons_and_mined_ground_flow_through(tmp_path, empty_data):
    field = get_field("zw-marange")
    centre = field.aoi_projected().centroid
    deposit = box(centre.x - 1_000, centre.y - 1_000, centre.x + 1_000, centre.y + 1_000)
    pit = box(centre.x - 1_000, centre.y - 1_000, centre.x, centre.y)
    deposits = gpd.GeoDataFrame({"thickness_m": [2.0], "grade_ct_m3": [0.8]}, geometry=[deposit], crs=32736)
    mined = gpd.GeoDataFrame(geometry=[pit], crs=32736)
    path = tmp_path / "pits.gpkg"
    mined.to_file(path, layer="pits")
    result = delineate_field("zw-marange", None, mode="polygons", deposit_polygons=deposits,
                             mined_polygons=path, settings=empty_data)
    row = result.deposits.iloc[0]
    assert row["area_m2"] == pytest.approx(4e6)
    assert row["mined_area_m2"] == pytest.approx(1e6)
    assert row["remaining_area_m2"] == pytest.approx(3e6)
    assert row["thickness_m"] == 2.0 and row["grade_ct_m3"] == 0.8
    assert result.files == {}
    roles = {i["role"] for i in result.summary["inputs"]}
    assert roles == {"deposit_polygons", "mined_polygons"}


def test_a_mode_the_data_do_not_allow_is_refused(empty_data):
    with pytest.raises(DataMissingError):
        delineate_field("zw-marange", None, mode="terrain", settings=empty_data)
    with pytest.raises(DataMissingError):
        delineate_field("gh-birim", None, settings=empty_data)  # no DEM, no rivers
    with pytest.raises(InvalidParameterError):
        delineate_field("zw-marange", None, mode="lidar", settings=empty_data)
    with pytest.raises(DataMissingError):
        delineate_field("gh-birim", None, dem_paths=[empty_data.data_dir / "N06W001.hgt"],
                        settings=empty_data)
    with pytest.raises(UnknownFieldError):
        delineate_field("xx-nowhere", None, settings=empty_data)


def test_mode_preference_follows_the_catalogue():
    birim = get_field("gh-birim")
    assert choose_mode(birim, has_dem=True, has_rivers=True, has_polygons=False) == "terrain"
    assert choose_mode(birim, has_dem=False, has_rivers=True, has_polygons=False) == "rivers"
    assert choose_mode(birim, has_dem=True, has_rivers=True, has_polygons=False,
                       requested="rivers") == "rivers"
    assert choose_mode(birim, has_dem=False, has_rivers=False, has_polygons=True) == "polygons"
    seguela = get_field("ci-seguela")  # rivers until a DEM is uploaded
    assert choose_mode(seguela, has_dem=True, has_rivers=True, has_polygons=False) == "rivers"
    assert choose_mode(seguela, has_dem=True, has_rivers=True, has_polygons=False,
                       dem_uploaded=True) == "terrain"
    with pytest.raises(DataMissingError):
        choose_mode(seguela, has_dem=False, has_rivers=False, has_polygons=False)


def test_an_uploaded_tile_alone_gives_no_terrain_beyond_its_edge(tmp_path, empty_data):
    """A DEM smaller than the AOI (ci-seguela has no bundled tiles): cells beyond the
    upload stay no data, nothing is extrapolated, and deposits stop at its edge."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    step = 1 / 1200
    rows, cols = np.mgrid[0:241, 0:241]
    # a valley draining south along column 120, 2 m/cell sides, 0.5 m/cell along it
    heights = (300 + 2.0 * np.abs(cols - 120) + 0.5 * (240 - rows)).astype("float32")
    west, north = -6.25, 7.75
    upload = tmp_path / "seguela.tif"
    with rasterio.open(upload, "w", driver="GTiff", width=241, height=241, count=1,
                       dtype="float32", crs="EPSG:4326", nodata=-9999.0,
                       transform=from_origin(west, north, step, step)) as dst:
        dst.write(heights, 1)
    result = delineate_field("ci-seguela", None, dem_uploads=[("upload:1", upload)],
                             settings=empty_data)
    assert result.mode == "terrain"
    coverage = result.summary["dem_coverage"]
    assert 0.05 < coverage["share_of_aoi_by_source"]["upload:1"] < 0.3
    assert coverage["share_of_aoi_without_data"] > 0.7
    assert result.summary["grid"]["void_cells_filled"] == 0
    tile_utm = gpd.GeoSeries([box(west, north - 0.2, west + 0.2, north)], crs=4326).to_crs(32629)
    # the tile spans 241 whole pixels; an edge cell of the 90 m grid reaches 45 m further
    outside = result.deposits.geometry.difference(tile_utm.buffer(200).iloc[0])
    assert len(result.deposits) and outside.area.sum() == pytest.approx(0, abs=1.0)
    elevation = result.rasters["elevation"].data
    assert np.isnan(elevation).mean() > 0.6


def test_high_terrace_is_enabled_only_by_evidence_lying_in_it():
    import numpy as np
    from affine import Affine
    from shapely.geometry import Point

    from footprint import terrain
    from footprint.io.raster import Grid
    from footprint.pipeline.delineate_terrain import _with_terrace_evidence

    grid = Grid(np.zeros((10, 10), np.float32), Affine(90, 0, 0, 0, -90, 900), "EPSG:32630")
    hand = np.tile(np.arange(10, dtype=np.float32) * 4.0, (10, 1))  # 0..36 m across columns
    mrvbf = np.ones_like(hand)
    params = terrain.ValleyClassParameters()

    def sample(x_m, kind="bulk_sample"):
        return gpd.GeoDataFrame({"kind": [kind], "name": ["s"]},
                                geometry=[Point(x_m, 450)], crs=32630)

    on, cells = _with_terrace_evidence(params, sample(5 * 90 + 45), grid, hand, mrvbf)  # 20 m
    assert on.include_high_terrace and cells == 1
    low, _ = _with_terrace_evidence(params, sample(1 * 90 + 45), grid, hand, mrvbf)  # 4 m
    assert not low.include_high_terrace
    usgs, _ = _with_terrace_evidence(params, sample(5 * 90 + 45, "usgs_deposits"), grid, hand, mrvbf)
    assert not usgs.include_high_terrace  # a mine point is a source, not terrace evidence
