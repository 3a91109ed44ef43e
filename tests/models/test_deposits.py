"""Deposit polygons: polygonisation, river buffers, mapped polygons, mined ground."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from pydantic import ValidationError
from shapely.geometry import LineString, Point, box

from footprint import deposits as dep
from footprint.errors import InvalidLayerError

UTM = 32630
CELL_M = 90.0
TRANSFORM = Affine(CELL_M, 0, 500_000, 0, -CELL_M, 700_000)


def test_polygonize_gives_one_row_per_patch_with_cell_areas():
    classes = np.zeros((12, 12), np.uint8)
    classes[1:4, 1:9] = 1          # 24 cells of active channel
    classes[6:9, 1:3] = 3          # 6 cells of low terrace
    classes[6:8, 8:11] = 3         # another patch of 6
    frame = dep.polygonize_classes(classes, TRANSFORM, UTM)
    assert list(frame.columns[:7]) == dep.DEPOSIT_COLUMNS[:-1]
    assert sorted(frame["deposit_class"]) == ["active_channel", "low_terrace", "low_terrace"]
    table = dep.area_by_class(frame)
    assert table.loc["active_channel", "area_m2"] == pytest.approx(24 * CELL_M ** 2)
    assert table.loc["low_terrace", "area_m2"] == pytest.approx(12 * CELL_M ** 2)
    assert table.loc["low_terrace", "n_polygons"] == 2
    assert (frame["mode"] == "terrain").all()


def test_polygonize_clips_to_the_aoi_and_keeps_holes():
    classes = np.ones((10, 10), np.uint8)
    classes[4:6, 4:6] = 0  # a hole of 4 cells
    frame = dep.polygonize_classes(classes, TRANSFORM, UTM)
    assert frame["area_m2"].sum() == pytest.approx(96 * CELL_M ** 2)
    left_half = box(500_000, 700_000 - 10 * CELL_M, 500_000 + 5 * CELL_M, 700_000)
    clipped = dep.polygonize_classes(classes, TRANSFORM, UTM, aoi=left_half)
    assert clipped["area_m2"].sum() == pytest.approx(48 * CELL_M ** 2)


def test_polygonize_refuses_a_geographic_crs():
    with pytest.raises(InvalidLayerError):
        dep.polygonize_classes(np.ones((2, 2), np.uint8), TRANSFORM, 4326)


def _rivers(levels, lines):
    return gpd.GeoDataFrame({"gmt_level": levels}, geometry=lines, crs=UTM)


def test_river_buffer_width_follows_level_and_quantile():
    line = LineString([(0, 0), (10_000, 0)])
    aoi = box(-5_000, -5_000, 15_000, 5_000)
    rivers = _rivers([4], [line])
    for quantile, width_m in ((0.0, 10.0), (1.0, 120.0), (0.5, 65.0)):
        params = dep.RiverBufferParameters(width_quantile=quantile)
        frame = dep.buffer_rivers(rivers, aoi, UTM, params)
        expected = 10_000 * width_m + math.pi * (width_m / 2) ** 2  # belt plus round ends
        assert frame["area_m2"].sum() == pytest.approx(expected, rel=0.01)
        assert frame["width_m"].iloc[0] == pytest.approx(width_m)
        assert frame["river_length_m"].iloc[0] == pytest.approx(10_000)
        assert (frame["mode"] == "rivers").all()


def test_river_buffers_are_clipped_and_canals_left_out():
    line = LineString([(0, 0), (10_000, 0)])
    canal = LineString([(0, 2_000), (10_000, 2_000)])
    aoi = box(2_000, -1_000, 6_000, 3_000)  # 4 km of each line inside
    frame = dep.buffer_rivers(_rivers([4, 9], [line, canal]), aoi, UTM,
                              dep.RiverBufferParameters(width_quantile=1.0))
    assert frame["river_level"].tolist() == [4]
    assert frame["area_m2"].sum() == pytest.approx(4_000 * 120.0, rel=1e-6)
    assert frame.geometry.within(aoi.buffer(1e-6)).all()


def test_crossing_river_belts_do_not_count_ground_twice():
    main = LineString([(0, 0), (10_000, 0)])
    tributary = LineString([(5_000, -3_000), (5_000, 3_000)])
    aoi = box(-1_000, -5_000, 11_000, 5_000)
    frame = dep.buffer_rivers(_rivers([1, 4], [main, tributary]), aoi, UTM)
    union_area = frame.geometry.union_all().area
    assert frame["area_m2"].sum() == pytest.approx(union_area, rel=1e-9)
    assert frame.set_index("river_level").loc[1, "width_m"] > frame.set_index("river_level").loc[4, "width_m"]


def test_river_buffer_accepts_natural_earth_scalerank_and_rejects_unranked_lines():
    lines = gpd.GeoDataFrame({"scalerank": [5]}, geometry=[LineString([(0, 0), (1_000, 0)])], crs=UTM)
    frame = dep.buffer_rivers(lines, box(-2_000, -2_000, 2_000, 2_000), UTM)
    assert len(frame) == 1 and frame["area_m2"].iloc[0] > 1_000 * 100
    unranked = gpd.GeoDataFrame({"name": ["x"]}, geometry=[LineString([(0, 0), (1, 0)])], crs=UTM)
    with pytest.raises(InvalidLayerError):
        dep.buffer_rivers(unranked, box(-2, -2, 2, 2), UTM)


def test_width_ranges_are_validated():
    with pytest.raises(ValidationError):
        dep.WidthRange(low_m=120, high_m=10)
    with pytest.raises(ValidationError):
        dep.RiverBufferParameters(width_quantile=1.5)
    birim = dep.RiverBufferParameters().gmt_level_widths_m[4]
    assert (birim.low_m, birim.high_m) == (10, 120)  # the published Birim range


def test_mapped_polygons_are_reprojected_clipped_and_keep_attributes():
    # a 0.01 x 0.01 degree square near Akwatia, in lon/lat
    square = box(-0.83, 6.01, -0.82, 6.02)
    frame = gpd.GeoDataFrame({"thickness_m": [0.6], "grade_ct_m3": [2.5]}, geometry=[square], crs=4326)
    aoi_utm = gpd.GeoSeries([square], crs=4326).to_crs(UTM).iloc[0].buffer(10_000)
    out = dep.deposits_from_polygons(frame, aoi_utm, UTM)
    assert out["deposit_class"].tolist() == ["mapped_deposit"]
    assert out["area_m2"].iloc[0] == pytest.approx(1105.7 * 1106.3, rel=0.01)  # ~1.1 km x 1.1 km
    assert out["thickness_m"].iloc[0] == 0.6 and out["grade_ct_m3"].iloc[0] == 2.5
    assert (out["mode"] == "polygons").all()
    half = out.geometry.iloc[0].centroid.buffer(10_000).intersection(
        box(*out.total_bounds[:2], out.geometry.iloc[0].centroid.x, out.total_bounds[3]))
    clipped = dep.deposits_from_polygons(frame, half, UTM)
    assert clipped["area_m2"].iloc[0] == pytest.approx(out["area_m2"].iloc[0] / 2, rel=0.01)


def test_mapped_polygons_are_validated():
    square = box(0, 0, 100, 100)
    aoi = box(-1_000, -1_000, 1_000, 1_000)
    with pytest.raises(InvalidLayerError):
        dep.deposits_from_polygons(gpd.GeoDataFrame({"thickness_m": [-1.0]}, geometry=[square], crs=UTM), aoi, UTM)
    with pytest.raises(InvalidLayerError):
        dep.deposits_from_polygons(gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=UTM), aoi, UTM)
    with pytest.raises(InvalidLayerError):
        dep.deposits_from_polygons(gpd.GeoDataFrame(geometry=[square]), aoi, UTM)


def test_mined_ground_is_subtracted_per_polygon_without_double_counting():
    deposits = gpd.GeoDataFrame({"deposit_class": ["floodplain", "low_terrace"]},
                                geometry=[box(0, 0, 1_000, 1_000), box(2_000, 0, 3_000, 1_000)], crs=UTM)
    deposits = dep.deposits_from_polygons(deposits, box(-10_000, -10_000, 10_000, 10_000), UTM)
    # two overlapping pits in the floodplain (union 300 m x 100 m), one half outside the terrace
    mined = gpd.GeoDataFrame(geometry=[box(0, 0, 200, 100), box(100, 0, 300, 100),
                                       box(2_900, 0, 3_100, 100)], crs=UTM)
    out = dep.subtract_mined(deposits, mined)
    by_class = out.set_index("deposit_class")
    assert by_class.loc["floodplain", "mined_area_m2"] == pytest.approx(30_000)
    assert by_class.loc["low_terrace", "mined_area_m2"] == pytest.approx(10_000)
    assert (out["remaining_area_m2"] == out["area_m2"] - out["mined_area_m2"]).all()
    table = dep.area_by_class(out)
    assert table["mined_area_m2"].sum() == pytest.approx(40_000)
    assert table["remaining_area_m2"].sum() == pytest.approx(2_000_000 - 40_000)
    untouched = dep.subtract_mined(deposits, None)
    assert (untouched["mined_area_m2"] == 0).all()


def test_mined_layer_of_lines_is_refused():
    deposits = dep.deposits_from_polygons(
        gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10)], crs=UTM), box(-20, -20, 20, 20), UTM)
    with pytest.raises(InvalidLayerError):
        dep.subtract_mined(deposits, gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])], crs=UTM))


def test_polygons_traced_from_cells_touching_at_corners_are_valid_and_keep_their_area():
    # 8-connected patch whose outline touches itself at two cell corners
    classes = np.array([[1, 1, 0],
                        [1, 0, 1],
                        [0, 1, 1]], dtype=np.uint8)
    transform = Affine(90.0, 0, 500_000.0, 0, -90.0, 700_000.0)
    frame = dep.polygonize_classes(classes, transform, "EPSG:32630")
    assert frame.geometry.is_valid.all()
    assert frame["area_m2"].sum() == pytest.approx(6 * 90.0 * 90.0)


def test_channel_belts_have_their_width_and_are_cut_out_of_the_floodplain():
    from shapely.geometry import box as _box

    from footprint.deposits import channel_belts, with_channel

    x0 = np.arange(0.0, 900.0, 90.0)
    y = np.zeros_like(x0)
    belts = channel_belts(x0, y, x0 + 90.0, y, np.full(x0.size, 20.0), 32630)
    assert len(belts) == 1 and belts.iloc[0]["deposit_class"] == "active_channel"
    # 900 m of centre line, 20 m wide (round ends add a little)
    assert 900 * 20 <= belts["area_m2"].sum() <= 900 * 20 + 20 ** 2
    floodplain = gpd.GeoDataFrame({"deposit_class": ["floodplain"], "mode": ["terrain"]},
                                  geometry=[_box(-45, -200, 945, 200)], crs=32630)
    floodplain["area_m2"] = floodplain.area
    for column in ("mined_area_m2", "remaining_area_m2", "thickness_m", "grade_ct_m3"):
        floodplain[column] = 0.0
    both = with_channel(belts, floodplain)
    total = both["area_m2"].sum()
    assert total == pytest.approx(floodplain.area.sum() + belts.area.sum()
                                  - belts.intersection(floodplain.geometry.iloc[0]).area.sum())
    flood = both[both["deposit_class"] == "floodplain"].geometry.iloc[0]
    assert flood.intersection(belts.geometry.iloc[0]).area < 1e-6
