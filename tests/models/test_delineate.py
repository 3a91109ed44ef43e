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
